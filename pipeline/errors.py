"""Error analysis: sort every wrong row of a run by where the truth was lost.

    python -m pipeline.errors --labels ../shared/data/dev/labels.csv --records OUT/records \
        [--predictions CV/dev.csv] [--examples 5] [--json]

Each labelled row falls in the first of these that holds:
  right                     the prediction matches the label (numeric rule; either side of an
                            'a | b' label), or the label is empty and so is the prediction
  not printed, predicted    the label is empty (the value is not in the image; mix/) but a
                            value was predicted: a false positive
  the measure, other unit   the prediction is the labelled measure in another unit ('40 cm'
                            for 15.7 inch): lost to the catalogue's choice of unit alone
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
import json
import re
import sys
from collections import Counter, defaultdict

from pipeline.arguments import StrictParser
from pipeline.evaluate import _same_numeric, alternatives, evaluate, read_labels, read_predictions
from pipeline.summary import read_records
from transforms.logic.features import same_measure
from transforms.logic.priors import load_priors
from transforms.logic.units import ENTITY_UNITS, METRIC_UNITS, TO_BASE_UNIT, parse_value, same_value

CATEGORIES = ('right', 'not printed, predicted', 'the measure, other unit', 'label unmatchable', 'image failed', 'no OCR text', 'OCR miss',
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
    if prediction and any(in_other_unit(parse_value(prediction), label) for label in parsed):
        return 'the measure, other unit'
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


def in_other_unit(prediction, label) -> bool:
    """(value, unit) pairs: the same measure in another unit of its kind ('40 cm' and '15.7 in')."""
    if prediction is None or prediction[1] == label[1] or prediction[1] not in TO_BASE_UNIT \
            or label[1] not in TO_BASE_UNIT:
        return False
    if not any({prediction[1], label[1]} <= units for units in ENTITY_UNITS.values()):
        return False
    return same_measure(prediction[0] * TO_BASE_UNIT[prediction[1]], label[0] * TO_BASE_UNIT[label[1]])


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


def unit_choices(labels: list, records: list, priors) -> dict:
    """Of the rows whose one labelled measure was read in two units ('40 cm (15.7 in)'), per kind
    ('dimensions', 'other entities'): the rows, and of them how often the label's unit is the
    metric one, is the one the product group's training labels use more than the other read unit
    (priors), and is the prediction's (the prediction right), or the prediction is the other unit's.
    Whether anything but the picture says which unit a catalogue keeps."""
    by_index = {record['index']: record for record in records}
    tally = defaultdict(Counter)
    for label in labels:
        record, parsed = by_index.get(label['index']), parse_value(label['entity_value'])
        if record is None or parsed is None or ' | ' in label['entity_value']:
            continue
        value, unit = parsed
        read = [c for c in record['candidates'] or ()
                if c['allowed'] and c.get('group') not in ('usual', 'bare', 'glued')]
        twins = [c for c in read if in_other_unit((c['value'], c['unit']), parsed)]
        if not twins or not any(c['unit'] == unit and same_value(c['value'], value) for c in read):
            continue
        counts = priors.group_unit_counts(label['entity_name'], label['group_id'])
        kind = tally['dimensions' if label['entity_name'] in ('width', 'depth', 'height') else 'other entities']
        kind['rows'] += 1
        kind['label metric'] += unit in METRIC_UNITS
        kind["group's habit names it"] += counts.get(unit, 0) > max(counts.get(c['unit'], 0) for c in twins)
        kind['prediction right'] += _same_numeric(record['prediction'], label['entity_value'])
        kind['prediction in the other unit'] += any(
            _same_numeric(record['prediction'], f"{c['value']} {c['unit']}") for c in twins)
    return tally


UNIT_HEADS = (('rows', 'rows'), ('label metric', 'metric'), ("group's habit names it", 'group'),
              ('prediction right', 'right'), ('prediction in the other unit', 'other'))


def format_unit_choices(tally: dict) -> str:
    lines = ['which unit the labels keep, of the rows whose labelled measure was read in two units (metric: the '
             'label\'s unit is metric; group: the product group\'s training labels use it more; right: the '
             'prediction is the label; other: the prediction is the other unit\'s):',
             f'{"":16s}' + ''.join(f' {head:>7s}' for _, head in UNIT_HEADS)]
    lines += [f'{kind:16s}' + ''.join(f' {counts[key]:7d}' for key, _ in UNIT_HEADS)
              for kind, counts in sorted(tally.items())] or ['  (none: every such label accepts either unit)']
    return '\n'.join(lines)


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
    parser = StrictParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--labels', required=True, help='CSV with index, entity_name, entity_value.')
    parser.add_argument('--records', required=True, help='The records/ folder (or the output folder) of a run.')
    parser.add_argument('--predictions', help='Judge these predictions (index, prediction) instead of the '
                                              'run\'s own, e.g. the cross-validated ones train_chooser writes.')
    parser.add_argument('--examples', type=int, default=0, help='Show this many rows of each kind of error.')
    parser.add_argument('--json', action='store_true', help='Print the counts as JSON.')
    parser.add_argument('--units', action='store_true',
                        help='Also say, for the rows whose labelled measure was read in two units, how often the '
                             'label kept the metric one, the one its product group\'s training labels use most, '
                             'and the predicted one (unit_choices).')
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
              f"(as the challenge's scorer counts them)")
        if args.units:
            print(format_unit_choices(unit_choices(labels, records, load_priors())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
