"""Error analysis: sort every wrong row of a run by where the truth was lost.

    python -m pipeline.errors --labels ../shared/data/dev/labels.csv --records OUT/records \
        [--predictions CV/dev.csv] [--examples 5] [--json]

Each labelled row falls in the first of these that holds:
  right                     the prediction matches the label (numeric rule; either side of an
                            'a | b' label), or the label is empty and so is the prediction
  not printed, predicted    the label is empty (the value is not in the image; mix/) but a
                            value was predicted: a false positive
  label unmatchable         the label is a range ('[100.0, 240.0] volt'): no prediction can match
  image failed              the image could not be fetched, decoded or read
  no OCR text               the OCR found no text at all
  OCR miss                  the label's number is nowhere in the OCR text
  number read, not parsed   the number is in the text, but in no candidate (not even a bare number)
  right value, wrong unit   a quantity has the label's value, none has its unit too
  choice error              a quantity matches the label, but the chooser took another
The counts show where the next gain lies: reading (OCR miss), parsing, or choosing. The table
gives each category's rows per entity too, since dimensions and weights fail differently.
"""
import argparse
import json
import re
import sys
from collections import Counter, defaultdict

from pipeline.evaluate import _same_numeric, alternatives, evaluate, read_labels, read_predictions
from pipeline.summary import read_records
from transforms.units import parse_value, same_value

CATEGORIES = ('right', 'not printed, predicted', 'label unmatchable', 'image failed', 'no OCR text', 'OCR miss',
              'number read, not parsed', 'right value, wrong unit', 'choice error')
_NUMBER = re.compile(r'\d+(?:[.,]\d+)*')
_COLUMNS = ['index', 'prediction', 'ocr_text', 'candidates', 'failure_stage', 'failure_reason']


def numbers_in(text: str) -> set:
    """Every number the text could mean: '1,5' counts as 1.5 and as 15, '1,500' as 1500."""
    found = set()
    for run in _NUMBER.findall(text or ''):
        for reading in (run.replace(',', '.'), run.replace(',', ''), run.replace('.', '').replace(',', '.')):
            try:
                found.add(round(float(reading), 6))
            except ValueError:
                pass
    return found


def classify(truth: str, prediction: str, ocr_text: str, candidates, failure_stage: str = '') -> str:
    """The category of one row (see the module docstring); candidates are dicts with value, unit."""
    if not (truth or '').strip():
        return 'not printed, predicted' if prediction else 'right'
    if prediction and _same_numeric(prediction, truth):
        return 'right'
    parsed = [p for p in map(parse_value, alternatives(truth)) if p is not None]
    if not parsed:
        return 'label unmatchable'
    if failure_stage and not ocr_text:
        return 'image failed'
    if not (ocr_text or '').strip():
        return 'no OCR text'
    read = [c for c in candidates or () if c.get('group') != 'usual']
    value_read = [(c, unit) for value, unit in parsed for c in read if same_value(c['value'], value)]
    if value_read:
        return 'choice error' if any(c['unit'] == unit for c, unit in value_read) else 'right value, wrong unit'
    if any(round(value, 6) in numbers_in(ocr_text) for value, _ in parsed):
        return 'number read, not parsed'
    return 'OCR miss'


def analyse(labels: list, records: list) -> dict:
    """{'counts': Counter by category, 'by_entity': entity -> Counter by category,
    'examples': category -> rows, 'rows': labelled rows found}."""
    by_index = {record['index']: record for record in records}
    counts, by_entity, examples = Counter(), defaultdict(Counter), defaultdict(list)
    for label in labels:
        record = by_index.get(label['index'])
        if record is None:
            continue
        category = classify(label['entity_value'], record['prediction'], record['ocr_text'],
                            record['candidates'], record['failure_stage'])
        counts[category] += 1
        by_entity[label['entity_name']][category] += 1
        examples[category].append({'index': label['index'], 'entity_name': label['entity_name'],
                                   'truth': label['entity_value'], 'prediction': record['prediction'],
                                   'image_link': label.get('image_link', '')})
    return {'rows': sum(counts.values()), 'counts': counts, 'by_entity': dict(by_entity), 'examples': examples}


# column heads of the per-entity counts, in the test set's order of frequency
ENTITY_COLUMNS = (('height', 'height'), ('depth', 'depth'), ('width', 'width'), ('item_weight', 'weight'),
                  ('maximum_weight_recommendation', 'maxwt'), ('voltage', 'volt'), ('wattage', 'watt'),
                  ('item_volume', 'volume'))


def format_table(result: dict, examples: int = 0) -> str:
    """One line per category: its rows, their share, then its rows for each entity."""
    rows = result['rows'] or 1
    by_entity = result.get('by_entity', {})
    lines = [f'{"category":26s} {"rows":>5s} {"share":>7s}' + ''.join(f' {head:>6s}' for _, head in ENTITY_COLUMNS)]
    for category in CATEGORIES:
        n = result['counts'].get(category, 0)
        lines.append(f'{category:26s} {n:5d} {n / rows:7.1%}' + ''.join(
            f' {by_entity.get(entity, {}).get(category, 0):6d}' for entity, _ in ENTITY_COLUMNS))
        for example in result['examples'].get(category, [])[:examples] if category != 'right' else []:
            lines.append(f'    {example["index"]} {example["entity_name"]}: truth {example["truth"]!r}, '
                         f'predicted {example["prediction"]!r}, {example["image_link"].rsplit("/", 1)[-1]}')
    lines.append(f'{"all labelled rows":26s} {result["rows"]:5d} {"":7s}' + ''.join(
        f' {sum(by_entity.get(entity, {}).values()):6d}' for entity, _ in ENTITY_COLUMNS))
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--labels', required=True, help='CSV with index, entity_name, entity_value.')
    parser.add_argument('--records', required=True, help='The records/ folder (or the output folder) of a run.')
    parser.add_argument('--predictions', help='Judge these predictions (index, prediction) instead of the '
                                              'run\'s own, e.g. the cross-validated ones train_chooser writes.')
    parser.add_argument('--examples', type=int, default=0, help='Show this many rows of each kind of error.')
    parser.add_argument('--json', action='store_true', help='Print the counts as JSON.')
    args = parser.parse_args(argv)
    records = read_records(args.records, _COLUMNS).to_pylist()
    if args.predictions:
        predicted = read_predictions(args.predictions)
        records = [dict(record, prediction=predicted.get(record['index'], '')) for record in records]
    labels = read_labels(args.labels)
    result = analyse(labels, records)
    scores = evaluate(labels, {record['index']: record['prediction'] for record in records})
    if args.json:
        print(json.dumps({'rows': result['rows'], 'counts': dict(result['counts']),
                          'by_entity': {e: dict(c) for e, c in result['by_entity'].items()},
                          'numeric_f1': scores['numeric']['f1'], 'mix_weighted_f1': scores['mix_weighted']['f1']},
                         indent=2))
    else:
        print(format_table(result, args.examples))
        print(f"numeric F1 {scores['numeric']['f1']:.4f}, mix-weighted F1 {scores['mix_weighted']['f1']:.4f} "
              f"(as ../shared/tools/score.py counts them)")
    return 0


if __name__ == '__main__':
    sys.exit(main())
