"""`make train` end to end on drawn images: records of a real run -> candidates -> model file."""
import csv
import json
import os

import numpy as np
import pytest

from pipeline import train_chooser
from pipeline.evaluate import read_labels
from pipeline.run import run
from transforms.logic.chooser import TreeModel
from transforms.logic.features import FEATURES
from transforms.logic.priors import load_priors

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def drawn_run(tmp_path_factory, model_path):
    """A rules-chooser run over the drawn job, and a labels file for it."""
    from tests.conftest import DRAWN
    from tests.images import encode, label_image
    root = tmp_path_factory.mktemp('train')
    (root / 'images').mkdir()
    rows = []
    # six images so that two folds by image have rows on both sides
    for copy in range(2):
        for name, entity, lines, value in DRAWN:
            stem, ext = name.rsplit('.', 1)
            file = f'{stem}{copy}.{ext}'
            (root / 'images' / file).write_bytes(encode(label_image(lines + [f'Lot {copy}']), 'PNG' if ext == 'png' else 'JPEG'))
            rows.append((str(len(rows)), f'https://cdn.example.com/i/{file}', '7', entity, value))
    with open(root / 'input.csv', 'w', newline='') as handle:
        writer = csv.writer(handle, lineterminator='\n')
        writer.writerow(('index', 'image_link', 'group_id', 'entity_name'))
        writer.writerows(row[:4] for row in rows)
    with open(root / 'labels.csv', 'w', newline='') as handle:
        writer = csv.writer(handle, lineterminator='\n')
        writer.writerow(('index', 'image_link', 'group_id', 'entity_name', 'entity_value'))
        writer.writerows(rows)
    run([f'--input={root / "input.csv"}', f'--images_dir={root / "images"}', f'--output={root / "out"}',
         f'--model_path={model_path}', '--chooser=rules', '--runner=DirectRunner'])
    return root


@pytest.mark.slow
def test_candidates_are_rebuilt_from_recorded_words(drawn_run):
    labels = read_labels(str(drawn_run / 'labels.csv'))
    rows = train_chooser.labelled_candidates(str(drawn_run / 'out' / 'records'), labels, load_priors())
    assert len(rows) == len(labels)
    features, right, row_of = train_chooser.training_matrix(rows)
    assert features.shape[1] == len(FEATURES) and len(right) == len(row_of) == len(features)
    # every drawn label is readable, so each row has exactly one right allowed candidate
    assert sorted(row_of[right].tolist()) == list(range(len(labels)))


@pytest.mark.slow
def test_training_writes_a_model_the_pipeline_can_load(drawn_run, capsys):
    out = drawn_run / 'chooser.json'
    assert train_chooser.main(['--records', str(drawn_run / 'out'), '--labels', str(drawn_run / 'labels.csv'),
                               '--out', str(out), '--folds', '2']) == 0
    printed = capsys.readouterr().out
    assert 'learned chooser, 2 folds by image' in printed and 'rule chooser' in printed
    # the cross-validated figures' intervals: from resamples of the images, around the figure itself
    intervals = printed.split('95% intervals over 1000 resamples of the images:\n')[1].splitlines()
    low, high = map(float, next(line for line in intervals if 'numeric F1' in line).split()[-1].split('-'))
    figure = float(printed.split('learned chooser, 2 folds by image:')[1].split('numeric  F1 ')[1].split()[0])
    assert low <= figure <= high
    model = TreeModel(json.loads(out.read_text()))
    assert model.trees and 0.0 <= model.probability([0.0] * len(FEATURES)) <= 1.0


@pytest.mark.parametrize('all_right', [True, False])
def test_candidates_all_right_or_all_wrong_give_a_sure_constant_model(all_right):
    """A tiny set's fold may hold one class only, which GradientBoostingClassifier refuses."""
    features, right = np.zeros((4, len(FEATURES))), np.full(4, all_right)
    model = TreeModel(train_chooser.export(train_chooser.fit(features, right)))
    assert not model.trees
    assert model.probability(features[0]) == pytest.approx(1.0 if all_right else 0.0, abs=1e-3)


