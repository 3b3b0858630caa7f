"""pipeline.evaluate agrees with the reference scorer ../shared/tools/score.py."""
import csv
import importlib.util
import os
import random

import pytest

from pipeline.evaluate import evaluate
from transforms.logic.units import parse_value

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), '..', 'shared')
SCORER = os.path.join(SHARED, 'tools', 'score.py')
DEV_LABELS = os.path.join(SHARED, 'data', 'dev', 'labels.csv')
MIX_LABELS = os.path.join(SHARED, 'data', 'mix', 'labels.csv')


def labelled(*rows):
    """Label dicts, indexed from 1, from (entity_name, entity_value) pairs."""
    return [{'index': str(number), 'entity_name': entity, 'entity_value': value}
            for number, (entity, value) in enumerate(rows, 1)]


def test_parse_value():
    assert parse_value(' 500.0  gram ') == (500.0, 'gram')
    assert parse_value('1.5 fluid  ounce') == (1.5, 'fluid ounce')
    assert parse_value('[100.0, 240.0] volt') is None
    assert parse_value('gram') is None


def test_counts_on_a_small_table():
    labels = labelled(('item_weight', '500 gram'), ('item_weight', '2.0 kilogram'), ('voltage', '12.0 volt'),
                      ('voltage', ''))
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


def test_either_alternative_of_a_label_is_right_and_an_empty_label_takes_no_prediction():
    labels = labelled(('width', '96.0 inch | 244.0 centimetre'), ('width', '96.0 inch | 244.0 centimetre'),
                      ('height', ''), ('height', '10.0 inch'))
    result = evaluate(labels, {'1': '244 centimetre', '2': '96.0 inch', '3': '5.0 inch', '4': ''})
    assert (result['numeric']['precision'], result['numeric']['recall']) == (round(2 / 3, 4), round(2 / 3, 4))
    assert result['exact']['precision'] == round(1 / 3, 4)  # '244 centimetre' is not written as labelled


def test_mix_weighted_f1_weighs_rows_by_the_test_sets_entity_mix():
    # one right width row, one wrong item_weight row: width is 26931 of the test mix's two entities
    labels = labelled(('width', '1.0 inch'), ('item_weight', '1.0 gram'))
    result = evaluate(labels, {'1': '1.0 inch', '2': '2.0 gram'})
    width = 26931 / (26931 + 22032)
    assert result['numeric']['f1'] == round(2 / 3, 4)  # P 1/2, R 1: a wrong value is a false positive
    assert result['mix_weighted']['f1'] == round(2 * width / (1 + width), 4)  # P = the width share, R 1


@pytest.mark.parametrize('labels_path', [DEV_LABELS, MIX_LABELS], ids=['dev', 'mix'])
def test_agrees_with_reference_scorer_on_real_labels(labels_path, tmp_path, capsys):
    if not os.path.exists(labels_path):
        pytest.skip('../shared/data is not here')
    with open(labels_path, newline='') as handle:
        labels = list(csv.DictReader(handle))
    rng = random.Random(0)
    predictions = {}
    for row in labels:  # a mix of right, integer-written, wrong, malformed and blank predictions
        value = rng.choice(row['entity_value'].split(' | '))
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
    load_scorer().main(['score.py', labels_path, str(path), '--json'])
    import json
    reference = json.loads(capsys.readouterr().out)
    ours = evaluate(labels, predictions)
    for metric in ('numeric', 'exact', 'mix_weighted'):
        assert ours[metric] == reference[metric]
    assert ours['format_errors'] == reference['format_errors'] > 0


def test_rows_of_unknown_entities_are_scored_but_counted_apart():
    labels = labelled(('item_weight', '500.0 gram'), ('colour', ''), ('', ''), ('colour', ''))
    result = evaluate(labels, {'1': '500.0 gram', '2': '3.0 gram'})
    assert set(result['numeric']['per_entity']) == {'item_weight'}  # no F1 of 0 for 'colour' or ''
    assert result['unknown_entities'] == {'rows': 3, 'names': ['', 'colour']}
    assert result['numeric']['precision'] == 0.5  # the prediction on a 'colour' row still counts as wrong


