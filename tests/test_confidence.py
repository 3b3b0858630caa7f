"""Confidence: calibration per entity family, its fit, the operating points, and --min_confidence."""
import csv
import math

import numpy as np
import pytest

from pipeline import train_chooser
from pipeline.evaluate import confidence_result, expected_calibration_error, main as evaluate_main
from transforms.candidates import FindCandidatesFn
from transforms.choose import ChooseConfig, ChooseFn
from transforms.logic.chooser import TreeModel, choose, load_model
from transforms.logic.confidence import calibrate, chosen_position, chosen_twin, family_of, logit, row_confidence
from transforms.logic.features import FEATURES, find_candidates
from transforms.logic.priors import load_priors
from transforms.records import EMBEDDING, FACTS, FAILED, OCR, ROWS, ImageFacts, OcrResult, OcrWord, Row

CALIBRATION = {'method': 'platt', 'families': {'height_width': {'slope': 1.0, 'intercept': -2.0, 'twin': -1.0},
                                               '*': {'slope': 2.0, 'intercept': 0.0}}}


@pytest.fixture(scope='module')
def priors():
    return load_priors()


def line_words(*lines):
    """OcrWords laid out line by line, 20 px high."""
    out = []
    for number, line in enumerate(lines):
        left = 0
        for text in line:
            out.append(OcrWord(text, left, number * 100, 10 * len(text), 20, 90.0, number, 'ppocrv6'))
            left += 10 * len(text) + 10
    return tuple(out)


# --- applying a calibration ---

def test_each_family_has_its_own_curve():
    assert family_of('height') == family_of('width') == 'height_width' and family_of('depth') == 'depth'
    assert family_of('voltage') == '*'
    z = logit(0.8)
    assert calibrate(CALIBRATION, 'height', 0.8) == pytest.approx(1 / (1 + math.exp(-(z - 2.0))))
    assert calibrate(CALIBRATION, 'item_weight', 0.8) == pytest.approx(1 / (1 + math.exp(-2 * z)))
    assert calibrate(CALIBRATION, 'height', 0.8) < 0.8 < calibrate(CALIBRATION, 'item_weight', 0.8)


def test_a_value_printed_in_another_unit_too_moves_by_its_familys_twin_coefficient():
    z = logit(0.8)
    assert calibrate(CALIBRATION, 'width', 0.8, twin=True) == pytest.approx(1 / (1 + math.exp(-(z - 2.0 - 1.0))))
    assert calibrate(CALIBRATION, 'width', 0.8, twin=True) < calibrate(CALIBRATION, 'width', 0.8)
    # a calibration from before the twin input has no such coefficient: the flag changes nothing
    assert calibrate(CALIBRATION, 'voltage', 0.8, twin=True) == calibrate(CALIBRATION, 'voltage', 0.8)


def test_calibration_is_monotone_and_stays_a_probability():
    values = [calibrate(CALIBRATION, 'voltage', s) for s in (0.0, 0.01, 0.3, 0.7, 0.99, 1.0)]
    assert values == sorted(values) and 0.0 <= values[0] and values[-1] <= 1.0
    assert calibrate(None, 'voltage', 0.42) == 0.42  # no calibration shipped: the score itself


def test_a_row_without_prediction_has_confidence_zero(priors):
    model = load_model()
    scored = find_candidates(line_words(['Net', 'Wt', '500', 'g']), 'item_weight', '7', 800, 600, priors)
    prediction, candidates = choose(scored, 'item_weight', '7', priors, model)
    assert prediction and row_confidence(candidates, prediction, 'item_weight', model) > 0.5
    assert row_confidence(candidates, '', 'item_weight', model) == 0.0
    assert row_confidence(candidates, prediction, 'item_weight', None) == 0.0


def flat_model(score: float) -> TreeModel:
    """A chooser that scores every candidate `score`, with CALIBRATION's curves: its confidences can
    be worked out by hand."""
    return TreeModel({'features': list(FEATURES), 'baseline': logit(score), 'trees': [],
                      'calibration': CALIBRATION})


