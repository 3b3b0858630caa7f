"""Train the learned chooser from pipeline runs' records and their labels (`make train`).

    python -m pipeline.train_chooser --records DEV_OUT/records --labels ../shared/data/dev/labels.csv \
        [--records MIX_OUT/records --labels ../shared/data/mix/labels.csv] \
        [--out transforms/data/chooser.json] [--folds 5] [--repeats 4]

Each --records folder pairs with the --labels file given in the same place. For every labelled
row it recomputes the candidates from the recorded OCR words (so a change to the features needs
no new OCR run), marks the allowed candidates that match the label (either side of an 'a | b'
label), and fits scikit-learn's GradientBoostingClassifier on them (exported through its public
tree API; see export). Rows whose label is empty (the value is not printed: mix/) give only wrong
candidates: they teach the model when nothing on the image is the answer.

Each set's labels hold one of two truths (--truth, or truth_of_labels): what the catalogue lists
(dev/) or what the picture prints (mix/). The chooser abstains (predicts nothing) when its best
candidate's probability is below a threshold: a wrong value and a blank cost the same under the
challenge's F1 when a value is labelled, but a blank is right where printed truth says the value
is not printed. The threshold is the one with the best mean over the truths of their
mix-weighted F1 (rows weighted to the official test set's entity mix) on the out-of-fold
probabilities; the dimensions never abstain (see best_thresholds).

Before fitting on all rows it reports F1 with folds by image (no image's rows are both trained
on and scored; each fold's threshold is picked on the other folds' rows), per set and on all
sets together, plain and mix-weighted, for the learned chooser and for the rule chooser on the
same candidates: that cross-validated figure, not the fit on all rows, is what the model is
expected to do on images it has not seen. `--repeats N` adds N cross-validations with images
dealt to folds at random: on some hundred rows one split's figure moves by about 0.005. The 95%
intervals it prints (`--intervals`, resamples of the images) say how far the figures could move
on other images like these: on dev + mix about +-0.03 for the F1, +-0.13 for depth's.

It also fits the confidence calibration (transforms/logic/confidence.py): per truth and per entity
family, a Platt scaling of the out-of-fold best scores (and whether the chosen value is printed
in another unit too) to whether the chosen value was right, and reports its cross-validated
calibration and operating points (each fold calibrated on the other folds' rows, each row for its
own truth), per set and together, plain and mix-weighted. `--unseen_groups` replays the whole
training on some product groups and scores the rest (unseen_groups): the check that a confidence
holds on images unlike those it was calibrated on.
"""
import argparse
import csv
import json
import os
import sys
from typing import NamedTuple

import numpy as np

from pipeline.arguments import StrictParser
from pipeline.evaluate import (_same_numeric, bootstrap_intervals, confidence_result, confidence_targets, evaluate,
                               format_confidence, format_intervals, format_result, read_labels)
from pipeline.summary import read_records
from transforms.logic.chooser import CHOOSER_PATH, TreeModel, choose, threshold_for
from transforms.logic.confidence import (DEFAULT_TRUTH, FAMILIES, TRUTHS, chosen_position, chosen_twin, confidence_of,
                                   family_of, logit)
from transforms.logic.features import DIMENSIONS, FEATURES, find_candidates
from transforms.logic.priors import load_priors
from transforms.logic.units import format_prediction
from transforms.records import OcrWord

# On dev + mix with PP-OCRv6's records, the mix-weighted F1 with folds by image (mean of the
# GroupKFold split and 3 random deals, before axis_evidence): 100 trees with leaves of at least
# 40 candidates 0.790, of 20 0.792, of 10 0.785; 200 trees with leaves of 20 0.803 (150: 0.797,
# 300: 0.799), of 30 0.798; depth 4 0.800 with 100 trees, 0.804 with 200. Deals differ by up to
# 0.025, so only the step to 200 trees with leaves of 20 is taken as a gain: the dimensions' few
# dozen rows each need the smaller leaves. Weighting rows by their weight in the mix-weighted
# F1, or mix/'s rows 2 or 4 times, moved it by less than a deal's spread and is not used.
# Those figures are HistGradientBoostingClassifier's (with l2_regularization=1.0), whose trees can
# only be read through private attributes. GradientBoostingClassifier, with the same depth, rounds,
# learning rate and leaf size and documented trees (estimators_[i, 0].tree_), took its place: on
# the records of dev + mix, the same mean of 4 splits gave 0.8035 mix-weighted and 0.8180 plain F1
# (HistGradientBoosting: 0.8004 and 0.8145).
PARAMETERS = dict(max_depth=3, n_estimators=200, learning_rate=0.05, min_samples_leaf=20, random_state=0)
# abstention thresholds tried: a best candidate below the chosen one gives a blank prediction
THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.0, 0.61, 0.02))
_COLUMNS = ['index', 'image_link', 'group_id', 'entity_name', 'image_width', 'image_height', 'ocr_words']


