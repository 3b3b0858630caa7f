"""Choose: the rule chooser, the exported tree model, and how a value is written."""
import json
import math
from dataclasses import replace

import numpy as np
import pytest

from transforms.logic.chooser import (
    CHOOSER_PATH,
    TreeModel,
    best_candidate,
    choose,
    load_model,
    rule_score,
    score_candidates,
    write_value,
)
from transforms.logic.features import FEATURES, find_candidates
from transforms.logic.priors import Priors, build_priors, load_priors
from transforms.records import OcrWord


def words(*lines, engine='tesseract'):
    """OcrWords laid out line by line; a (text, height) pair sets a word's height."""
    out = []
    for number, line in enumerate(lines):
        left = 0
        for item in line:
            text, height = item if isinstance(item, tuple) else (item, 20)
            out.append(OcrWord(text, left, number * 100, 10 * len(text), height, 90.0, number, engine))
            left += 10 * len(text) + 10
    return tuple(out)


@pytest.fixture(scope='module')
def priors():
    return load_priors()


def scored(priors, entity, *lines, group_id='7'):
    return find_candidates(words(*lines), entity, group_id, 800, 600, priors)


def value_and_unit(prediction):
    """'500 gram' and '500.0 gram' -> (500.0, 'gram'): the rule tests do not depend on how
    the shipped priors write whole numbers for a group."""
    number, unit = prediction.split(' ', 1)
    return float(number), unit


def rules(priors, entity, *lines):
    prediction, _ = choose(scored(priors, entity, *lines), entity, '7', priors, None)
    return value_and_unit(prediction) if prediction else ''


# --- the rule chooser ---

def test_larger_text_wins(priors):
    lines = (['Serving', '30', 'g'], [('500', 60), ('g', 60)])
    assert rules(priors, 'item_weight', *lines) == (500.0, 'gram')


def test_entity_keyword_on_the_line_wins_over_equal_text(priors):
    # the keyword line comes second, so a first-read tie-break cannot explain the choice
    lines = (['Serving', '30', 'g'], ['Net', 'Wt', '500', 'g'])
    items = scored(priors, 'item_weight', *lines)
    assert [rule_score(item) for item in items] == [1.0, 1.5]
    assert rules(priors, 'item_weight', *lines) == (500.0, 'gram')


def test_repetition_adds_a_little(priors):
    lines = (['1', 'kg'], ['2', 'kg'], ['2', 'kg'])
    assert rules(priors, 'item_weight', *lines) == (2.0, 'kilogram')
    assert [round(rule_score(item), 6) for item in scored(priors, 'item_weight', *lines)] == [1.0, 1.1, 1.1]


def test_a_dimension_line_the_entitys_way_adds_half(priors):
    item = scored(priors, 'height', ['30', 'cm'])[0]
    beside = replace(item, features=item.features._replace(line_agrees=1.0))
    assert rule_score(beside) - rule_score(item) == pytest.approx(0.5)


def test_a_tie_goes_to_the_candidate_read_first(priors):
    items = scored(priors, 'item_weight', ['250', 'g'], ['500', 'g'])
    assert rules(priors, 'item_weight', ['250', 'g'], ['500', 'g']) == (250.0, 'gram')
    assert best_candidate(score_candidates(items, None)).value == 250.0


def test_units_the_entity_does_not_allow_are_never_chosen(priors):
    lines = ([('12V', 80)], ['50W'])  # the volts are printed far larger
    prediction, candidates = choose(scored(priors, 'wattage', *lines), 'wattage', '7', priors, None)
    assert value_and_unit(prediction) == (50.0, 'watt')
    assert [(c.unit, c.allowed) for c in candidates] == [('volt', False), ('watt', True)]
    assert candidates[0].score == 0.0


def test_rules_take_a_bare_number_only_when_no_quantity_has_a_unit(priors):
    assert rules(priors, 'width', [('63', 90)], ['Width', '20', 'cm']) == (20.0, 'centimetre')
    assert rules(priors, 'width', ['Unit:', 'cm'], [('63', 90)], ['Width', '20']) == (63.0, 'centimetre')


def test_rules_take_a_glued_quantity_only_when_no_quantity_is_printed_cleanly(priors):
    assert rules(priors, 'wattage', [('250WMOTOR', 90)], ['Power', '50W']) == (50.0, 'watt')
    assert rules(priors, 'wattage', [('250WMOTOR', 90)], ['Power']) == (250.0, 'watt')