def test_learned_confidence_is_the_calibrated_score_of_the_chosen_candidate(priors):
    scored = find_candidates(line_words(['Net', 'Wt', '500', 'g'], ['Serving', '40', 'g']), 'item_weight', '7',
                             800, 600, priors)
    prediction, candidates = choose(scored, 'item_weight', '7', priors, flat_model(0.8))
    assert prediction and {c.score for c in candidates if c.allowed} == {0.8}
    # '*': slope 2, intercept 0: 0.8 ** 2 / (0.8 ** 2 + 0.2 ** 2)
    assert row_confidence(candidates, prediction, 'item_weight', flat_model(0.8)) == 0.9412


def test_rule_chooser_gets_the_models_confidence_in_the_candidate_it_took(priors):
    """Rule scores are not probabilities: the confidence comes from the learned model's score
    of the same candidate."""
    scored = find_candidates(line_words(['Output', '12V']), 'voltage', '7', 800, 600, priors)
    prediction, candidates = choose(scored, 'voltage', '7', priors, None)
    rule = [c for c in candidates if c.allowed][0]
    assert rule.score > 1.0  # a rule score, not a probability
    assert row_confidence(candidates, prediction, 'voltage', flat_model(0.8), scored, rescore=True) == 0.9412
    assert row_confidence(candidates, prediction, 'voltage', flat_model(0.5), scored, rescore=True) == 0.5


def test_the_confidence_knows_when_the_chosen_value_is_printed_in_another_unit_too(priors):
    """height_width: slope 1, intercept -2, twin -1; a width of score 0.8 is 1 / (1 + e^-(logit 0.8 - 2))
    alone and 1 / (1 + e^-(logit 0.8 - 3)) printed in centimetres too."""
    for words, twin, expected in ((['Width', '40', 'cm', '(15.7', 'in)'], True, 0.1661),
                                  (['Width', '40', 'cm'], False, 0.3512)):
        scored = find_candidates(line_words(words), 'width', '7', 800, 600, priors)
        prediction, candidates = choose(scored, 'width', '7', priors, flat_model(0.8))
        assert chosen_twin(chosen_position(candidates, prediction), scored) is twin
        assert row_confidence(candidates, prediction, 'width', flat_model(0.8), scored) == expected
    assert not chosen_twin(chosen_position(candidates, ''), scored)


# --- fitting it (make train) ---

def synthetic(rate_by_family: dict, n: int = 200, seed: int = 0):
    """Rows scored 0.9 whose chosen value is right at the family's rate, and rows scored 0.2
    right a quarter as often."""
    rng = np.random.default_rng(seed)
    labels, scores = [], {}
    for entity, rate in rate_by_family.items():
        for i in range(n):
            index = f'{entity}:{i}'
            score = 0.9 if i % 2 else 0.2
            right = rng.random() < (rate if score == 0.9 else rate / 4)
            labels.append({'index': index, 'entity_name': entity, 'entity_value': '5.0 gram' if right else '7.0 gram'})
            scores[index] = train_chooser.Chosen(entity, score, '5.0 gram')
    return labels, scores


def test_fit_calibration_learns_each_familys_own_rate():
    labels, scores = synthetic({'depth': 0.5, 'width': 0.75, 'item_weight': 0.9}, n=400)
    calibration = train_chooser.fit_calibration(labels, scores)
    assert set(calibration['truths']['catalogue']['families']) == {'depth', 'height_width', '*'}
    assert calibrate(calibration, 'depth', 0.9) == pytest.approx(0.5, abs=0.07)
    assert calibrate(calibration, 'width', 0.9) == pytest.approx(0.75, abs=0.07)
    assert calibrate(calibration, 'item_weight', 0.9) == pytest.approx(0.9, abs=0.05)
    assert calibrate(calibration, 'item_weight', 0.2) == pytest.approx(0.225, abs=0.07)


