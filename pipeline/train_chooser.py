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

The chooser abstains (predicts nothing) when its best candidate's probability is below a
threshold: a wrong value and a blank cost the same under the challenge's F1 when the value is
printed, but a blank is right when it is not. The thresholds are the ones that maximise the
mix-weighted F1 (rows weighted to the official test set's entity mix) of the out-of-fold
probabilities (see best_thresholds for which rows pick which threshold).

Before fitting on all rows it reports F1 with folds by image (no image's rows are both trained
on and scored; each fold's threshold is picked on the other folds' rows), per set and on all
sets together, plain and mix-weighted, for the learned chooser and for the rule chooser on the
same candidates: that cross-validated figure, not the fit on all rows, is what the model is
expected to do on images it has not seen. `--repeats N` adds N cross-validations with images
dealt to folds at random: on some hundred rows one split's figure moves by about 0.005. The 95%
intervals it prints (`--intervals`, resamples of the images) say how far the figures could move
on other images like these: on dev + mix about +-0.03 for the F1, +-0.13 for depth's.

It also fits the confidence calibration (transforms/confidence.py): per entity family, a Platt
scaling of the out-of-fold best scores (and whether the chosen value is printed in another unit
too) to whether the chosen value was right, and reports its
cross-validated calibration and operating points (each fold calibrated on the other folds'
rows), per set and together, plain and mix-weighted.
"""
import argparse
import csv
import json
import os
import sys
from typing import NamedTuple

import numpy as np

from pipeline.evaluate import (_same_numeric, bootstrap_intervals, confidence_result, confidence_targets, evaluate,
                               format_confidence, format_intervals, format_result, read_labels)
from pipeline.summary import read_records
from transforms.candidates import FEATURES, find_candidates
from transforms.choose import CHOOSER_PATH, TreeModel, choose, threshold_for
from transforms.confidence import FAMILIES, chosen_position, chosen_twin, confidence_of, family_of, logit
from transforms.priors import load_priors
from transforms.records import OcrWord
from transforms.units import format_prediction

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
# entities that may get an abstention threshold of their own: where the value is most often not
# printed (a depth asked of a picture that shows two sides)
THRESHOLD_ENTITIES = ('depth', 'height', 'width')
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
    """{'method': 'platt', 'families': {family: {'slope', 'twin', 'intercept', 'rows'}}}: for each
    family of transforms.confidence.FAMILIES, a logistic regression of whether the row's chosen
    value is right on the logit of its best score and on whether it is printed in another unit
    too (scores: index -> Chosen), fitted on the rows with a prediction (before
    abstention: more rows, the same curve). A family with too few rows, or rows all right or all
    wrong, is left out and falls back to '*' ('*' then fits on every row; the identity if even
    that cannot be fitted)."""
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
    return {'method': 'platt', 'families': families}


def _fittable(items) -> bool:
    return len(items) >= CALIBRATION_MIN_ROWS and 0 < sum(r for _, r in items) < len(items)


def export(model, abstain_below: dict = None, usual_value_score: float = 0.0, calibration: dict = None) -> dict:
    """The fitted classifier as plain JSON for transforms.choose.TreeModel, through scikit-learn's
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
    twin: bool = False  # the chosen value is printed in another unit too (transforms/confidence.py)


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
    """Abstention thresholds with the highest mix-weighted F1: one for every entity ('*'), then
    one of its own for each of THRESHOLD_ENTITIES where that scores higher (the lowest threshold
    on a tie).

    '*' is picked on the rows of the sets that mark a value as not printed (an empty label:
    mix/, read by eye), when there are any: only they can show when a blank is right. dev's
    labels come from the catalogue and are never empty, though the value is often nowhere on
    the image, so they would always argue for a guess. The dimensions' thresholds are picked on
    all rows: there the two sets' labels disagree on what a depth is (the catalogue names a
    single printed length a depth where readers find none), and on mix/'s 23 depth rows alone
    every depth would be left blank."""
    def f1(rows, thresholds):
        return evaluate(rows, abstained(scores, thresholds))['mix_weighted']['f1']
    unprinted_sets = {label.get('set') for label in labels if not label['entity_value'].strip()}
    readers = [label for label in labels if label.get('set') in unprinted_sets] or labels
    thresholds = {'*': max(THRESHOLDS, key=lambda t: (f1(readers, {'*': t}), -t))}
    for entity in THRESHOLD_ENTITIES:
        best = max(THRESHOLDS, key=lambda t: (f1(labels, dict(thresholds, **{entity: t})), -t))
        if best != thresholds['*']:
            thresholds[entity] = best
    return thresholds


def usual_value_rate(rows, priors) -> float:
    """Of the rows with no allowed candidate, the share whose product group's usual value is
    right: the score a usual-value guess gets (see transforms.choose.usual_value)."""
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


def cross_validated(rows, priors, folds: int, seed=None, oof=None) -> tuple:
    """(index -> prediction, index -> (prediction, confidence)): each row chosen by a model that
    never saw its image, abstaining below thresholds picked on the other folds' out-of-fold
    scores, and its confidence calibrated on those (oof: out_of_fold's result, when already at
    hand)."""
    scores, fold_of = oof or out_of_fold(rows, priors, folds, seed)
    predicted, confidences = {}, {}
    for k in range(folds):
        others = [label for label, _, _ in rows if fold_of[label['index']] != k]
        thresholds = best_thresholds(others, {label['index']: scores[label['index']] for label in others})
        calibration = fit_calibration(others, scores)
        for index, prediction in abstained(scores, thresholds).items():
            if fold_of[index] == k:
                c = scores[index]
                predicted[index] = prediction
                confidences[index] = (prediction, confidence_of(calibration, c.entity, c.score, prediction, c.twin))
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
    return '\n'.join(_indent(format_confidence(confidence_result(own, confidences, weighted), title))
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


def read_sets(records: list, labels: list, priors) -> list:
    """The labelled rows of every (records, labels) pair, each named by its labels' folder."""
    if len(records) != len(labels):
        raise SystemExit('give one --labels for each --records')
    rows = []
    for records_dir, labels_path in zip(records, labels):
        name = labels_path.replace('\\', '/').rstrip('/').split('/')[-2] if len(records) > 1 else ''
        rows += labelled_candidates(records_dir, read_labels(labels_path), priors, name)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    args = parser.parse_args(argv)
    priors = load_priors()
    rows = read_sets(args.records, args.labels, priors)
    used = [label for label, _, _ in rows]
    print(f'{len(rows)} labelled rows in the records, {len({link for _, link, _ in rows})} images')
    print('rule chooser:')
    print(report(used, predictions(rows, None, priors)))
    print(f'learned chooser, {args.folds} folds by image:')
    oof = out_of_fold(rows, priors, args.folds)
    predicted, confidences = cross_validated(rows, priors, args.folds, oof=oof)
    print(report(used, predicted))
    print(f'confidence, {args.folds} folds by image (each fold calibrated on the other folds\' rows):')
    print(confidence_report(used, confidences))
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
            scores = [evaluate_own(own, deal_predicted)['numeric']['f1'] for deal_predicted, _ in deals]
            print(f'{title} alone, numeric F1 over the same deals: mean {np.mean(scores):.4f}')
        for weighted in (False, True):
            targets = [confidence_targets(confidence_result(used, deal_confidences, weighted))
                       for _, deal_confidences in deals]
            figures = {name: [t[name] for t in targets] for name in targets[0]}
            print(f'confidence{", mix-weighted" if weighted else ""}, same deals: ' + '; '.join(
                f'{name} ' + ', '.join(f'{v:.4f}' for v in values) + f' (mean {np.mean(values):.4f})'
                for name, values in figures.items()))
    features, right, _ = training_matrix(rows)
    fitted = fit(features, right)
    usual_score = usual_value_rate(rows, priors)
    model = TreeModel(export(fitted, usual_value_score=usual_score))
    mismatch = max((abs(model.probability(x) - p) for x, p in zip(features, fitted.predict_proba(features)[:, 1])),
                   default=0.0) if model.trees else 0.0
    if mismatch > 1e-6:
        raise SystemExit(f'exported model disagrees with scikit-learn by {mismatch}')
    # the thresholds come from out-of-fold scores: the fitted model's scores on its own rows are too sure
    thresholds = best_thresholds(used, oof[0])
    calibration = fit_calibration(used, oof[0])
    exported = export(fitted, thresholds, usual_score, calibration)
    with open(args.out, 'w', encoding='utf-8') as handle:
        json.dump(exported, handle, separators=(',', ':'))
        handle.write('\n')
    print(f'{args.out}: {len(exported["trees"])} trees on {len(features)} candidates '
          f'({int(right.sum())} right); fit on all rows; abstains below {thresholds}; '
          f'a usual-value guess scores {usual_score}; confidence calibration {calibration["families"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