@pytest.mark.parametrize('seed', [None, 0, 1])
def test_folds_keep_every_image_on_one_side(seed):
    images = [f'img{n % 7}' for n in range(40)]  # 7 images, several rows each
    splits = train_chooser.splits_by_image(images, 5, seed)
    assert len(splits) == 5
    tested = sorted(i for _, test in splits for i in test)
    assert tested == list(range(40))  # every row is scored exactly once
    for train, test in splits:
        assert not {images[i] for i in train} & {images[i] for i in test}
        assert len(train) + len(test) == 40


def test_random_deals_differ_by_seed_and_repeat_with_it():
    images = [f'img{n}' for n in range(50)]
    deal = lambda seed: [sorted(test.tolist()) for _, test in train_chooser.splits_by_image(images, 5, seed)]
    assert deal(3) == deal(3)
    assert deal(3) != deal(4)


@pytest.mark.slow
def test_two_sets_train_together_and_are_reported_apart(drawn_run, tmp_path, capsys):
    """A second set whose labels say the value is not printed on two of its rows: its rows are
    named by their set, so equal indices never collide, and each set is scored on its own."""
    labels = read_labels(str(drawn_run / 'labels.csv'))
    other = tmp_path / 'other' / 'labels.csv'
    other.parent.mkdir()
    with open(other, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, fieldnames=list(labels[0]), lineterminator='\n')
        writer.writeheader()
        writer.writerows(dict(row, entity_value='') if row['index'] in ('0', '1') else row for row in labels)
    rows = train_chooser.read_sets([str(drawn_run / 'out'), str(drawn_run / 'out')],
                                   [str(drawn_run / 'labels.csv'), str(other)], load_priors())
    assert len(rows) == 2 * len(labels)
    assert {label['index'].split(':')[0] for label, _, _ in rows} == {drawn_run.name, 'other'}
    out = tmp_path / 'chooser.json'
    assert train_chooser.main(['--records', str(drawn_run / 'out'), '--labels', str(drawn_run / 'labels.csv'),
                               '--records', str(drawn_run / 'out'), '--labels', str(other),
                               '--out', str(out), '--folds', '2', '--cv_predictions', str(tmp_path / 'cv'),
                               '--repeats', '2']) == 0
    printed = capsys.readouterr().out
    # the random deals: each set's mean apart, and the mean per entity of both sets together
    for name in (drawn_run.name, 'other'):
        assert f'{name} alone, over the same deals: numeric F1 mean ' in printed
        own = next(line for line in printed.splitlines() if line.startswith(f'{name} alone, over the same deals'))
        assert 'mix-weighted mean' in own and 'ECE mean' in own and 'precision on the surest half mean' in own
    per_entity = next(line for line in printed.splitlines() if line.startswith('numeric F1 per entity, mean'))
    assert {part.split()[0] for part in per_entity.split(': ', 1)[1].split(', ')} == {row['entity_name'] for row in labels}
    for name, path in ((drawn_run.name, drawn_run / 'labels.csv'), ('other', other)):
        with open(tmp_path / 'cv' / f'{name}.csv', newline='') as handle:
            written = list(csv.DictReader(handle))
        assert [row['index'] for row in written] == [row['index'] for row in read_labels(str(path))]
        with open(tmp_path / 'cv' / f'{name}-confidence.csv', newline='') as handle:
            confident = list(csv.DictReader(handle))
        assert [(row['index'], row['prediction']) for row in confident] == \
            [(row['index'], row['prediction']) for row in written]  # no abstention undone
        assert all(0 <= float(row['confidence']) <= 1 and (row['prediction'] or row['confidence'] == '0.0000')
                   for row in confident)
    assert f'  {drawn_run.name}:' in printed and '  other:' in printed and '  all sets:' in printed
    assert 'mix-weighted F1' in printed and 'expected calibration error' in printed
    assert 'the surest half of the rows' in printed and 'all sets, mix-weighted:' in printed
    assert f'truths: other printed, {drawn_run.name} catalogue' in printed
    assert 'what abstention costs or buys' in printed and 'without F1' in printed
    assert '  calibrated on catalogue truth: ' in printed and '  calibrated on printed truth: ' in printed
    model = TreeModel(json.loads(out.read_text()))
    assert model.calibration['method'] == 'platt' and '*' in model.calibration['truths']['printed']['families']
    assert set(model.abstain_below) >= {'*'} and all(0 <= t <= 1 for t in model.abstain_below.values())