def test_fit_calibration_learns_what_a_twin_in_another_unit_costs():
    """Rows scored alike, the ones printed in two units right half as often: the catalogue's
    pick of a unit, which the score does not know."""
    rng = np.random.default_rng(1)
    labels, scores = [], {}
    for i in range(800):
        twin = bool(i % 2)
        right = rng.random() < (0.45 if twin else 0.9)
        labels.append({'index': str(i), 'entity_name': 'item_weight',
                       'entity_value': '5.0 gram' if right else '7.0 gram'})
        scores[str(i)] = train_chooser.Chosen('item_weight', 0.9 if i % 4 < 2 else 0.6, '5.0 gram', twin)
    calibration = train_chooser.fit_calibration(labels, scores)
    assert calibration['truths']['catalogue']['families']['*']['twin'] < -1.0
    assert calibrate(calibration, 'item_weight', 0.9, twin=True) == pytest.approx(0.45, abs=0.07)
    assert calibrate(calibration, 'item_weight', 0.9) == pytest.approx(0.9, abs=0.05)


def test_a_family_with_too_few_rows_falls_back_to_every_other_entity():
    labels, scores = synthetic({'item_weight': 0.8}, n=200)
    few, few_scores = synthetic({'width': 0.1}, n=train_chooser.CALIBRATION_MIN_ROWS - 2)
    calibration = train_chooser.fit_calibration(labels + few, dict(scores, **few_scores))
    assert 'height_width' not in calibration['truths']['catalogue']['families']
    assert calibrate(calibration, 'width', 0.9) == calibrate(calibration, 'item_weight', 0.9)
    all_right = [dict(label, entity_value='5.0 gram') for label in labels]
    assert train_chooser.fit_calibration(all_right, scores)['truths']['catalogue']['families'] == {
        '*': {'slope': 1.0, 'twin': 0.0, 'intercept': 0.0, 'rows': 0}}  # nothing to fit: the score itself


def test_each_truth_gets_its_own_curves_and_the_pooled_curve_fits_neither():
    """The same score, right 55% of the time on the catalogue's labels and 95% on what the picture
    prints (a length printed in two units, either right on printed truth): each truth's curve
    finds its own rate, where one curve over both would sit near 0.75 and miss both by 0.2."""
    catalogue, catalogue_scores = synthetic({'width': 0.55}, n=400, seed=2)
    printed, printed_scores = synthetic({'width': 0.95}, n=400, seed=3)
    labels = [dict(label, truth='catalogue') for label in catalogue] + \
        [dict(label, index='p' + label['index'], truth='printed') for label in printed]
    scores = dict(catalogue_scores, **{'p' + index: chosen for index, chosen in printed_scores.items()})
    calibration = train_chooser.fit_calibration(labels, scores)
    assert calibration['truths']['catalogue']['rows'] == calibration['truths']['printed']['rows'] == 400
    assert calibrate(calibration, 'width', 0.9, truth='catalogue') == pytest.approx(0.55, abs=0.07)
    assert calibrate(calibration, 'width', 0.9, truth='printed') == pytest.approx(0.95, abs=0.04)
    assert calibrate(calibration, 'width', 0.9) == calibrate(calibration, 'width', 0.9, truth='catalogue')
    pooled = train_chooser.fit_calibration([dict(label, truth='catalogue') for label in labels], scores)
    assert calibrate(pooled, 'width', 0.9) == pytest.approx(0.75, abs=0.06)


def test_a_truth_without_rows_gets_the_curves_of_all_rows():
    labels, scores = synthetic({'item_weight': 0.8}, n=200)
    calibration = train_chooser.fit_calibration(labels, scores)  # no 'truth': the catalogue's
    assert calibration['truths']['printed']['rows'] == 0 and calibration['truths']['catalogue']['rows'] == 200
    assert calibration['truths']['printed']['families'] == calibration['truths']['catalogue']['families']


def test_a_calibration_from_before_the_truths_serves_both():
    z = logit(0.8)
    for truth in ('catalogue', 'printed'):
        assert calibrate(CALIBRATION, 'item_weight', 0.8, truth=truth) == pytest.approx(1 / (1 + math.exp(-2 * z)))


def test_a_blank_label_makes_the_prediction_wrong_in_the_fit():
    labels, scores = synthetic({'voltage': 0.9}, n=200)
    blanked = [dict(label, entity_value='') for label in labels]
    blanked[0]['entity_value'] = '5.0 gram'  # one right, so there is something to fit
    assert calibrate(train_chooser.fit_calibration(blanked, scores), 'voltage', 0.9) < 0.05


