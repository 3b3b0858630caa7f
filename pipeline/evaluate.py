"""F1 of predictions.csv against labels, by the 2024 challenge's rules.

    python -m pipeline.evaluate --labels labels.csv --predictions out/predictions.csv [--json] \
        [--confidence out/confidence.csv] [--intervals 1000]

It follows ../shared/tools/score.py, the reference scorer, rule for rule (a test checks the
two agree): 'exact' compares strings as written (the official rule); 'numeric' compares
value and unit, so '500 gram' equals '500.0 gram'. A prediction that is not
'<number> <allowed unit>' is a format error and a false positive. A label may list the same
measure in two units, 'a | b' (the hand-read mix/ set): either is right. 'mix-weighted' weighs
each row by how common its entity is in the official test CSV against this file (TEST_MIX), so a
set where item_weight dominates is scored as if it had the test set's mix of two thirds
height, depth and width: the figure that predicts a real run.

With the run's confidence.csv (found beside predictions.csv, or --confidence) it also says how
far the confidences can be trusted: precision and coverage (the share of all rows that keep a
prediction) at confidence >= 0.5, 0.7 and 0.9, the coverage reached at precision 0.90, 0.95 and
0.98 with the threshold that reaches it, and the expected calibration error (ECE: over the
rows with a prediction, in 10 equal-width bins of confidence, the row-weighted mean gap between
mean confidence and the share right), overall, per entity family and mix-weighted. A
prediction is right as the numeric F1 counts it; one on a blank label is wrong.

A few hundred labelled rows measure these figures only roughly: --intervals N also prints a 95%
interval for each headline figure, from N resamples of the labels' images with replacement (the
rows of one image stay together): how far the figure could move on another set of images like
these, e.g. the hidden sets a target is checked on.
"""
import csv
import json
import os
import sys
from collections import defaultdict

import numpy as np

from pipeline.arguments import StrictParser
from transforms.logic.confidence import FAMILIES, family_of
from transforms.logic.units import ALL_UNITS, ENTITY_UNITS, parse_value, same_value


# rows per entity in the official 131,187-row test CSV (as in score.py)
TEST_MIX = {'height': 32282, 'depth': 28146, 'width': 26931, 'item_weight': 22032,
            'maximum_weight_recommendation': 7028, 'voltage': 5488, 'wattage': 5447, 'item_volume': 3833}


def alternatives(label: str) -> list:
    """The right answers a label allows: '2.63 inch | 6.68 centimetre' -> both; '' -> ['']."""
    return [part.strip() for part in (label or '').split(' | ')]


def _same_numeric(prediction: str, truth: str) -> bool:
    """The prediction equals the label, or one of its ' | ' alternatives, in value and unit (never
    when either is blank: a prediction on a blank label is wrong)."""
    p = parse_value(prediction)
    if p is None:
        return False
    for alternative in alternatives(truth):
        t = parse_value(alternative) if alternative else None
        if t is not None and p[1] == t[1] and same_value(p[0], t[0]):
            return True
    return False


def mix_weights(labels: list) -> dict:
    """entity -> the weight of each of its rows: its share of the test CSV (among the entities
    present) over its share of these labels."""
    rows = defaultdict(int)
    for row in labels:
        rows[row['entity_name']] += 1
    present = {entity: n for entity, n in TEST_MIX.items() if rows.get(entity)}
    total = sum(present.values())
    return {entity: (n / total) / (rows[entity] / len(labels)) for entity, n in present.items()}


def _f1(counts) -> tuple:
    precision = counts['tp'] / (counts['tp'] + counts['fp']) if counts['tp'] + counts['fp'] else 0.0
    recall = counts['tp'] / (counts['tp'] + counts['fn']) if counts['tp'] + counts['fn'] else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return f1, precision, recall


