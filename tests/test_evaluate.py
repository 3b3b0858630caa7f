"""pipeline.evaluate agrees with the reference scorer ../shared/tools/score.py."""
import csv
import importlib.util
import os
import random

import pytest

from pipeline.evaluate import evaluate
from transforms.units import parse_value

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..', 'shared')
SCORER = os.path.join(SHARED, 'tools', 'score.py')
DEV_LABELS = os.path.join(SHARED, 'data', 'dev', 'labels.csv')


def test_parse_value():
    assert parse_value(' 500.0  gram ') == (500.0, 'gram')
    assert parse_value('1.5 fluid  ounce') == (1.5, 'fluid ounce')
    assert parse_value('[100.0, 240.0] volt') is None
    assert parse_value('gram') is None


def test_counts_on_a_small_table():
    labels = [{'index': '1', 'entity_name': 'item_weight', 'entity_value': '500 gram'},
              {'index': '2', 'entity_name': 'item_weight', 'entity_value': '2.0 kilogram'},
              {'index': '3', 'entity_name': 'voltage', 'entity_value': '12.0 volt'},
              {'index': '4', 'entity_name': 'voltage', 'entity_value': ''}]
    result = evaluate(labels, {'1': '500.0 gram', '2': '2.0 kg', '3': '', '4': '5.0 volt'})
    # numeric: 1 tp, 2 fp (format error 'kg' and the unlabelled row), 1 fn
    assert result['numeric']['precision'] == round(1 / 3, 4)
    assert result['numeric']['recall'] == 0.5
    assert result['exact']['f1'] == 0.0
    assert result['format_errors'] == 1
    assert result['numeric']['per_entity']['voltage'] == 0.0


def load_scorer():
    spec = importlib.util.spec_from_file_location('reference_score', SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(not os.path.exists(DEV_LABELS), reason='../shared/data is not here')
def test_agrees_with_reference_scorer_on_dev_labels(tmp_path, capsys):
    with open(DEV_LABELS, newline='') as handle:
        labels = list(csv.DictReader(handle))
    rng = random.Random(0)
    predictions = {}
    for row in labels:  # a mix of right, integer-written, wrong, malformed and blank predictions
        value = row['entity_value']
        choice = rng.random()
        if choice < 0.4:
            predictions[row['index']] = value
        elif choice < 0.55 and value:
            number, unit = value.split(' ', 1)
            predictions[row['index']] = f'{number.removesuffix(".0")} {unit}'
        elif choice < 0.7:
            predictions[row['index']] = '3.0 gram'
        elif choice < 0.75:
            predictions[row['index']] = '3 grams'
        else:
            predictions[row['index']] = ''
    path = tmp_path / 'predictions.csv'
    with open(path, 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(('index', 'prediction'))
        writer.writerows(predictions.items())
    load_scorer().main(['score.py', DEV_LABELS, str(path), '--json'])
    import json
    reference = json.loads(capsys.readouterr().out)
    ours = evaluate(labels, predictions)
    for metric in ('numeric', 'exact'):
        assert ours[metric] == reference[metric]
    assert ours['format_errors'] == reference['format_errors'] > 0
