"""Does the CNN's embedding pay? Two uses measured out of fold on real images.

    .venv/bin/python bench/cnn_value.py --records DEV_RUN MIX_RUN [--components 8] [--deals 12]

DEV_RUN and MIX_RUN are output folders of the job on ../shared/data/dev and mix with the CNN on
(records hold each image's 1280-wide EfficientNet-Lite0 embedding and its OCR seconds), e.g. the
runs bench/ocr_engines.py --keep leaves, or `make train`'s /tmp/specscan-dev and -mix.

1. **The chooser reads the picture too.** The embedding's first --components principal
   components (scikit-learn's PCA, fitted on all images' embeddings without labels) are added to
   every candidate's features; the chooser, its threshold and its calibration are cross-validated
   as `make train` does (5 folds by image, the standard split and --deals random deals). Printed:
   mix-weighted and plain F1, ECE and coverage at precision 0.98 with and without, and their
   paired difference (mean, and the middle 95% of the deals' differences: inside it is noise).
2. **The CNN saves OCR.** A logistic regression on the embedding, out of fold by image, says
   whether OCR will find no quantity with a unit on the image at all; the images it flags above
   a threshold would skip OCR. Printed per threshold: images flagged, the share of them that
   truly had none (precision), the OCR seconds their skipping saves per image of the set, and
   what blanking their rows costs in mix-weighted F1 (against the CNN's own cost per image).
"""
import argparse
import collections
import os
import statistics
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = os.path.join(ROOT, '..', 'shared', 'data')

import pipeline.train_chooser as train_chooser  # noqa: E402
import transforms.logic.chooser as chooser  # noqa: E402
from pipeline.evaluate import confidence_result, confidence_targets, evaluate  # noqa: E402
from pipeline.summary import read_records  # noqa: E402
from transforms.logic.features import FEATURES, Scored  # noqa: E402
from transforms.logic.priors import load_priors  # noqa: E402


def image_facts(outputs: list) -> dict:
    """image link -> (embedding as an array, OCR seconds) over every run's records."""
    facts = {}
    for output in outputs:
        table = read_records(output, ['image_link', 'embedding', 'ocr_seconds']).to_pylist()
        for record in table:
            if record['embedding']:
                facts[record['image_link']] = (np.asarray(record['embedding'], dtype=np.float32),
                                               record['ocr_seconds'])
    return facts


def principal_components(facts: dict, components: int) -> dict:
    """image link -> its embedding's first principal components."""
    from sklearn.decomposition import PCA
    links = sorted(facts)
    matrix = np.stack([facts[link][0] for link in links])
    reduced = PCA(n_components=components, random_state=0).fit_transform(matrix)
    return dict(zip(links, reduced))


def with_picture_features(rows: list, pcs: dict, components: int) -> list:
    """The rows with each candidate's features extended by its image's principal components."""
    names = tuple(FEATURES) + tuple(f'embedding_pc{i}' for i in range(components))
    extended = collections.namedtuple('CandidateFeatures', names)
    zero = np.zeros(components)
    return [(label, link, [Scored(item.candidate, extended(*item.features, *pcs.get(link, zero).tolist()))
                           for item in scored]) for label, link, scored in rows]


def figures(rows: list, priors, seed) -> dict:
    """Cross-validated mix-weighted F1, F1 and confidence figures of the chooser on these rows."""
    labels = [label for label, _, _ in rows]
    predicted, confidences = train_chooser.cross_validated(rows, priors, 5, seed)
    overall = evaluate(labels, predicted)
    targets = confidence_targets(confidence_result(labels, confidences))
    return {'mix-weighted F1': overall['mix_weighted']['f1'], 'F1': overall['numeric']['f1'],
            'ECE': targets['ECE'], 'coverage at precision 0.98': targets['coverage at precision 0.98'],
            'surest half': targets['precision on the surest half']}


