"""F1 of predictions.csv against labels, by the 2024 challenge's rules.

    python -m pipeline.evaluate --labels labels.csv --predictions out/predictions.csv [--json]

It follows ../shared/tools/score.py, the reference scorer, rule for rule (a test checks the
two agree): 'exact' compares strings as written (the official rule); 'numeric' compares
value and unit, so '500 gram' equals '500.0 gram'. A prediction that is not
'<number> <allowed unit>' is a format error and a false positive. A label may list the same
measure in two units, 'a | b' (the hand-read mix/ set): either is right. 'mix-weighted' weighs
each row by how common its entity is in the official test CSV against this file (TEST_MIX), so a
set where item_weight dominates is scored as if it had the test set's mix of two thirds
height, depth and width: the figure that predicts a real run.
"""
import argparse
import csv
import json
import sys
from collections import defaultdict

from transforms.units import ALL_UNITS, parse_value, same_value


# rows per entity in the official 131,187-row test CSV (as in score.py)
TEST_MIX = {'height': 32282, 'depth': 28146, 'width': 26931, 'item_weight': 22032,
            'maximum_weight_recommendation': 7028, 'voltage': 5488, 'wattage': 5447, 'item_volume': 3833}


def alternatives(label: str) -> list:
    """The right answers a label allows: '2.63 inch | 6.68 centimetre' -> both; '' -> ['']."""
    return [part.strip() for part in (label or '').split(' | ')]


def _same_numeric(prediction: str, truth: str) -> bool:
    """The prediction equals the label, or one of its ' | ' alternatives, in value and unit."""
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
                          'per_entity': {e: round(_f1(c)[0], 4) for e, c in sorted(by_entity.items()) if e != 'all'}}
    result['mix_weighted'] = {'f1': round(_f1(weighted)[0], 4), 'entities': sorted(weights)}
    return result


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
    lines.append('per entity (numeric F1): ' + ', '.join(
        f'{e} {v:.3f}' for e, v in result['numeric']['per_entity'].items()))
    lines.append(f"mix-weighted F1 {result['mix_weighted']['f1']:.4f} (numeric, rows weighted to the official "
                 f"test set's entity mix)")
    lines.append(f"F1 {result['numeric']['f1']:.4f}")
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--labels', required=True, help='CSV with index, entity_name, entity_value.')
    parser.add_argument('--predictions', required=True, help='predictions.csv with index, prediction.')
    parser.add_argument('--json', action='store_true', help='Print the full result as JSON.')
    args = parser.parse_args(argv)
    result = evaluate(read_labels(args.labels), read_predictions(args.predictions))
    print(json.dumps(result, indent=1) if args.json else format_result(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