def test_abstention_blanks_the_rows_under_their_entitys_threshold():
    scores = {'0': ('width', 0.9, '1.0 inch'), '1': ('width', 0.2, '5.0 inch'), '2': ('width', 0.3, '6.0 inch'),
              '3': ('item_weight', 0.25, '2.0 gram'), '4': ('item_weight', 0.1, '3.0 gram')}
    scores = {index: train_chooser.Chosen(*chosen) for index, chosen in scores.items()}
    assert train_chooser.abstained(scores, {'*': 0.22}) == {'0': '1.0 inch', '1': '', '2': '6.0 inch',
                                                           '3': '2.0 gram', '4': ''}
    assert train_chooser.abstained(scores, {'*': 0.0, 'width': 0.5})['2'] == ''


def _rows(truth, rows):
    """Labels and Chosen scores of (index, entity, label, score, prediction) rows of one truth."""
    labels = [{'index': index, 'truth': truth, 'entity_name': entity, 'entity_value': value}
              for index, entity, value, _, _ in rows]
    return labels, {index: train_chooser.Chosen(entity, score, prediction) for index, entity, _, score, prediction in rows}


def test_the_threshold_buys_blanks_on_printed_truth_only_where_they_gain_more_than_the_catalogue_loses():
    """On the catalogue's truth a blank never beats a guess; where printed truth marks values as
    not printed, a threshold that blanks them is taken when the mean of both truths' F1 rises."""
    dev, dev_scores = _rows('catalogue', [('d1', 'item_weight', '2.0 gram', 0.9, '2.0 gram'),
                                          ('d2', 'item_weight', '3.0 gram', 0.8, '3.0 gram')])
    mix, mix_scores = _rows('printed', [('m1', 'item_weight', '', 0.2, '9.0 gram'),
                                        ('m2', 'item_weight', '', 0.15, '8.0 gram'),
                                        ('m3', 'item_weight', '4.0 gram', 0.8, '4.0 gram')])
    scores = dict(dev_scores, **mix_scores)
    thresholds = train_chooser.best_thresholds(dev + mix, scores)
    assert 0.2 < thresholds['*'] <= 0.8  # both unprinted rows blank, every right value kept
    # catalogue rows that a threshold would lose: one blank bought on printed truth, two values lost
    costly, costly_scores = _rows('catalogue', [('d1', 'item_weight', '2.0 gram', 0.1, '2.0 gram'),
                                                ('d2', 'item_weight', '3.0 gram', 0.15, '3.0 gram')])
    assert train_chooser.best_thresholds(costly + mix[:1] + mix[2:], dict(scores, **costly_scores))['*'] == 0.0
    assert train_chooser.best_thresholds(costly, costly_scores)['*'] == 0.0  # catalogue alone: never blank


def test_the_dimensions_never_abstain():
    """Even where printed truth says a width is not printed and a threshold would blank it: out of
    fold the dimensions' thresholds cost the catalogue's widths and bought printed truth nothing."""
    labels, scores = _rows('printed', [('0', 'width', '1.0 inch', 0.9, '1.0 inch'),
                                       ('1', 'width', '', 0.2, '5.0 inch'), ('2', 'width', '', 0.3, '6.0 inch')])
    thresholds = train_chooser.best_thresholds(labels, scores)
    assert thresholds['width'] == thresholds['height'] == thresholds['depth'] == 0.0
    assert train_chooser.abstained(scores, thresholds) == {'0': '1.0 inch', '1': '5.0 inch', '2': '6.0 inch'}