def labelled_candidates(records_dir: str, labels: list, priors, name: str = '') -> list:
    """[(label row, image link, [Scored])] for every labelled row found in the records. With a
    name, each label's index becomes 'name:index', so rows of several sets never collide."""
    table = read_records(records_dir, _COLUMNS).to_pylist()
    by_index = {record['index']: record for record in table}
    rows = []
    for label in labels:
        record = by_index.get(label['index'])
        if record is None:
            continue
        words = [OcrWord(**word) for word in record['ocr_words'] or ()]
        scored = find_candidates(words, record['entity_name'], record['group_id'],
                                 record['image_width'], record['image_height'], priors)
        if name:
            label = dict(label, index=f'{name}:{label["index"]}', set=name)
        rows.append((label, record['image_link'], scored))
    return rows


def training_matrix(rows):
    """Features, right-or-wrong and row number of every allowed candidate."""
    features, right, row_of = [], [], []
    for number, (label, _, scored) in enumerate(rows):
        for item in scored:
            if item.candidate.allowed:
                c = item.candidate
                features.append(item.features)
                right.append(_same_numeric(format_prediction(c.value, c.unit), label['entity_value']))
                row_of.append(number)
    return np.array(features, dtype=float).reshape(-1, len(FEATURES)), np.array(right), np.array(row_of)


def fit(features, right):
    """Gradient-boosted trees over the candidates; where they are all right or all wrong (a
    tiny set's fold), which GradientBoostingClassifier refuses to fit, just the share right."""
    if len(np.unique(right)) < 2:
        return float(np.mean(right)) if len(right) else 0.0
    from sklearn.ensemble import GradientBoostingClassifier
    return GradientBoostingClassifier(**PARAMETERS).fit(features, right)


# Platt scaling: nearly unregularised (a two-parameter fit), and only for a family with this many rows
CALIBRATION_C = 10.0
CALIBRATION_MIN_ROWS = 20


def fit_calibration(labels: list, scores: dict) -> dict:
    """{'method': 'platt', 'truths': {truth: {'families': ..., 'rows': n}}}: the Platt curves of
    fit_families fitted apart on the rows of each truth (a label's 'truth', see read_sets), since
    the same score is right far more often on printed truth than on the catalogue's
    (transforms/logic/confidence.py). A truth with no rows here gets the curves of all rows."""
    truths = {}
    for truth in TRUTHS:
        own = [label for label in labels if label.get('truth', DEFAULT_TRUTH) == truth]
        truths[truth] = {'families': fit_families(own or labels, scores), 'rows': len(own)}
    return {'method': 'platt', 'truths': truths}


def fit_families(labels: list, scores: dict) -> dict:
    """{family: {'slope', 'twin', 'intercept', 'rows'}}: for each family of
    transforms.logic.confidence.FAMILIES, a logistic regression of whether the row's chosen value is
    right on the logit of its best score and on whether it is printed in another unit too
    (scores: index -> Chosen), fitted on the rows with a prediction (before abstention: more rows,
    the same curve). A family with too few rows, or rows all right or all wrong, is left out and
    falls back to '*' ('*' then fits on every row; the identity if even that cannot be fitted)."""
    from sklearn.linear_model import LogisticRegression
    by_family = {}
    for label in labels:
        entity, score, prediction, twin = scores[label['index']]
        if prediction:
            right = _same_numeric(prediction, label['entity_value'])
            by_family.setdefault(family_of(entity), []).append(((logit(score), float(twin)), right))
    every = [item for items in by_family.values() for item in items]
    families = {}
    for family in FAMILIES:
        items = by_family.get(family, [])
        if family == '*' and not _fittable(items):
            items = every
        if _fittable(items):
            fitted = LogisticRegression(C=CALIBRATION_C).fit([x for x, _ in items], [r for _, r in items])
            slope, twin = (round(float(c), 6) for c in fitted.coef_[0])
            families[family] = {'slope': slope, 'twin': twin, 'intercept': round(float(fitted.intercept_[0]), 6),
                                'rows': len(items)}
    families.setdefault('*', {'slope': 1.0, 'twin': 0.0, 'intercept': 0.0, 'rows': 0})
    return families