# --- operating points and calibration error (pipeline.evaluate) ---

SAMPLE = [('1', 'item_weight', '5.0 gram', '5.0 gram', 0.95), ('2', 'item_weight', '6.0 gram', '6.0 gram', 0.95),
        ('3', 'item_weight', '7.0 gram', '8.0 gram', 0.75), ('4', 'width', '1.0 inch', '1.0 inch', 0.55),
        ('5', 'width', '', '2.0 inch', 0.35), ('6', 'width', '3.0 inch', '', 0.0)]


def labels_and_chosen(rows=SAMPLE):
    labels = [{'index': i, 'entity_name': e, 'entity_value': truth} for i, e, truth, _, _ in rows]
    return labels, {i: (p, c) for i, _, _, p, c in rows}


def test_precision_coverage_and_calibration_error_worked_out_by_hand():
    labels, chosen = labels_and_chosen()
    result = confidence_result(labels, chosen)
    assert result['predicted'] == 5 and result['coverage'] == round(5 / 6, 4) and result['precision'] == 0.6
    # 0.9-1.0: 2 rows, conf 0.95, right 1.0; 0.7-0.8: 1 row, 0.75 vs 0; 0.5-0.6: 0.55 vs 1; 0.3-0.4: 0.35 vs 0
    assert result['ece'] == round((2 * 0.05 + 0.75 + 0.45 + 0.35) / 5, 4)
    assert result['at_confidence'][0.9] == {'precision': 1.0, 'coverage': round(2 / 6, 4)}
    assert result['at_confidence'][0.7] == {'precision': round(2 / 3, 4), 'coverage': 0.5}
    assert result['at_confidence'][0.5] == {'precision': 0.75, 'coverage': round(4 / 6, 4)}
    assert result['at_precision'][0.98] == {'coverage': round(2 / 6, 4), 'threshold': 0.95}
    assert result['precision_at_half'] == {'precision': round(2 / 3, 4), 'coverage': 0.5}
    assert result['ece_by_family'] == {'height_width': round((0.45 + 0.35) / 2, 4),
                                       '*': round((2 * 0.05 + 0.75) / 3, 4)}


def test_mix_weighted_points_weigh_rows_by_the_test_sets_mix():
    labels, chosen = labels_and_chosen()
    plain, weighted = confidence_result(labels, chosen), confidence_result(labels, chosen, weighted=True)
    # width outweighs item_weight in the test mix, and the widths are the less sure rows
    assert weighted['at_confidence'][0.9]['coverage'] < plain['at_confidence'][0.9]['coverage']
    assert weighted['precision'] < plain['precision']


def test_ece_is_zero_when_confidence_matches_the_share_right():
    items = [(0.75, True, 1.0)] * 3 + [(0.75, False, 1.0)] + [(0.25, False, 1.0)] * 3 + [(0.25, True, 1.0)]
    assert expected_calibration_error(items) == 0.0


def test_the_ece_calibrated_confidences_show_by_chance_shrinks_with_the_rows():
    """400 rows at 0.7, 70% right: no gap at all, but rows drawn at 0.7 are right 70% only on
    average; the mean gap of such draws is about 0.8 * sqrt(0.21 / n)."""
    from pipeline.evaluate import ece_by_chance
    items = [(0.7, k % 10 < 7, 1.0) for k in range(400)]
    assert expected_calibration_error(items) == 0.0
    chance = ece_by_chance(items)
    assert chance == pytest.approx(0.8 * math.sqrt(0.21 / 400), rel=0.25) and chance == ece_by_chance(items)
    assert ece_by_chance(items * 4) == pytest.approx(chance / 2, rel=0.25)
    assert ece_by_chance([]) == 0.0