def chooser_comparison(rows: list, pcs: dict, components: int, priors, deals: int) -> str:
    """The table of use 1: the chooser without and with the picture's components, same deals."""
    plain_features = FEATURES
    extended_rows = with_picture_features(rows, pcs, components)
    extended_features = tuple(extended_rows[0][2][0].features._fields) if extended_rows[0][2] else plain_features
    base, picture = [], []
    for seed in [None] + list(range(deals)):
        base.append(figures(rows, priors, seed))
        # train_chooser and TreeModel check and size by FEATURES; for this run they name the extended ones
        train_chooser.FEATURES = chooser.FEATURES = extended_features
        try:
            picture.append(figures(extended_rows, priors, seed))
        finally:
            train_chooser.FEATURES = chooser.FEATURES = plain_features
    lines = [f'| figure (mean of {deals + 1} splits) | chooser as shipped | + {components} embedding components '
             f'| paired difference (middle 95% of the splits) |', '|---|---|---|---|']
    for key in base[0]:
        differences = sorted(p[key] - b[key] for p, b in zip(picture, base))
        low = differences[int(0.025 * (len(differences) - 1))]
        high = differences[int(round(0.975 * (len(differences) - 1)))]
        lines.append(f'| {key} | {statistics.mean(b[key] for b in base):.4f} '
                     f'| {statistics.mean(p[key] for p in picture):.4f} '
                     f'| {statistics.mean(differences):+.4f} ({low:+.4f} to {high:+.4f}) |')
    return '\n'.join(lines)


def has_quantity(scored: list) -> bool:
    """OCR read a quantity with a unit the row's entity allows (not a bare number, not the group's usual value)."""
    return any(item.candidate.allowed and item.candidate.group not in chooser.UNPRINTED_GROUPS for item in scored)


def skip_comparison(rows: list, facts: dict, priors, thresholds=(0.5, 0.7, 0.8, 0.9)) -> str:
    """The table of use 2: which images a head on the embedding would spare OCR, and at what cost."""
    from sklearn.linear_model import LogisticRegression
    by_image = collections.defaultdict(list)
    for label, link, scored in rows:
        by_image[link].append(has_quantity(scored))
    links = sorted(link for link in by_image if link in facts)
    matrix = np.stack([facts[link][0] for link in links])
    nothing = np.array([not any(by_image[link]) for link in links])
    seconds = np.array([facts[link][1] for link in links])
    probability = np.zeros(len(links))
    for train_at, test_at in train_chooser.splits_by_image(links, 5):
        head = LogisticRegression(C=0.1, max_iter=2000).fit(matrix[train_at], nothing[train_at])
        probability[test_at] = head.predict_proba(matrix[test_at])[:, 1]
    labels = [label for label, _, _ in rows]
    predicted, _ = train_chooser.cross_validated(rows, priors, 5)
    base = evaluate(labels, predicted)['mix_weighted']['f1']
    lines = [f'{len(links)} images, {nothing.sum()} with no quantity read ({nothing.mean():.0%}), holding '
             f'{seconds[nothing].sum() / seconds.sum():.0%} of the OCR seconds; OCR '
             f'{seconds.mean():.3f} s per image',
             '| skip OCR when the head says "no quantity" with probability ≥ | images skipped | precision '
             '| OCR s saved per image | mix-weighted F1 (without skipping: %.4f) |' % base, '|---|---|---|---|---|']
    for threshold in thresholds:
        skipped = probability >= threshold
        skipped_links = {link for link, s in zip(links, skipped) if s}
        blanked = {index: ('' if link in skipped_links else predicted.get(index, ''))
                   for index, link in ((label['index'], link) for label, link, _ in rows)}
        precision = nothing[skipped].mean() if skipped.any() else float('nan')
        lines.append(f'| {threshold} | {skipped.sum()} | {precision:.2f} | {seconds[skipped].sum() / len(links):.3f} '
                     f'| {evaluate(labels, blanked)["mix_weighted"]["f1"]:.4f} |')
    return '\n'.join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--records', nargs=2, required=True, metavar=('DEV_RUN', 'MIX_RUN'))
    parser.add_argument('--components', type=int, default=8)
    parser.add_argument('--deals', type=int, default=12)
    args = parser.parse_args(argv)
    priors = load_priors()
    sets = ['dev', 'mix']
    labels_paths = [os.path.join(DATA, name, 'labels.csv') for name in sets]
    rows = train_chooser.read_sets([os.path.join(run, 'records') for run in args.records], labels_paths, priors)
    facts = image_facts(args.records)
    print(f'dev + mix: {len(rows)} rows, {len(facts)} images with an embedding\n')
    print('1. The chooser with the picture\'s principal components as features')
    print(chooser_comparison(rows, principal_components(facts, args.components), args.components, priors, args.deals))
    print('\n2. A head on the embedding that spares OCR on images with no quantity')
    print(skip_comparison(rows, facts, priors))


if __name__ == '__main__':
    main()