def _fittable(items) -> bool:
    return len(items) >= CALIBRATION_MIN_ROWS and 0 < sum(r for _, r in items) < len(items)


def export(model, abstain_below: dict = None, usual_value_score: float = 0.0, calibration: dict = None) -> dict:
    """The fitted classifier as plain JSON for transforms.logic.chooser.TreeModel, through scikit-learn's
    public API only: each boosting round's regression tree (estimators_[i, 0].tree_, leaf values
    scaled by the learning rate) and the baseline, what decision_function adds to the trees. A
    share right alone (see fit) becomes a model without trees."""
    name = type(model).__name__
    if isinstance(model, float):
        name, trees, baseline = 'share right', [], logit(model)
    else:
        rounds = model.estimators_[:, 0]  # one regression tree per boosting round (binary: one column)
        trees = [_export_tree(estimator.tree_, model.learning_rate) for estimator in rounds]
        origin = np.zeros((1, model.n_features_in_))
        baseline = model.decision_function(origin)[0] - sum(
            model.learning_rate * estimator.predict(origin)[0] for estimator in rounds)
    return {'model': name, 'parameters': PARAMETERS, 'features': list(FEATURES),
            'abstain_below': abstain_below or {'*': 0.0}, 'usual_value_score': usual_value_score,
            'calibration': calibration, 'baseline': float(baseline), 'trees': trees}


def _export_tree(tree, scale: float) -> dict:
    """One scikit-learn Tree as TreeModel's lists: a node goes left when x <= its threshold."""
    leaf = tree.children_left == -1  # sklearn.tree._tree.TREE_LEAF
    return {'feature': tree.feature.tolist(), 'threshold': tree.threshold.tolist(),
            'left': tree.children_left.tolist(), 'right': tree.children_right.tolist(), 'leaf': leaf.tolist(),
            'missing_left': tree.missing_go_to_left.astype(bool).tolist(),
            'value': (tree.value[:, 0, 0] * scale).tolist()}


class Chosen(NamedTuple):
    """What a chooser made of one row, before any abstention."""
    entity: str
    score: float        # the best candidate's
    prediction: str
    twin: bool = False  # the chosen value is printed in another unit too (transforms/logic/confidence.py)


def chosen(rows, model, priors) -> dict:
    """index -> Chosen with the given TreeModel (None: the rule chooser)."""
    result = {}
    for label, _, scored in rows:
        prediction, candidates = choose(scored, label['entity_name'], label['group_id'], priors, model,
                                        abstain=False)
        position = chosen_position(candidates, prediction)  # the usual value only when alone
        score = candidates[position].score if position is not None else 0.0
        result[label['index']] = Chosen(label['entity_name'], score, prediction, chosen_twin(position, scored))
    return result


def abstained(scores: dict, thresholds: dict) -> dict:
    """index -> prediction, blank where the best score is below its entity's threshold."""
    return {index: c.prediction if c.score >= threshold_for(thresholds, c.entity) else ''
            for index, c in scores.items()}


def predictions(rows, model, priors) -> dict:
    """index -> prediction as the pipeline makes it (the rule chooser never abstains)."""
    scores = chosen(rows, model, priors)
    return abstained(scores, model.abstain_below) if model else {i: c.prediction for i, c in scores.items()}