class _Always:
    """A stand-in model that rates every candidate as almost surely right."""
    abstain_below, usual_value_score = {'*': 0.0}, 0.0

    def probability(self, features):
        return 0.99


def test_a_model_never_scores_a_unit_the_entity_does_not_allow(priors):
    items = scored(priors, 'wattage', [('12V', 80)], ['50W'])
    candidates = score_candidates(items, _Always())
    assert [c.score for c in candidates] == [0.0, 0.99]
    prediction, _ = choose(items, 'wattage', '7', priors, _Always())
    assert value_and_unit(prediction) == (50.0, 'watt')


@pytest.mark.parametrize('entity, lines', [
    ('width', ()),
    ('width', (['hello', 'world'],)),
    ('width', (['5', 'kg'],)),
    ('voltage', (['500', 'g'], ['30', 'cm'])),
])
def test_no_allowed_candidate_gives_the_groups_usual_value_or_with_the_switch_a_blank(priors, entity, lines):
    items = scored(priors, entity, *lines)
    usual = priors.usual_values(entity, '7')[0]
    for model in (None, _Always()):
        prediction, candidates = choose(items, entity, '7', priors, model)
        assert value_and_unit(prediction) == usual
        assert [(c.value, c.unit, c.group, c.text) for c in candidates if c.allowed] == [usual + ('usual', '')]
        prediction, candidates = choose(items, entity, '7', priors, model, guess_usual_value=False)
        assert prediction == ''
        assert not any(c.allowed for c in candidates)
    assert best_candidate(score_candidates(items, None)) is None


class _Never:
    """A stand-in model that rates every candidate as almost surely wrong."""
    abstain_below, usual_value_score = {'*': 0.0}, 0.0

    def probability(self, features):
        return 0.01


class _Doubtful(_Never):
    """Rates every candidate 0.01 and abstains below 0.05, except on voltage rows (below 0.005)."""
    abstain_below, usual_value_score = {'*': 0.05, 'voltage': 0.005}, 0.02


def test_the_model_abstains_under_its_threshold_and_keeps_the_scored_candidates(priors):
    items = scored(priors, 'wattage', ['50W'])
    prediction, candidates = choose(items, 'wattage', '7', priors, _Doubtful())
    assert prediction == '' and [c.score for c in candidates if c.allowed] == [0.01]
    assert value_and_unit(choose(items, 'wattage', '7', priors, _Doubtful(), abstain=False)[0]) == (50.0, 'watt')
    # an entity with a threshold of its own
    voltage = scored(priors, 'voltage', ['12V'])
    assert value_and_unit(choose(voltage, 'voltage', '7', priors, _Doubtful())[0]) == (12.0, 'volt')


def test_the_usual_value_scores_what_the_model_says_and_abstains_like_any_candidate(priors):
    prediction, candidates = choose([], 'wattage', '7', priors, _Doubtful())
    assert prediction == '' and [(c.group, c.score) for c in candidates] == [('usual', 0.02)]


def test_a_value_far_outside_the_entitys_labels_never_wins(priors):
    assert not priors.plausible('item_volume', 'fluid ounce', 118292.0)
    assert priors.plausible('item_volume', 'fluid ounce', 12.0)
    items = scored(priors, 'item_volume', ['118292', 'fl', 'oz'], ['12', 'fl', 'oz'])
    assert [(c.candidate.value, c.candidate.plausible) for c in items if c.candidate.allowed] == [
        (118292.0, False), (12.0, True)]
    for model in (None, _Always()):
        prediction, _ = choose(items, 'item_volume', '7', priors, model)
        assert value_and_unit(prediction) == (12.0, 'fluid ounce')
    alone = scored(priors, 'item_volume', [('118292', 80), ('fl', 80), ('oz', 80)])
    prediction, candidates = choose(alone, 'item_volume', '7', priors, _Always(), guess_usual_value=False)
    assert prediction == '' and candidates[0].value == 118292.0


@pytest.mark.parametrize('model', [None, _Never()])
def test_anything_read_beats_the_usual_value_however_low_its_score(priors, model):
    usual_value, usual_unit = priors.usual_values('voltage', '7')[0]
    read = usual_value + 1.5
    prediction, candidates = choose(scored(priors, 'voltage', [f'{read:g}V']), 'voltage', '7', priors, model)
    assert value_and_unit(prediction) == (read, 'volt')
    assert all(c.group != 'usual' for c in candidates)