def evaluate(labels: list, predictions: dict) -> dict:
    """labels: dicts with index, entity_name, entity_value; predictions: index -> string."""
    counts = {m: defaultdict(lambda: defaultdict(int)) for m in ('exact', 'numeric')}
    weights, weighted = mix_weights(labels), defaultdict(float)
    format_errors = 0
    for row in labels:
        truths, entity = alternatives(row['entity_value']), row['entity_name']
        truth = truths[0]
        out = (predictions.get(row['index']) or '').strip()
        well_formed = True
        if out:
            parsed = parse_value(out)
            well_formed = parsed is not None and parsed[1] in ALL_UNITS
            format_errors += not well_formed
        for metric in counts:
            if metric == 'exact':
                same = out in truths
            else:
                same = bool(out and truth) and _same_numeric(out, row['entity_value'])
            key = ('tp' if out and truth and same and well_formed else
                   'fp' if out else 'fn' if truth else 'tn')
            counts[metric]['all'][key] += 1
            counts[metric][entity][key] += 1
            if metric == 'numeric':
                weighted[key] += weights.get(entity, 0.0)
    indices = {row['index'] for row in labels}
    result = {'rows': len(labels), 'predicted': sum(1 for r in labels if predictions.get(r['index'])),
              'format_errors': format_errors, 'unknown_indices': len(set(predictions) - indices)}
    for metric, by_entity in counts.items():
        f1, precision, recall = _f1(by_entity['all'])
        result[metric] = {'f1': round(f1, 4), 'precision': round(precision, 4), 'recall': round(recall, 4),
                          'per_entity': {e: round(_f1(c)[0], 4) for e, c in sorted(by_entity.items())
                                         if e in ENTITY_UNITS}}
    result['mix_weighted'] = {'f1': round(_f1(weighted)[0], 4), 'entities': sorted(weights)}
    result['unknown_entities'] = unknown_entities(labels)
    return result


def unknown_entities(labels: list) -> dict:
    """The rows whose entity_name is no entity (a typo, a blank, 'colour'): scored like any row, but
    given no per-entity F1 of their own, which would read as an entity the job failed at."""
    names = [row['entity_name'] for row in labels if row['entity_name'] not in ENTITY_UNITS]
    return {'rows': len(names), 'names': sorted(set(names))}


def format_unknown(unknown: dict) -> str:
    """'unknown entity names: 2 rows (colour, (blank))', or '' when there are none."""
    if not unknown['rows']:
        return ''
    rows = f"{unknown['rows']} row{'s' if unknown['rows'] > 1 else ''}"
    return f"unknown entity names: {rows} ({', '.join(name or '(blank)' for name in unknown['names'])})"


CONFIDENCE_LEVELS = (0.5, 0.7, 0.9)
PRECISION_TARGETS = (0.90, 0.95, 0.98)
CALIBRATION_BINS = 10


def calibration_bins(items) -> list:
    """(confidence, right, weight) of rows with a prediction -> per equal-width bin: rows,
    weight, mean confidence, share right (None for an empty bin's means)."""
    bins = [[0, 0.0, 0.0, 0.0] for _ in range(CALIBRATION_BINS)]
    for confidence, right, weight in items:
        b = bins[min(int(confidence * CALIBRATION_BINS), CALIBRATION_BINS - 1)]
        b[0] += 1
        b[1] += weight
        b[2] += weight * confidence
        b[3] += weight * right
    return [{'low': k / CALIBRATION_BINS, 'high': (k + 1) / CALIBRATION_BINS, 'rows': n, 'weight': round(w, 4),
             'confidence': round(c / w, 4) if w else None, 'right': round(r / w, 4) if w else None}
            for k, (n, w, c, r) in enumerate(bins)]


def expected_calibration_error(items) -> float:
    bins = calibration_bins(items)
    total = sum(b['weight'] for b in bins)
    return round(sum(b['weight'] * abs(b['confidence'] - b['right']) for b in bins if b['weight']) / total, 4) \
        if total else 0.0


def ece_by_chance(items, draws: int = 200, seed: int = 0) -> float:
    """The ECE perfectly calibrated confidences would show on these rows by chance alone: the mean
    ECE when each row's rightness is drawn with its own confidence as the probability. A few
    hundred rows show 0.02-0.03 so: an ECE near that says no more than 'calibrated'."""
    if not items:
        return 0.0
    generator = np.random.default_rng(seed)
    confidences = np.array([confidence for confidence, _, _ in items])
    return round(float(np.mean([expected_calibration_error(
        zip(confidences, generator.random(len(items)) < confidences, (weight for _, _, weight in items)))
        for _ in range(draws)])), 4)


def precision_coverage_curve(items, total_weight: float) -> list:
    """[(threshold, coverage, precision)] for every distinct confidence, surest first: keeping
    the predictions with confidence >= threshold covers that share of all rows at that precision."""
    curve, kept, right = [], 0.0, 0.0
    ordered = sorted(items, key=lambda item: -item[0])
    for position, (confidence, is_right, weight) in enumerate(ordered):
        kept += weight
        right += weight * is_right
        if position + 1 == len(ordered) or ordered[position + 1][0] < confidence:
            curve.append((confidence, kept / total_weight, right / kept))
    return curve