def best_thresholds(labels: list, scores: dict) -> dict:
    """The abstention thresholds: one for every entity ('*'), the one with the highest mean over
    the truths of their mix-weighted F1 (each truth's rows scored alone; the lowest threshold on
    a tie), and none for the dimensions.

    On the catalogue's truth a blank never beats a guess (its labels always hold a value, and a
    wrong value costs what a blank costs), so a threshold only pays where printed truth marks
    values as not printed (mix/'s empty labels); the mean takes one only where the printed rows
    gain more than the catalogue's lose. Cross-validated on dev + mix (13 splits), '*' cost dev
    0.009 of F1 and bought mix 0.043. The dimensions' own thresholds, picked the same way, cost
    dev's width 0.015 out of fold and bought mix nothing (the catalogue gives nearly every
    product a depth, and mix's depth follows it), so the dimensions never abstain."""
    by_truth = {}
    for label in labels:
        by_truth.setdefault(label.get('truth', DEFAULT_TRUTH), []).append(label)
    never = {entity: 0.0 for entity in DIMENSIONS}

    def mean_f1(threshold):
        predicted = abstained(scores, dict(never, **{'*': threshold}))
        return np.mean([evaluate(own, predicted)['mix_weighted']['f1'] for own in by_truth.values()])
    return dict(never, **{'*': max(THRESHOLDS, key=lambda t: (mean_f1(t), -t))})


def usual_value_rate(rows, priors) -> float:
    """Of the rows with no allowed candidate, the share whose product group's usual value is
    right: the score a usual-value guess gets (see transforms.logic.chooser.usual_value)."""
    guesses = [(label, choose(scored, label['entity_name'], label['group_id'], priors, None, abstain=False)[0])
               for label, _, scored in rows if not any(item.candidate.allowed for item in scored)]
    right = sum(_same_numeric(p, label['entity_value']) for label, p in guesses)
    return round(right / len(guesses), 4) if guesses else 0.0


def train(rows, priors) -> TreeModel:
    """A model fitted on these rows, with the usual value's score and no abstention yet."""
    features, right, _ = training_matrix(rows)
    return TreeModel(export(fit(features, right), usual_value_score=usual_value_rate(rows, priors)))


def splits_by_image(images, folds: int, seed=None) -> list:
    """[(train positions, test positions)] with all rows of an image on one side: scikit-learn's
    GroupKFold, or, with a seed, images dealt to the folds at random."""
    images = np.asarray(images)
    if seed is None:
        from sklearn.model_selection import GroupKFold
        return list(GroupKFold(n_splits=folds).split(images, groups=images))
    links = sorted(set(images))
    fold_of = dict(zip(links, np.random.default_rng(seed).permutation(len(links)) % folds))
    fold = np.array([fold_of[link] for link in images])
    return [(np.flatnonzero(fold != k), np.flatnonzero(fold == k)) for k in range(folds)]


def out_of_fold(rows, priors, folds: int, seed=None) -> tuple:
    """(index -> Chosen by a model that never saw the row's image, index -> its fold)."""
    scores, fold_of = {}, {}
    for k, (train_at, test_at) in enumerate(splits_by_image([link for _, link, _ in rows], folds, seed)):
        model = train([rows[i] for i in train_at], priors)
        scores.update(chosen([rows[i] for i in test_at], model, priors))
        fold_of.update((rows[i][0]['index'], k) for i in test_at)
    return scores, fold_of


def cross_validated(rows, priors, folds: int, seed=None, oof=None, truth: str = None) -> tuple:
    """(index -> prediction, index -> (prediction, confidence)): each row chosen by a model that
    never saw its image, abstaining below thresholds picked on the other folds' out-of-fold
    scores, and its confidence calibrated on those, for its own truth or the one given (oof:
    out_of_fold's result, when already at hand)."""
    scores, fold_of = oof or out_of_fold(rows, priors, folds, seed)
    truth_of = {label['index']: truth or label.get('truth', DEFAULT_TRUTH) for label, _, _ in rows}
    predicted, confidences = {}, {}
    for k in range(folds):
        others = [label for label, _, _ in rows if fold_of[label['index']] != k]
        thresholds = best_thresholds(others, {label['index']: scores[label['index']] for label in others})
        calibration = fit_calibration(others, scores)
        for index, prediction in abstained(scores, thresholds).items():
            if fold_of[index] == k:
                c = scores[index]
                predicted[index] = prediction
                confidences[index] = (prediction, confidence_of(calibration, c.entity, c.score, prediction, c.twin,
                                                                truth_of[index]))
    return predicted, confidences


def for_shipping(rows, priors, oof_scores: dict) -> tuple:
    """(chooser.json's content, the fitted classifier, its features, right): trees fitted on all
    rows; the thresholds and calibration from out-of-fold scores (the fitted model's scores on its
    own rows are too sure)."""
    features, right, _ = training_matrix(rows)
    fitted = fit(features, right)
    used = [label for label, _, _ in rows]
    exported = export(fitted, best_thresholds(used, oof_scores), usual_value_rate(rows, priors),
                      fit_calibration(used, oof_scores))
    return exported, fitted, features, right


