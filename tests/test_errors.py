"""Error analysis: every labelled row sorted by where its truth was lost."""
import json

import pytest

from pipeline.errors import CATEGORIES, analyse, classify, format_table, format_unit_choices, numbers_in, unit_choices
from transforms.logic.priors import Priors, build_priors


def cand(value, unit):
    return {'value': value, 'unit': unit}


# (truth, prediction, ocr_text, candidates, failure_stage) -> category
CASES = [
    (('500 gram', '500.0 gram', 'Net Wt 500 g', [cand(500.0, 'gram')], ''), 'right'),
    (('[100.0, 240.0] volt', '100.0 volt', 'Input 100-240V', [cand(100.0, 'volt'), cand(240.0, 'volt')], ''),
     'label unmatchable'),
    (('500.0 gram', '', '', [], 'fetch'), 'image failed'),
    (('500.0 gram', '', '', [], 'decode'), 'image failed'),
    (('500.0 gram', '', ' \n ', [], ''), 'no OCR text'),
    (('500.0 gram', '', '', [], ''), 'no OCR text'),
    (('500.0 gram', '250.0 gram', 'Net Wt 250 g', [cand(250.0, 'gram')], ''), 'OCR miss'),
    (('500.0 gram', '', 'Net Wt 500', [], ''), 'number read, not parsed'),
    (('500.0 gram', '', 'Net Wt 500 gold', [cand(250.0, 'gram')], ''), 'number read, not parsed'),
    (('500.0 gram', '500.0 ounce', 'Net Wt 500 oz', [cand(500.0, 'ounce')], ''), 'right value, wrong unit'),
    (('500.0 gram', '250.0 gram', 'Serving 250 g Net Wt 500 g', [cand(250.0, 'gram'), cand(500.0, 'gram')], ''),
     'choice error'),
    (('500.0 gram', '', 'Net Wt 500 g', [cand(500.0, 'gram')], ''), 'choice error'),  # a blank is a choice too
    (('', '', 'Made in Italy', [], ''), 'right'),  # the value is not printed, and nothing was predicted
    (('', '12.0 inch', 'Size 12 in', [cand(12.0, 'inch')], ''), 'not printed, predicted'),
    (('96.0 inch | 244.0 centimetre', '244.0 centimetre', '244 cm', [cand(244.0, 'centimetre')], ''), 'right'),
    (('96.0 inch | 244.0 centimetre', '12.0 inch', '96in 12in', [cand(96.0, 'inch'), cand(12.0, 'inch')], ''),
     'choice error'),
    (('96.0 inch | 244.0 centimetre', '', '244 mm', [cand(244.0, 'millimetre')], ''), 'right value, wrong unit'),
    (('96.0 inch | 244.0 centimetre', '', 'size 244', [], ''), 'number read, not parsed'),
    (('15.7 inch', '40.0 centimetre', '40 cm (15.7 in)', [cand(40.0, 'centimetre'), cand(15.7, 'inch')], ''),
     'the measure, other unit'),
    (('200 gram', '7.0 ounce', 'Net Wt 7 oz', [cand(7.0, 'ounce')], ''), 'the measure, other unit'),
]


@pytest.mark.parametrize('args, category', CASES)
def test_classify(args, category):
    assert classify(*args) == category


def test_every_category_has_a_case():
    assert {category for _, category in CASES} == set(CATEGORIES)


def test_a_failure_after_ocr_is_judged_by_the_text_it_left():
    # the row failed late (choose) but its OCR text is there: the text decides
    assert classify('500.0 gram', '', 'Net Wt 500 g', [cand(500.0, 'gram')], 'choose') == 'choice error'
    assert classify('500.0 gram', '', 'Net Wt 250 g', [cand(250.0, 'gram')], 'choose') == 'OCR miss'


def test_the_groups_usual_value_among_the_candidates_is_no_reading():
    usual = dict(cand(500.0, 'gram'), group='usual')
    assert classify('500.0 gram', '12.0 gram', 'Net Wt 12 g', [cand(12.0, 'gram'), usual], '') == 'OCR miss'
    assert classify('500.0 gram', '', 'hello', [usual], '') == 'OCR miss'


def test_right_needs_the_same_unit_and_value():
    assert classify('500.0 gram', '500 gram', 'x', [], '') == 'right'
    assert classify('500.0 gram', '0.5 kilogram', '0.5 kg', [cand(0.5, 'kilogram')], '') == 'the measure, other unit'