def confidence_result(labels: list, chosen: dict, weighted: bool = False, by_chance: bool = False) -> dict:
    """How well confidences rank and match the truth. chosen: index -> (prediction, confidence),
    as in confidence.csv. weighted: rows weighted to the official test set's entity mix. by_chance:
    also the ECE calibrated confidences would show here (ece_by_chance: 200 draws, so only where
    it is printed, not in every resample of the intervals)."""
    weights = mix_weights(labels) if weighted else {}
    items, by_family = [], defaultdict(list)
    for row in labels:
        prediction, confidence = chosen.get(row['index'], ('', 0.0))
        if not prediction:
            continue
        right = _same_numeric(prediction, row['entity_value'])
        item = (min(max(confidence, 0.0), 1.0), right, weights.get(row['entity_name'], 1.0))
        items.append(item)
        by_family[family_of(row['entity_name'])].append(item)
    total = sum(weights.get(row['entity_name'], 1.0) for row in labels) or 1.0
    curve = precision_coverage_curve(items, total)
    at_level = {}
    for level in CONFIDENCE_LEVELS:
        point = next((p for p in reversed(curve) if p[0] >= level), None)
        at_level[level] = {'precision': round(point[2], 4) if point else None,
                           'coverage': round(point[1], 4) if point else 0.0}
    at_precision = {}
    for target in PRECISION_TARGETS:
        good = [p for p in curve if p[2] >= target - 1e-12]
        best = max(good, key=lambda p: p[1]) if good else None
        at_precision[target] = {'coverage': round(best[1], 4) if best else 0.0,
                                'threshold': round(best[0], 4) if best else None}
    half = next((p for p in curve if p[1] >= 0.5 - 1e-12), curve[-1] if curve else None)
    return {'predicted': len(items), 'coverage': round(curve[-1][1], 4) if curve else 0.0,
            'precision': round(curve[-1][2], 4) if curve else None,
            'ece': expected_calibration_error(items), 'ece_by_chance': ece_by_chance(items) if by_chance else None,
            'ece_by_family': {family: expected_calibration_error(by_family[family])
                              for family in FAMILIES if by_family[family]},
            'at_confidence': at_level, 'at_precision': at_precision,
            'precision_at_half': {'precision': round(half[2], 4), 'coverage': round(half[1], 4)} if half else None,
            'bins': calibration_bins(items), 'curve': [tuple(round(x, 4) for x in p) for p in curve]}


def format_confidence(result: dict, title: str = 'confidence') -> str:
    families = ', '.join(f'{"other entities" if f == "*" else f} {e:.4f}' for f, e in result['ece_by_family'].items())
    half = result['precision_at_half']
    lines = [f"{title}: {result['predicted']} predictions cover {result['coverage']:.1%} of rows at precision "
             f"{result['precision'] or 0:.4f}; expected calibration error {result['ece']:.4f} ({families}"
             + (f"; calibrated confidences would show {result['ece_by_chance']:.4f} on these rows by chance"
                if result['ece_by_chance'] is not None else '') + ')',
             '  ' + '; '.join(f"confidence >= {level}: precision "
                              + (f"{p['precision']:.4f}" if p['precision'] is not None else '-')
                              + f", coverage {p['coverage']:.1%}" for level, p in result['at_confidence'].items()),
             '  ' + '; '.join(f"precision {target:.2f}: coverage {p['coverage']:.1%}"
                              + (f" (confidence >= {p['threshold']:.4f})" if p['threshold'] is not None else '')
                              for target, p in result['at_precision'].items())]
    if half:
        lines.append(f"  the surest half of the rows: precision {half['precision']:.4f} "
                     f"(coverage {half['coverage']:.1%})")
    lines.append('  calibration: ' + ', '.join(
        f"{b['low']:.1f}-{b['high']:.1f} {b['rows']} rows {b['right']:.2f} right"
        for b in result['bins'] if b['rows']))
    return '\n'.join(lines)


def read_confidence(path: str) -> dict:
    """confidence.csv -> index -> (prediction, confidence); ValueError when it is not one."""
    with open(path, newline='') as handle:
        reader = csv.DictReader(handle)
        if not {'index', 'prediction', 'confidence'} <= set(reader.fieldnames or ()):
            raise ValueError(f'{path} needs the columns index, prediction, confidence')
        return {row['index']: ((row['prediction'] or '').strip(), float(row['confidence'] or 0.0)) for row in reader}


def read_labels(path: str) -> list:
    with open(path, newline='') as handle:
        return list(csv.DictReader(handle))


def read_predictions(path: str) -> dict:
    with open(path, newline='') as handle:
        return {row['index']: (row.get('prediction') or '').strip() for row in csv.DictReader(handle)}