def unseen_groups(rows, priors, folds: int) -> tuple:
    """(index -> prediction, index -> (prediction, confidence)) as users meet them: the whole of
    `make train` (out-of-fold scores, thresholds, calibration, the model fitted on all its rows)
    replayed on the rows of some product groups, then run on the rows of the others, whose
    group_ids it never saw (folds by group_id). A confidence that holds only on images like those
    it was calibrated on shows here."""
    predicted, confidences = {}, {}
    for train_at, test_at in splits_by_image([label['group_id'] for label, _, _ in rows], folds):
        training = [rows[i] for i in train_at]
        model = TreeModel(for_shipping(training, priors, out_of_fold(training, priors, folds)[0])[0])
        unseen = [rows[i] for i in test_at]
        scores = chosen(unseen, model, priors)
        for label, _, _ in unseen:
            c = scores[label['index']]
            prediction = abstained({label['index']: c}, model.abstain_below)[label['index']]
            predicted[label['index']] = prediction
            confidences[label['index']] = (prediction, confidence_of(
                model.calibration, c.entity, c.score, prediction, c.twin, label.get('truth', DEFAULT_TRUTH)))
    return predicted, confidences


def by_set(labels: list) -> list:
    """[(title, labels)]: each set's rows alone when there are several sets, then all rows."""
    sets = sorted({label.get('set', '') for label in labels})
    if len(sets) == 1:
        return [(sets[0] or 'all rows', labels)]
    return [(name, [label for label in labels if label.get('set', '') == name]) for name in sets] + \
        [('all sets', labels)]


def evaluate_own(own: list, predicted: dict) -> dict:
    """evaluate() on these rows alone, each with its prediction or a blank."""
    return evaluate(own, {label['index']: predicted.get(label['index'], '') for label in own})


def report(labels: list, predicted: dict) -> str:
    """format_result for each set's rows alone, then for all of them together."""
    return '\n'.join(f'  {title}:\n' + _indent(format_result(evaluate_own(own, predicted)))
                     for title, own in by_set(labels))


def confidence_report(labels: list, confidences: dict) -> str:
    """format_confidence for each set's rows alone, then all together, plain and mix-weighted."""
    return '\n'.join(_indent(format_confidence(confidence_result(own, confidences, weighted, by_chance=True),
                                               title))
                     for title, own in by_set(labels)
                     for weighted, title in ((False, title), (True, f'{title}, mix-weighted')))


def _indent(text: str) -> str:
    return '\n'.join('    ' + line for line in text.splitlines())


def write_predictions(folder: str, labels: list, predicted: dict, confidences: dict) -> None:
    """Each set's predictions as folder/<set>.csv, and its confidences as folder/<set>-confidence.csv
    (as a run writes predictions.csv and confidence.csv), with its own indices, in the labels' order."""
    os.makedirs(folder, exist_ok=True)
    per_set = {}
    for label in labels:
        per_set.setdefault(label.get('set') or 'all', []).append(label)
    for name, own in per_set.items():
        own_index = [(label['index'][len(name) + 1:] if label.get('set') else label['index'], label['index'])
                     for label in own]
        with open(os.path.join(folder, f'{name}.csv'), 'w', newline='', encoding='utf-8') as handle:
            writer = csv.writer(handle, lineterminator='\n')
            writer.writerow(('index', 'prediction'))
            writer.writerows((index, predicted.get(key, '')) for index, key in own_index)
        with open(os.path.join(folder, f'{name}-confidence.csv'), 'w', newline='', encoding='utf-8') as handle:
            writer = csv.writer(handle, lineterminator='\n')
            writer.writerow(('index', 'prediction', 'confidence'))
            for index, key in own_index:
                prediction, confidence = confidences.get(key, ('', 0.0))
                writer.writerow((index, prediction, f'{confidence:.4f}'))