def test_evaluate_reads_the_confidence_csv_beside_the_predictions(tmp_path, capsys):
    labels, chosen = labels_and_chosen()
    with open(tmp_path / 'labels.csv', 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(('index', 'entity_name', 'entity_value'))
        writer.writerows((row['index'], row['entity_name'], row['entity_value']) for row in labels)
    held_back = [(i, p if c >= 0.9 else '') for i, (p, c) in chosen.items()]
    with open(tmp_path / 'predictions.csv', 'w', newline='') as handle:
        csv.writer(handle).writerows([('index', 'prediction')] + held_back)
    command = ['--labels', str(tmp_path / 'labels.csv'), '--predictions', str(tmp_path / 'predictions.csv')]
    assert evaluate_main(command) == 0
    assert 'confidence' not in capsys.readouterr().out  # no confidence.csv: F1 only
    with open(tmp_path / 'confidence.csv', 'w', newline='') as handle:
        csv.writer(handle).writerows([('index', 'prediction', 'confidence')]
                                     + [(i, p, f'{c:.4f}') for i, (p, c) in chosen.items()])
    assert evaluate_main(command) == 0
    printed = capsys.readouterr().out
    assert 'F1 0.5714' in printed  # predictions.csv as held back at 0.9: 2 right of 2 predicted, 5 labelled
    assert 'precision 0.98: coverage 33.3% (confidence >= 0.9500)' in printed
    assert 'confidence, mix-weighted' in printed
    (tmp_path / 'other.csv').write_text('index,score\n1,0.5\n')
    assert evaluate_main(command + ['--confidence', str(tmp_path / 'other.csv')]) == 2
    assert 'needs the columns index, prediction, confidence' in capsys.readouterr().err


# --- --min_confidence in the job ---

def predict(min_confidence: float, chooser: str = 'learned', truth: str = 'catalogue'):
    find, choose = FindCandidatesFn(), ChooseFn(ChooseConfig(chooser, False, min_confidence, truth))
    find.setup()
    choose.setup()
    row = Row(0, '1', 'https://x/a.jpg', '7', 'item_weight')
    joined = {ROWS: [row], FACTS: [ImageFacts('https://x/a.jpg', 'cache', 800, 600, 0.0, 0.0)],
              OCR: [OcrResult(line_words(['Net', 'Wt', '500', 'g']), 0.1)], EMBEDDING: [], FAILED: []}
    (candidates,) = find.process(('https://x/a.jpg', joined))
    (result,) = choose.process(candidates)
    return result


def test_min_confidence_holds_back_a_prediction_but_keeps_it_with_its_confidence():
    kept = predict(0.0)
    assert kept.prediction == kept.chosen and kept.prediction.endswith('gram') and 0 < kept.confidence <= 1
    held = predict(min(1.0, kept.confidence + 0.0001))
    assert held.prediction == '' and held.chosen == kept.chosen and held.confidence == kept.confidence
    assert predict(kept.confidence).prediction == kept.prediction  # at the threshold it is kept
    assert predict(0.0, chooser='rules').confidence > 0


def test_the_job_gives_the_confidence_of_the_truth_it_is_asked_for(monkeypatch):
    """--confidence_truth picks the curve: here flat ones, 0.3 on the catalogue's truth and 0.8 on
    the picture's, so the row's confidence is exactly that."""
    model = load_model()
    flat = {truth: {'families': {'*': {'slope': 0.0, 'twin': 0.0, 'intercept': logit(rate)}}}
            for truth, rate in (('catalogue', 0.3), ('printed', 0.8))}
    model.calibration = {'method': 'platt', 'truths': flat}
    monkeypatch.setattr('transforms.choose.load_model', lambda: model)
    assert predict(0.0).confidence == 0.3
    assert predict(0.0, truth='printed').confidence == 0.8
    assert predict(0.5).prediction == '' and predict(0.5, truth='printed').prediction.endswith('gram')


def test_the_summary_counts_predictions_held_back():
    from pipeline.summary import format_summary
    summary = {'output': 'out', 'rows_in': 10, 'predictions_made': 6, 'predictions_held_back': 3,
               'failures_by_stage': {}, 'failures_by_kind': {}, 'images': 10, 'images_from_store': 0,
               'images_by_source': {'cache': 10}, 'stage_seconds': {}, 'wall_seconds': 1.0,
               'seconds_after_last_image': None}
    text = format_summary(summary)
    assert text.startswith('specscan: 10 rows, 6 predictions (3 more held back under --min_confidence), 10 images')
    assert 'held back' not in format_summary(dict(summary, predictions_held_back=0))