def test_the_usual_value_is_the_groups_own_when_it_has_one():
    from transforms.logic.priors import Priors, build_priors
    rows = ([{'group_id': 'A', 'entity_name': 'voltage', 'entity_value': '12.0 volt'}] * 3
            + [{'group_id': 'B', 'entity_name': 'voltage', 'entity_value': '5.0 volt'}] * 2
            + [{'group_id': 'C', 'entity_name': 'voltage', 'entity_value': '9.0 volt'}])
    priors = Priors(build_priors(rows))
    for group_id, expected in (('A', '12.0 volt'), ('B', '5.0 volt'), ('C', '12.0 volt'), ('new', '12.0 volt')):
        assert choose([], 'voltage', group_id, priors, None)[0] == expected


@pytest.mark.parametrize('chooser', ['rules', 'learned'])
def test_a_length_printed_in_centimetres_and_inches_is_written_in_inches(priors, chooser):
    """The catalogue keeps the inch value of a length printed both ways; whichever twin scored
    best, the prediction is the inch one (printed truth accepts either)."""
    model = load_model() if chooser == 'learned' else None
    for lines in ((['Width', ('40', 40), ('cm', 40)], ['(15.7', 'in)']), (['Width', '15.7', 'in'], [('40', 40), ('cm', 40)])):
        prediction, candidates = choose(scored(priors, 'width', *lines), 'width', '7', priors, model)
        assert value_and_unit(prediction) == (15.7, 'inch')
    # the rules' pick was the larger centimetre value: only how it is written changed
    assert best_candidate(choose(scored(priors, 'width', ['Width', ('40', 40), ('cm', 40)], ['(15.7', 'in)']),
                                 'width', '7', priors, None)[1]).unit == 'centimetre'


def test_a_length_without_an_inch_twin_keeps_its_unit(priors):
    assert rules(priors, 'width', ['Width', ('40', 40), ('cm', 40)], ['(12', 'in)']) == (40.0, 'centimetre')
    assert rules(priors, 'height', ['Height', ('40', 40), ('cm', 40)]) == (40.0, 'centimetre')


def test_a_weight_printed_in_two_units_is_written_in_the_unit_its_group_labels_most():
    """Group 'oz' labels weights in ounces, group 'g' mostly in grams; an unseen group keeps the
    chosen unit."""
    labels = ([{'group_id': 'oz', 'entity_name': 'item_weight', 'entity_value': '7.0 ounce'}] * 3
              + [{'group_id': 'g', 'entity_name': 'item_weight', 'entity_value': '200.0 gram'}] * 3
              + [{'group_id': 'g', 'entity_name': 'item_weight', 'entity_value': '1.0 ounce'}])
    habits = Priors(build_priors(labels))
    lines = (['Net', 'Wt', ('500', 40), ('g', 40)], ['(17.6', 'oz)'])
    for group, expected in (('oz', (17.6, 'ounce')), ('g', (500.0, 'gram')), ('unseen', (500.0, 'gram'))):
        read = find_candidates(words(*lines), 'item_weight', group, 800, 600, habits)
        assert value_and_unit(choose(read, 'item_weight', group, habits, None)[0]) == expected


def test_ounces_on_a_volume_row_are_fluid_ounces(priors):
    assert rules(priors, 'item_volume', ['12', 'oz']) == (12.0, 'fluid ounce')
    assert rules(priors, 'item_weight', ['12', 'oz']) == (12.0, 'ounce')


# --- writing the value the way the labels are written ---

@pytest.fixture(scope='module')
def written():
    """Group 'int' writes whole grams as '500 gram', group 'float' as '500.0 gram'."""
    rows = ([{'group_id': 'int', 'entity_name': 'item_weight', 'entity_value': f'{v} gram'}
             for v in (100, 250, 500, 750)]
            + [{'group_id': 'float', 'entity_name': 'item_weight', 'entity_value': f'{v}.0 gram'}
               for v in (100, 250, 500, 750)])
    return Priors(build_priors(rows))


def test_whole_values_lose_the_point_only_where_labels_mostly_do(written):
    assert written.integer_share('item_weight', 'gram', 'int') > 0.5
    assert written.integer_share('item_weight', 'gram', 'float') <= 0.5
    assert write_value(500.0, 'gram', 'item_weight', 'int', written) == '500 gram'
    assert write_value(500.0, 'gram', 'item_weight', 'float', written) == '500.0 gram'