def read_sets(records: list, labels: list, priors, truths: list = ()) -> list:
    """The labelled rows of every (records, labels) pair, each named by its labels' folder and
    marked with its truth (the --truth given in the same place, or truth_of_labels)."""
    if len(records) != len(labels) or (truths and len(truths) != len(labels)):
        raise SystemExit('give one --labels (and, if any, one --truth) for each --records')
    rows = []
    for number, (records_dir, labels_path) in enumerate(zip(records, labels)):
        name = labels_path.replace('\\', '/').rstrip('/').split('/')[-2] if len(records) > 1 else ''
        own = read_labels(labels_path)
        truth = truths[number] if truths else truth_of_labels(own)
        rows += [(dict(label, truth=truth), link, scored)
                 for label, link, scored in labelled_candidates(records_dir, own, priors, name)]
    return rows


def truth_of_labels(labels: list) -> str:
    """'printed' for labels read off the pictures (some empty: the value is not printed, or listing
    the accepted answers 'a | b', as mix/ does), else 'catalogue'."""
    printed = any(not label['entity_value'].strip() or ' | ' in label['entity_value'] for label in labels)
    return 'printed' if printed else 'catalogue'


def cross_truth_report(rows, priors, folds: int, oof) -> str:
    """Each truth's calibration applied to every set's rows (same folds): the ECE and the surest
    half's precision a confidence shows on the truth it was not fitted for."""
    labels = [label for label, _, _ in rows]
    lines = []
    for truth in TRUTHS:
        _, confidences = cross_validated(rows, priors, folds, oof=oof, truth=truth)
        lines.append(f'  calibrated on {truth} truth: ' + '; '.join(
            f'{title} ECE {result["ece"]:.4f}, surest half {result["precision_at_half"]["precision"]:.4f}'
            for title, own in by_set(labels) if (result := confidence_result(own, confidences))['predicted']))
    return '\n'.join(lines)