@pytest.mark.slow
def test_each_sets_truth_is_given_or_read_off_its_labels(drawn_run, tmp_path):
    catalogue = [{'entity_value': '5.0 gram'}, {'entity_value': '2.0 inch'}]
    assert train_chooser.truth_of_labels(catalogue) == 'catalogue'
    assert train_chooser.truth_of_labels(catalogue + [{'entity_value': ''}]) == 'printed'
    assert train_chooser.truth_of_labels(catalogue + [{'entity_value': '2.0 inch | 5.08 centimetre'}]) == 'printed'
    records, labels = str(drawn_run / 'out'), str(drawn_run / 'labels.csv')
    rows = train_chooser.read_sets([records], [labels], load_priors())
    assert {label['truth'] for label, _, _ in rows} == {'catalogue'}
    rows = train_chooser.read_sets([records], [labels], load_priors(), ['printed'])
    assert {label['truth'] for label, _, _ in rows} == {'printed'}
    with pytest.raises(SystemExit):
        train_chooser.read_sets([records], [labels], load_priors(), ['printed', 'catalogue'])


def test_unseen_groups_scores_every_row_with_what_was_fitted_without_its_group(monkeypatch):
    rows = [({'index': str(i), 'group_id': f'g{i % 7}', 'entity_name': 'item_weight', 'entity_value': '5.0 gram'},
             f'https://x/{i}.jpg', []) for i in range(35)]
    fitted_on = []

    def fit_for_shipping(training, priors, oof_scores):
        fitted_on.append({label['group_id'] for label, _, _ in training})
        return train_chooser.export(0.5), None, None, None
    monkeypatch.setattr(train_chooser, 'for_shipping', fit_for_shipping)
    monkeypatch.setattr(train_chooser, 'out_of_fold', lambda rows, priors, folds: ({}, {}))
    predicted, confidences = train_chooser.unseen_groups(rows, None, 5)
    assert set(predicted) == set(confidences) == {str(i) for i in range(35)}
    groups = {f'g{k}' for k in range(7)}
    held_out = [groups - trained for trained in fitted_on]
    assert len(fitted_on) == 5 and all(held_out) and sorted(g for out in held_out for g in out) == sorted(groups)


@pytest.mark.slow
def test_the_ocr_engines_bench_scores_a_settings_records_cross_validated(drawn_run, tmp_path, monkeypatch):
    """bench/ocr_engines.py's F1 column comes from train_chooser.cross_validated, as the README
    reports it: the same figure as evaluating the cross-validated predictions directly."""
    import importlib.util
    import shutil

    from pipeline.evaluate import evaluate
    spec = importlib.util.spec_from_file_location('ocr_engines_bench', os.path.join(ROOT, 'bench', 'ocr_engines.py'))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    (tmp_path / 'drawn').mkdir()
    shutil.copy(drawn_run / 'labels.csv', tmp_path / 'drawn' / 'labels.csv')
    monkeypatch.setattr(bench, 'DATA', str(tmp_path))
    scores = bench.cross_validated_f1({'drawn': str(drawn_run / 'out')})
    labels = read_labels(str(drawn_run / 'labels.csv'))
    rows = train_chooser.read_sets([str(drawn_run / 'out' / 'records')], [str(drawn_run / 'labels.csv')], load_priors())
    predicted, _ = train_chooser.cross_validated(rows, load_priors(), 5)
    result = evaluate(labels, predicted)
    assert (scores['drawn'], scores['numeric'], scores['mix-weighted']) == (
        result['numeric']['f1'], result['numeric']['f1'], result['mix_weighted']['f1'])
    dealt = bench.cross_validated_f1({'drawn': str(drawn_run / 'out')}, deals=2)
    assert len(dealt['deals']) == 3 and dealt['deals'][0] == scores['deals'][0]
    assert bench.paired(dealt, dealt, 'numeric') == '+0.0000 (+0.0000 to +0.0000)'