def test_another_measure_or_another_kind_of_unit_is_no_unit_loss():
    assert classify('500.0 gram', '0.6 kilogram', '0.6 kg', [cand(0.6, 'kilogram')], '') == 'OCR miss'
    # 10 fluid ounces are about 10 ounces of water, but a volume is no weight
    assert classify('10.0 ounce', '10.0 fluid ounce', '10 fl oz', [cand(10.0, 'fluid ounce')], '') == \
        'right value, wrong unit'


def test_decimal_comma_in_the_text_is_a_read_number():
    assert classify('1.5 kilogram', '', 'Netto 1,5 kg', [cand(1.5, 'kilogram')], '') == 'choice error'
    assert classify('1500.0 gram', '', 'Net 1,500 g', [cand(1500.0, 'gram')], '') == 'choice error'


@pytest.mark.parametrize('text, expected', [
    ('1,5', {1.5}),
    ('1,500', {1500.0}),
    ('12.5V', {12.5}),
    ('1.500,5 kg', {1500.5}),
    ('100-240V 50/60Hz', {100.0, 240.0, 50.0, 60.0}),
])
def test_numbers_in_reads_every_meaning(text, expected):
    assert expected <= numbers_in(text)


def test_numbers_in_does_not_invent_numbers():
    assert numbers_in('') == set() and numbers_in(None) == set()
    assert numbers_in('no digits here') == set()
    assert 500.0 not in numbers_in('50 0g 5000')


@pytest.mark.parametrize('truth, text, candidate', [
    ('0.5 ounce', 'Net Wt .5 oz', cand(0.5, 'ounce')),
    ('0.5 pound', 'Net Wt 1/2 lb', cand(0.5, 'pound')),
    ('500.0 gram', 'Net Wt 5O0g', cand(500.0, 'gram')),
])
def test_a_value_the_parser_read_is_no_ocr_miss(truth, text, candidate):
    assert classify(truth, '', text, [candidate], '') == 'choice error'


def test_analyse_counts_each_labelled_row_once_and_skips_rows_without_a_record():
    labels, records = [], []
    for number, ((truth, prediction, text, candidates, stage), _) in enumerate(CASES):
        labels.append({'index': str(number), 'entity_name': 'item_weight', 'entity_value': truth,
                       'image_link': f'https://x/i/{number}.jpg'})
        records.append({'index': str(number), 'prediction': prediction, 'ocr_text': text,
                        'candidates': candidates, 'failure_stage': stage})
    labels.append({'index': 'missing', 'entity_name': 'width', 'entity_value': '5.0 centimetre'})
    records.append({'index': 'unlabelled', 'prediction': '', 'ocr_text': '', 'candidates': [], 'failure_stage': ''})
    result = analyse(labels, records)
    assert result['rows'] == len(CASES)
    for category in CATEGORIES:
        expected = [str(n) for n, (_, c) in enumerate(CASES) if c == category]
        assert result['counts'][category] == len(expected)
        assert [e['index'] for e in result['examples'][category]] == expected


def test_format_table_lists_every_category_with_its_count():
    counts = {category: number + 1 for number, category in enumerate(CATEGORIES)}
    examples = {'choice error': [{'index': '42', 'entity_name': 'voltage', 'truth': '12.0 volt',
                                  'prediction': '240.0 volt', 'image_link': 'https://x/i/abc.jpg'}],
                'right': [{'index': '7', 'entity_name': 'voltage', 'truth': '5.0 volt',
                           'prediction': '5.0 volt', 'image_link': 'https://x/i/r.jpg'}]}
    result = {'rows': sum(counts.values()), 'counts': counts, 'examples': examples}
    table = format_table(result, examples=1)
    lines = table.splitlines()
    for category in CATEGORIES:
        [line] = [line for line in lines if line[:26].strip() == category]
        assert line[26:].split()[0] == str(counts[category])
    assert lines[-1][26:].split()[0] == str(result['rows'])
    assert "truth '12.0 volt'" in table and 'abc.jpg' in table
    assert 'r.jpg' not in table  # right rows are never listed as examples
    assert 'abc.jpg' not in format_table(result)  # no examples unless asked


def test_format_table_counts_each_category_per_entity():
    labels = [{'index': '1', 'entity_name': 'height', 'entity_value': '5.0 inch'},
              {'index': '2', 'entity_name': 'height', 'entity_value': '6.0 inch'},
              {'index': '3', 'entity_name': 'voltage', 'entity_value': '12.0 volt'}]
    records = [{'index': '1', 'prediction': '5.0 inch', 'ocr_text': '5 in', 'candidates': [], 'failure_stage': ''},
               {'index': '2', 'prediction': '', 'ocr_text': 'x', 'candidates': [], 'failure_stage': ''},
               {'index': '3', 'prediction': '', 'ocr_text': 'y', 'candidates': [], 'failure_stage': ''}]
    lines = format_table(analyse(labels, records)).splitlines()
    head = lines[0].split()
    miss = [line for line in lines if line.startswith('OCR miss')][0][26:].split()
    assert miss[0] == '2' and miss[head.index('height') - 1] == '1' and miss[head.index('volt') - 1] == '1'
    assert miss[head.index('width') - 1] == '0'