def abstention_report(labels: list, scores: dict, predicted: dict) -> str:
    """Each set's numeric and mix-weighted F1 with the abstention (predicted) and without it (the
    out-of-fold choices, scores): what leaving rows blank costs or buys on each truth."""
    unabstained = {index: c.prediction for index, c in scores.items()}
    lines = []
    for title, own in by_set(labels):
        with_, without = evaluate_own(own, predicted), evaluate_own(own, unabstained)
        lines.append(f'  {title}: with abstention F1 {with_["numeric"]["f1"]:.4f}, mix-weighted '
                     f'{with_["mix_weighted"]["f1"]:.4f}; without F1 {without["numeric"]["f1"]:.4f}, '
                     f'mix-weighted {without["mix_weighted"]["f1"]:.4f}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = StrictParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--records', required=True, action='append',
                        help='records/ folder of a pipeline run over labelled images (repeat for each set)')
    parser.add_argument('--labels', required=True, action='append',
                        help='the labels of the images in the --records given in the same place')
    parser.add_argument('--out', default=str(CHOOSER_PATH))
    parser.add_argument('--folds', type=int, default=5)
    parser.add_argument('--cv_predictions', metavar='DIR',
                        help='write the cross-validated predictions of each set to DIR/<set>.csv (index, '
                             'prediction), e.g. for python -m pipeline.errors --predictions')
    parser.add_argument('--repeats', type=int, default=0,
                        help='also cross-validate with this many random deals of images to folds, and print '
                             'their F1 (plain and mix-weighted) and means: how much the figure owes to one split')
    parser.add_argument('--intervals', type=int, default=1000, metavar='N',
                        help='95%% intervals of the cross-validated figures of all rows from N resamples of the '
                             'images (as pipeline.evaluate --intervals): how much they owe to these images; 0: none')
    parser.add_argument('--truth', action='append', choices=TRUTHS,
                        help='what the --labels given in the same place hold: what the catalogue lists '
                             '(catalogue) or what the picture prints (printed); default: printed for labels '
                             'with empty values or \'a | b\' alternatives, else catalogue')
    parser.add_argument('--unseen_groups', action='store_true',
                        help='also replay this whole training on some product groups and score it on the '
                             'others (folds by group_id): the figures users meet on images unlike any trained on')
    args = parser.parse_args(argv)
    priors = load_priors()
    rows = read_sets(args.records, args.labels, priors, args.truth or ())
    used = [label for label, _, _ in rows]
    print(f'{len(rows)} labelled rows in the records, {len({link for _, link, _ in rows})} images; truths: '
          + ', '.join(sorted({f'{label.get("set") or "all"} {label["truth"]}' for label in used})))
    print('rule chooser:')
    print(report(used, predictions(rows, None, priors)))
    print(f'learned chooser, {args.folds} folds by image:')
    oof = out_of_fold(rows, priors, args.folds)
    predicted, confidences = cross_validated(rows, priors, args.folds, oof=oof)
    print(report(used, predicted))
    print('what abstention costs or buys, same folds:')
    print(abstention_report(used, oof[0], predicted))
    print(f'confidence, {args.folds} folds by image (each fold calibrated on the other folds\' rows, each row '
          f'for its own truth):')
    print(confidence_report(used, confidences))
    print('each truth\'s calibration on every set, same folds:')
    print(cross_truth_report(rows, priors, args.folds, oof))
    if args.intervals > 0:
        print(_indent(format_intervals(bootstrap_intervals(used, predicted, confidences, args.intervals),
                                       args.intervals)))
    if args.cv_predictions:
        write_predictions(args.cv_predictions, used, predicted, confidences)
    if args.repeats:
        deals = [cross_validated(rows, priors, args.folds, seed) for seed in range(args.repeats)]
        results = [evaluate(used, deal_predicted) for deal_predicted, _ in deals]
        for name, key in (('numeric F1', 'numeric'), ('mix-weighted F1', 'mix_weighted')):
            scores = [result[key]['f1'] for result in results]
            print(f'{name} over {args.repeats} random deals of images to {args.folds} folds: '
                  + ', '.join(f'{s:.4f}' for s in scores) + f'; mean {np.mean(scores):.4f}')
        print('numeric F1 per entity, mean over the same deals: ' + ', '.join(
            f'{entity} {np.mean([result["numeric"]["per_entity"].get(entity, 0.0) for result in results]):.3f}'
            for entity in sorted(results[0]['numeric']['per_entity'])))
        for title, own in by_set(used)[:-1]:
            own_results = [evaluate_own(own, deal_predicted) for deal_predicted, _ in deals]
            own_targets = [confidence_targets(confidence_result(own, deal_confidences))
                           for _, deal_confidences in deals]
            print(f'{title} alone, over the same deals: numeric F1 mean '
                  f'{np.mean([r["numeric"]["f1"] for r in own_results]):.4f}, mix-weighted mean '
                  f'{np.mean([r["mix_weighted"]["f1"] for r in own_results]):.4f}; '
                  + '; '.join(f'{name} mean {np.mean([t[name] for t in own_targets]):.4f}' for name in own_targets[0]))
        for weighted in (False, True):
            targets = [confidence_targets(confidence_result(used, deal_confidences, weighted))
                       for _, deal_confidences in deals]
            figures = {name: [t[name] for t in targets] for name in targets[0]}
            print(f'confidence{", mix-weighted" if weighted else ""}, same deals: ' + '; '.join(
                f'{name} ' + ', '.join(f'{v:.4f}' for v in values) + f' (mean {np.mean(values):.4f})'
                for name, values in figures.items()))
    if args.unseen_groups:
        unseen_predicted, unseen_confidences = unseen_groups(rows, priors, args.folds)
        print(f'unseen product groups: the whole training replayed in {args.folds} folds by group_id, each fold '
              f'scored by what was fitted on the other groups:')
        print(report(used, unseen_predicted))
        print(confidence_report(used, unseen_confidences))
    exported, fitted, features, right = for_shipping(rows, priors, oof[0])
    model = TreeModel(exported)
    mismatch = max((abs(model.probability(x) - p) for x, p in zip(features, fitted.predict_proba(features)[:, 1])),
                   default=0.0) if model.trees else 0.0
    if mismatch > 1e-6:
        raise SystemExit(f'exported model disagrees with scikit-learn by {mismatch}')
    with open(args.out, 'w', encoding='utf-8') as handle:
        json.dump(exported, handle, separators=(',', ':'))
        handle.write('\n')
    calibration = {truth: fitted_truth['families'] for truth, fitted_truth in exported['calibration']['truths'].items()}
    print(f'{args.out}: {len(exported["trees"])} trees on {len(features)} candidates '
          f'({int(right.sum())} right); fit on all rows; abstains below {exported["abstain_below"]}; '
          f'a usual-value guess scores {exported["usual_value_score"]}; confidence calibration {calibration}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