def test_an_unseen_group_unit_or_no_priors_keep_the_point(written):
    # an unseen group leans on the entity's even split: not above one half
    assert write_value(500.0, 'gram', 'item_weight', 'unseen', written) == '500.0 gram'
    assert write_value(2.0, 'kilogram', 'item_weight', 'int', written) == '2.0 kilogram'
    assert write_value(500.0, 'gram', 'item_weight', 'int', None) == '500.0 gram'


@pytest.mark.parametrize('value, expected', [(2.5, '2.5 gram'), (0.25, '0.25 gram'), (500.5, '500.5 gram'),
                                             (1e-05, '0.00001 gram')])
def test_decimals_of_values_that_are_not_whole_are_never_dropped(written, value, expected):
    assert written.integer_share('item_weight', 'gram', 'int') > 0.5
    assert write_value(value, 'gram', 'item_weight', 'int', written) == expected


def test_choose_writes_with_the_group_style(written):
    items = find_candidates(words(['Net', 'Wt', '500', 'g']), 'item_weight', 'int', 800, 600, written)
    assert choose(items, 'item_weight', 'int', written, None)[0] == '500 gram'
    items = find_candidates(words(['Net', 'Wt', '500', 'g']), 'item_weight', 'float', 800, 600, written)
    assert choose(items, 'item_weight', 'float', written, None)[0] == '500.0 gram'


# --- the learned chooser's tree model ---

@pytest.fixture(scope='module')
def fitted():
    from sklearn.ensemble import GradientBoostingClassifier
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, len(FEATURES)))
    logit = 1.5 * x[:, 0] - x[:, 5] + 0.8 * (x[:, 12] > 1)
    y = rng.random(len(x)) < 1 / (1 + np.exp(-logit))
    return GradientBoostingClassifier(max_depth=3, n_estimators=30, min_samples_leaf=10, random_state=0).fit(x, y)


def test_tree_model_matches_scikit_learn_on_fresh_rows(fitted):
    from pipeline.train_chooser import export
    model = TreeModel(json.loads(json.dumps(export(fitted))))  # as shipped: through JSON
    rng = np.random.default_rng(1)
    fresh = rng.normal(scale=1.5, size=(300, len(FEATURES)))
    expected = fitted.predict_proba(fresh)[:, 1]
    got = np.array([model.probability(list(row)) for row in fresh])
    assert np.max(np.abs(got - expected)) < 1e-9
    assert expected.std() > 0.01  # the model is not constant, so agreement means something


def test_a_missing_value_follows_the_nodes_missing_side():
    """The shipped chooser.json may come from HistGradientBoostingClassifier, whose trees send
    a missing (NaN) feature to the side each node learned."""
    tree = {'feature': [0, 0, 0], 'threshold': [0.5, 0.0, 0.0], 'left': [1, 0, 0], 'right': [2, 0, 0],
            'leaf': [False, True, True], 'value': [0.0, -1.0, 1.0]}
    data = {'features': list(FEATURES), 'baseline': 0.0}
    nan = [math.nan] * len(FEATURES)
    assert TreeModel(dict(data, trees=[dict(tree, missing_left=[True, False, False])])).raw(nan) == -1.0
    assert TreeModel(dict(data, trees=[dict(tree, missing_left=[False, False, False])])).raw(nan) == 1.0


def test_tree_model_refuses_other_features(fitted):
    from pipeline.train_chooser import export
    data = export(fitted)
    for features in (list(FEATURES[:-1]), list(FEATURES[1:]) + [FEATURES[0]], list(FEATURES) + ['extra']):
        with pytest.raises(ValueError, match='features'):
            TreeModel(dict(data, features=features))
    TreeModel(dict(data, features=list(FEATURES)))


@pytest.mark.skipif(not CHOOSER_PATH.exists(), reason='transforms/data/chooser.json not trained yet')
def test_shipped_model_picks_the_net_weight(priors):
    model = load_model()
    assert tuple(model.data['features']) == FEATURES
    items = scored(priors, 'item_weight', ['Rolled', 'Oats'], ['Net', 'Wt', '500', 'g'])
    prediction, candidates = choose(items, 'item_weight', '7', priors, model)
    assert value_and_unit(prediction) == (500.0, 'gram')
    assert all(0.0 <= c.score <= 1.0 and math.isfinite(c.score) for c in candidates)