def test_format_table_of_nothing():
    table = format_table({'rows': 0, 'counts': {}, 'examples': {}})
    assert all(category in table for category in CATEGORIES)


def test_errors_judges_other_predictions_when_given(tmp_path, capsys):
    """--predictions replaces the run's own (e.g. cross-validated ones from train_chooser)."""
    import csv
    import pyarrow as pa
    import pyarrow.parquet as pq
    from pipeline.errors import main
    (tmp_path / 'records').mkdir()
    pq.write_table(pa.Table.from_pylist([
        {'index': '1', 'prediction': '5.0 inch', 'ocr_text': '5 in 6 in', 'failure_stage': '', 'failure_reason': '',
         'candidates': [{'value': 5.0, 'unit': 'inch', 'group': 'single'}, {'value': 6.0, 'unit': 'inch', 'group': 'single'}]}]),
        tmp_path / 'records' / 'records-00000-of-00001.parquet')
    with open(tmp_path / 'labels.csv', 'w', newline='') as handle:
        csv.writer(handle).writerows([('index', 'entity_name', 'entity_value'), ('1', 'height', '6.0 inch')])
    with open(tmp_path / 'cv.csv', 'w', newline='') as handle:
        csv.writer(handle).writerows([('index', 'prediction'), ('1', '6.0 inch')])
    args = ['--labels', str(tmp_path / 'labels.csv'), '--records', str(tmp_path / 'records'), '--json']
    main(args)
    printed = json.loads(capsys.readouterr().out)
    assert printed['counts'] == {'choice error': 1} and printed['numeric_f1'] == 0.0
    main(args + ['--predictions', str(tmp_path / 'cv.csv')])
    printed = json.loads(capsys.readouterr().out)
    assert printed['counts'] == {'right': 1} and printed['numeric_f1'] == printed['mix_weighted_f1'] == 1.0
    main(args[:-1])
    assert 'numeric F1 0.0000, mix-weighted F1 0.0000' in capsys.readouterr().out


def test_unit_choices_tally_the_rows_whose_labelled_measure_was_read_in_two_units():
    """Two lengths read in cm and inches, the catalogue keeping inches on one; a weight read in
    grams and ounces whose group labels grams; rows read in one unit only are left out."""
    priors = Priors(build_priors([{'group_id': 'g', 'entity_name': 'item_weight', 'entity_value': '1.0 gram'}] * 2
                                 + [{'group_id': 'g', 'entity_name': 'width', 'entity_value': '1.0 centimetre'}]))
    twins = [dict(cand(40.0, 'centimetre'), allowed=True), dict(cand(15.7, 'inch'), allowed=True)]
    labels = [{'index': '1', 'group_id': 'g', 'entity_name': 'width', 'entity_value': '15.7 inch'},
              {'index': '2', 'group_id': 'g', 'entity_name': 'width', 'entity_value': '40.0 centimetre'},
              {'index': '3', 'group_id': 'g', 'entity_name': 'item_weight', 'entity_value': '200.0 gram'},
              {'index': '4', 'group_id': 'g', 'entity_name': 'width', 'entity_value': '9.0 inch'}]
    records = [{'index': '1', 'prediction': '40.0 centimetre', 'candidates': twins},
               {'index': '2', 'prediction': '40.0 centimetre', 'candidates': twins},
               {'index': '3', 'prediction': '7.05 ounce',
                'candidates': [dict(cand(200.0, 'gram'), allowed=True), dict(cand(7.05, 'ounce'), allowed=True)]},
               {'index': '4', 'prediction': '9.0 inch', 'candidates': [dict(cand(9.0, 'inch'), allowed=True)]}]
    tally = unit_choices(labels, records, priors)
    assert dict(tally['dimensions']) == {'rows': 2, 'label metric': 1, "group's habit names it": 1,
                                         'prediction right': 1, 'prediction in the other unit': 1}
    assert dict(tally['other entities']) == {'rows': 1, 'label metric': 1, "group's habit names it": 1,
                                             'prediction right': 0, 'prediction in the other unit': 1}
    assert format_unit_choices(tally).splitlines()[2].split() == ['dimensions', '2', '1', '1', '1', '1']