def format_result(result: dict) -> str:
    lines = [f"rows {result['rows']}  predicted {result['predicted']}  format errors {result['format_errors']}"
             f"  unknown indices {result['unknown_indices']}"]
    for metric in ('numeric', 'exact'):
        m = result[metric]
        lines.append(f"{metric:8s} F1 {m['f1']:.4f}  P {m['precision']:.4f}  R {m['recall']:.4f}")
    unknown = format_unknown(result['unknown_entities'])
    lines.append('per entity (numeric F1): ' + ', '.join(
        f'{e} {v:.3f}' for e, v in result['numeric']['per_entity'].items()) + (f'; {unknown}' if unknown else ''))
    lines.append(f"mix-weighted F1 {result['mix_weighted']['f1']:.4f} (numeric, rows weighted to the official "
                 f"test set's entity mix)")
    lines.append(f"F1 {result['numeric']['f1']:.4f}")
    return '\n'.join(lines)


def headline_figures(labels: list, predictions: dict, chosen: dict = None) -> dict:
    """The figures a target is set on: F1 (numeric, mix-weighted, per entity) and, given the
    confidences, the ECE, the precision of the surest half and the coverage at precision 0.98."""
    result = evaluate(labels, predictions)
    figures = {'numeric F1': result['numeric']['f1'], 'mix-weighted F1': result['mix_weighted']['f1']}
    figures.update((f'{entity} F1', f1) for entity, f1 in result['numeric']['per_entity'].items())
    if chosen is not None:
        figures.update(confidence_targets(confidence_result(labels, chosen)))
    return figures


def confidence_targets(confidence: dict) -> dict:
    """The figures of a confidence_result that targets are set on."""
    half = confidence['precision_at_half']
    return {'ECE': confidence['ece'], 'precision on the surest half': half['precision'] if half else 0.0,
            'coverage at precision 0.98': confidence['at_precision'][0.98]['coverage']}


def bootstrap_intervals(labels: list, predictions: dict, chosen: dict = None, resamples: int = 1000,
                        level: float = 0.95, seed: int = 0) -> dict:
    """figure -> (low, high): the percentile interval of headline_figures over `resamples` draws
    of the labels' images with replacement. By image, not by row, because the rows of one image
    are read from the same text and are right or wrong together."""
    by_image = defaultdict(list)
    for row in labels:
        by_image[row.get('image_link') or row['index']].append(row)
    images = list(by_image.values())
    draws = defaultdict(list)
    generator = np.random.default_rng(seed)
    for _ in range(resamples):
        drawn = [row for k in generator.integers(len(images), size=len(images)) for row in images[k]]
        for name, value in headline_figures(drawn, predictions, chosen).items():
            draws[name].append(value)
    tail = (1 - level) / 2 * 100
    return {name: tuple(round(float(x), 4) for x in np.percentile(values, [tail, 100 - tail]))
            for name, values in draws.items()}


def format_intervals(intervals: dict, resamples: int) -> str:
    return '\n'.join([f'95% intervals over {resamples} resamples of the images:']
                     + [f'  {name} {low:.4f}-{high:.4f}' for name, (low, high) in intervals.items()])


def main(argv=None) -> int:
    parser = StrictParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--labels', required=True, help='CSV with index, entity_name, entity_value.')
    parser.add_argument('--predictions', required=True, help='predictions.csv with index, prediction.')
    parser.add_argument('--confidence', help='The run\'s confidence.csv (default: the one beside --predictions, '
                                                 'if there is one): also report how far its confidences hold.')
    parser.add_argument('--json', action='store_true', help='Print the full result as JSON.')
    parser.add_argument('--intervals', type=int, default=0, metavar='N',
                        help='Also print a 95%% interval for each headline figure from N resamples of the '
                             'images (1000 is plenty; 0, the default, prints none).')
    args = parser.parse_args(argv)
    if args.intervals < 0:
        parser.error('--intervals must be 0 or more')
    labels = read_labels(args.labels)
    predictions = read_predictions(args.predictions)
    result = evaluate(labels, predictions)
    chosen = None
    confidence_path = args.confidence or os.path.join(os.path.dirname(args.predictions), 'confidence.csv')
    if args.confidence or os.path.isfile(confidence_path):
        try:
            chosen = read_confidence(confidence_path)
        except (OSError, ValueError) as error:
            print(f'evaluate: --confidence: {error}', file=sys.stderr)
            return 2
        result['confidence'] = confidence_result(labels, chosen, by_chance=True)
        result['confidence_mix_weighted'] = confidence_result(labels, chosen, weighted=True, by_chance=True)
    if args.intervals:
        result['intervals'] = bootstrap_intervals(labels, predictions, chosen, args.intervals)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(format_result(result))
    if 'confidence' in result:
        print(format_confidence(result['confidence'], f'confidence ({confidence_path})'))
        print(format_confidence(result['confidence_mix_weighted'], 'confidence, mix-weighted'))
    if 'intervals' in result:
        print(format_intervals(result['intervals'], args.intervals))
    return 0


if __name__ == '__main__':
    sys.exit(main())