def test_printed_per_entity_line_names_only_real_entities(tmp_path, capsys):
    from pipeline.evaluate import main
    (tmp_path / 'labels.csv').write_text('index,entity_name,entity_value\n1,item_weight,500.0 gram\n'
                                         '2,colour,\n3,,\n')
    (tmp_path / 'predictions.csv').write_text('index,prediction\n1,500.0 gram\n2,\n3,\n')
    assert main(['--labels', str(tmp_path / 'labels.csv'), '--predictions', str(tmp_path / 'predictions.csv')]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith('per entity'))
    assert line == 'per entity (numeric F1): item_weight 1.000; unknown entity names: 2 rows ((blank), colour)'


def images_of(rows_per_image, right_images, images):
    """Labels and predictions for `images` images of `rows_per_image` item_weight rows each, the
    rows of the first `right_images` images predicted right and the others wrong."""
    labels, predictions = [], {}
    for image in range(images):
        for row in range(rows_per_image):
            index = f'{image}-{row}'
            labels.append({'index': index, 'image_link': f'https://example.com/{image}.jpg',
                           'entity_name': 'item_weight', 'entity_value': '500.0 gram'})
            predictions[index] = '500.0 gram' if image < right_images else '400.0 gram'
    return labels, predictions


def test_intervals_resample_whole_images_not_rows():
    from pipeline.evaluate import bootstrap_intervals
    # one image read right in all its 10 rows, one read wrong: drawn by image, a resample holds
    # 0, 1 or 2 copies of the right image, so F1 is 0, 0.5 or 1; drawn by row it would stay near 0.5
    labels, predictions = images_of(10, 1, 2)
    assert bootstrap_intervals(labels, predictions, resamples=400)['numeric F1'] == (0.0, 1.0)


def test_intervals_hold_the_figure_and_narrow_with_more_images():
    from pipeline.evaluate import bootstrap_intervals
    few = bootstrap_intervals(*images_of(1, 30, 40), resamples=400)['numeric F1']
    many = bootstrap_intervals(*images_of(1, 300, 400), resamples=400)['numeric F1']
    f1 = evaluate(*images_of(1, 300, 400))['numeric']['f1']  # 0.75 on both sets
    assert few[0] < f1 < few[1] and many[0] < f1 < many[1]
    assert (many[1] - many[0]) < 0.5 * (few[1] - few[0])  # ten times the images: about a third as wide


def test_intervals_of_the_confidence_figures_are_reproducible(tmp_path, capsys):
    from pipeline.evaluate import bootstrap_intervals, main
    labels, predictions = images_of(1, 60, 80)
    chosen = {index: (prediction, 0.9 if prediction == '500.0 gram' else 0.6)
              for index, prediction in predictions.items()}
    intervals = bootstrap_intervals(labels, predictions, chosen, resamples=300)
    assert intervals == bootstrap_intervals(labels, predictions, chosen, resamples=300)
    assert intervals['precision on the surest half'] == (1.0, 1.0)  # the right rows all rank first
    assert intervals['coverage at precision 0.98'][0] < 0.75 < intervals['coverage at precision 0.98'][1]
    with open(tmp_path / 'labels.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=list(labels[0]))
        writer.writeheader()
        writer.writerows(labels)
    with open(tmp_path / 'confidence.csv', 'w', newline='') as handle:
        handle.write('index,prediction,confidence\n' + ''.join(f'{i},{p},{c}\n' for i, (p, c) in chosen.items()))
    (tmp_path / 'predictions.csv').write_text(
        'index,prediction\n' + ''.join(f'{i},{p}\n' for i, p in predictions.items()))
    assert main(['--labels', str(tmp_path / 'labels.csv'), '--predictions', str(tmp_path / 'predictions.csv'),
                 '--intervals', '300']) == 0
    out = capsys.readouterr().out.splitlines()
    start = out.index('95% intervals over 300 resamples of the images:')
    low, high = intervals['coverage at precision 0.98']
    assert f'  coverage at precision 0.98 {low:.4f}-{high:.4f}' in out[start:]
    with pytest.raises(SystemExit):
        main(['--labels', str(tmp_path / 'labels.csv'), '--predictions', str(tmp_path / 'predictions.csv'),
              '--intervals', '-1'])
