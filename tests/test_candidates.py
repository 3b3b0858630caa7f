"""Candidates: every quantity in a row's OCR words, with the features the chooser scores."""
import math
from dataclasses import replace

import pytest

from transforms.logic.features import (ENTITIES, FEATURES, KEYWORDS, CandidateFeatures, entity_unit, find_candidates,
                                   text_size)
from transforms.logic.priors import load_priors
from transforms.logic.units import ENTITY_UNITS
from transforms.records import OcrWord

WIDTH, HEIGHT = 800, 600


def words(*lines, engine='tesseract', first_line=0, top=0):
    """OcrWords laid out line by line; a (text, height) pair sets a word's height."""
    out = []
    for number, line in enumerate(lines):
        left = 0
        for item in line:
            text, height = item if isinstance(item, tuple) else (item, 20)
            out.append(OcrWord(text, left, top + number * 100, 10 * len(text), height, 90.0,
                               first_line + number, engine))
            left += 10 * len(text) + 10
    return list(out)


@pytest.fixture(scope='module')
def priors():
    return load_priors()


def find(priors, ws, entity, group_id='7'):
    return find_candidates(ws, entity, group_id, WIDTH, HEIGHT, priors)


def feature(item, name):
    return getattr(item.features, name)


def by_value(items):
    return {(item.candidate.value, item.candidate.unit): item for item in items}


def test_keyword_self_only_when_the_keyword_is_on_the_candidates_line(priors):
    items = by_value(find(priors, words(['Serving', '30', 'g'], ['Net', 'Wt', '500', 'g']), 'item_weight'))
    assert items[500.0, 'gram'].features.keyword_self == 1.0
    assert items[30.0, 'gram'].features.keyword_self == 0.0
    assert items[500.0, 'gram'].candidate.keyword and not items[30.0, 'gram'].candidate.keyword


def test_keyword_far_ahead_on_the_line_is_on_the_line_but_not_before(priors):
    [item] = find(priors, words(['Weight', 'of', 'the', 'bag', '500', 'g']), 'item_weight')
    assert item.features.keyword_self == 1.0 and item.features.keyword_before == 0.0


@pytest.mark.parametrize('text, entity', [('H:30cm', 'height'), ('Net.Wt.500g', 'item_weight'),
                                          ('Weight:500g', 'item_weight')])
def test_keyword_glued_ahead_of_the_number_counts_as_before(priors, text, entity):
    [item] = find(priors, words([text]), entity)
    assert item.features.keyword_before == 1.0 and item.features.keyword_self == 1.0


def test_keyword_glued_in_camel_case_counts_as_before(priors):
    [item] = find(priors, words(['NetWt.500g']), 'item_weight')
    assert item.features.keyword_before == 1.0


@pytest.mark.parametrize('text, entity', [('12V', 'voltage'), ('5 cm 50W', 'width')])
def test_a_unit_letter_is_no_keyword(priors, text, entity):
    items = [i for i in find(priors, words(text.split()), entity) if i.candidate.allowed]
    assert items and all(i.features.keyword_self == 0.0 for i in items)


def test_single_letter_keywords_count_only_as_whole_tokens(priors):
    [item] = find(priors, words(['H', '30', 'cm']), 'height')
    assert item.features.keyword_self == 1.0
    [item] = find(priors, words(['Hello', '30', 'cm']), 'height')
    assert item.features.keyword_self == 0.0


def test_a_keyword_another_engine_read_on_its_line_does_not_count(priors):
    ws = words(['Net', 'Wt']) + words(['500', 'g'], engine='rapidocr')  # same line number, other engine
    [item] = find(priors, ws, 'item_weight')
    assert item.candidate.engine == 'rapidocr'
    assert item.features.keyword_self == 0.0 and item.features.keyword_before == 0.0


def test_other_dimension_and_weight_keywords(priors):
    items = by_value(find(priors, words(['Width', '30', 'cm'], ['Height', '20', 'cm']), 'height'))
    assert items[30.0, 'centimetre'].features.keyword_other_dimension == 1.0
    assert items[30.0, 'centimetre'].features.keyword_self == 0.0
    assert items[20.0, 'centimetre'].features.keyword_other_dimension == 0.0
    items = by_value(find(priors, words(['Max', 'load', '100', 'kg'], ['Net', 'weight', '5', 'kg']),
                          'maximum_weight_recommendation'))
    assert items[100.0, 'kilogram'].features.keyword_max_load == 1.0
    assert items[100.0, 'kilogram'].features.keyword_weight == 0.0
    assert items[5.0, 'kilogram'].features.keyword_weight == 1.0
    assert items[5.0, 'kilogram'].features.keyword_max_load == 0.0


def test_a_range_marks_its_low_and_high_ends(priors):
    items = by_value(find(priors, words(['Input', '100-240V'], ['Output', '12V']), 'voltage'))
    low, high, single = items[100.0, 'volt'], items[240.0, 'volt'], items[12.0, 'volt']
    assert [low.features.in_range, low.features.range_low, low.features.range_high] == [1.0, 1.0, 0.0]
    assert [high.features.in_range, high.features.range_low, high.features.range_high] == [1.0, 0.0, 1.0]
    assert [single.features.in_range, single.features.range_low, single.features.range_high] == [0.0, 0.0, 0.0]
    assert (low.candidate.group, high.candidate.group, single.candidate.group) == ('range', 'range', 'single')


def test_dimensions_carry_their_position_and_count(priors):
    items = find(priors, words(['30', 'x', '20', 'x', '10', 'cm'], ['5', 'cm']), 'width')
    assert [item.candidate.value for item in items] == [30.0, 20.0, 10.0, 5.0]
    assert [item.features.in_dimensions for item in items] == [1.0, 1.0, 1.0, 0.0]
    assert [item.features.dimension_position for item in items] == [0.0, 1.0, 2.0, -1.0]
    assert [item.features.dimension_count for item in items] == [3.0, 3.0, 3.0, 0.0]


def test_a_vertical_word_is_as_large_as_its_width(priors):
    upright = OcrWord('250g', 0, 0, 40, 20, 90.0, 0)
    sideways = OcrWord('500g', 300, 0, 60, 240, 90.0, 1, vertical=True)  # letters 60 px high
    assert text_size(sideways) == 60 and text_size(upright) == 20
    items = by_value(find(priors, [upright, sideways], 'item_weight'))
    assert items[500.0, 'gram'].candidate.prominence == 1.0
    assert items[500.0, 'gram'].candidate.vertical and items[500.0, 'gram'].features.vertical == 1.0
    assert items[250.0, 'gram'].candidate.prominence == pytest.approx(20 / 60, abs=1e-4)
    assert items[250.0, 'gram'].features.prominence == pytest.approx(20 / 60)
    assert items[500.0, 'gram'].features.size_rank == 0.0 and items[250.0, 'gram'].features.size_rank == 1.0


def test_readings_of_the_same_quantity_by_both_engines(priors):
    ws = words(['500g'], ['30', 'g']) + words(['500', 'g'], engine='rapidocr', first_line=10 ** 9)
    items = find(priors, ws, 'item_weight')
    assert [(i.candidate.value, i.candidate.engine) for i in items] == [
        (500.0, 'tesseract'), (30.0, 'tesseract'), (500.0, 'rapidocr')]
    assert [i.features.repeats for i in items] == [1.0, 0.0, 1.0]
    assert [i.candidate.repeats for i in items] == [1, 0, 1]
    assert [i.features.other_engine_agrees for i in items] == [1.0, 0.0, 1.0]
    assert [i.features.engine_ppocr for i in items] == [0.0, 0.0, 1.0]


def test_repeats_within_one_engine_are_no_agreement_of_engines(priors):
    items = find(priors, words(['500g'], ['500', 'g']), 'item_weight')
    assert [i.features.repeats for i in items] == [1.0, 1.0]
    assert [i.features.other_engine_agrees for i in items] == [0.0, 0.0]


def test_same_value_in_another_unit_is_no_repeat(priors):
    items = find(priors, words(['500g'], ['500mg']), 'item_weight')
    assert [i.features.repeats for i in items] == [0.0, 0.0]


LINE = ['12V', '50W', '500g', '30cm', '2L', '8oz']


@pytest.mark.parametrize('entity', ENTITIES)
def test_allowed_follows_the_entity(priors, entity):
    items = find(priors, words(LINE), entity)
    assert len(items) == len(LINE)
    for item in items:
        assert item.candidate.unit == entity_unit(entity, item.candidate.unit)
        assert item.candidate.allowed == (item.candidate.unit in ENTITY_UNITS[entity])
    allowed = [i for i in items if i.candidate.allowed]
    assert allowed, entity  # the line holds a unit for every entity
    assert all(i.features.allowed_count == len(allowed) for i in items)
    assert feature(items[0], f'entity_{entity}') == 1.0
    assert sum(feature(items[0], f'entity_{e}') for e in ENTITIES) == 1.0


def test_feature_names_are_the_named_fields_with_the_entities_last():
    """chooser.json's trees number features in this order: the named fields and FEATURES are one list."""
    assert FEATURES == CandidateFeatures._fields and len(set(FEATURES)) == len(FEATURES)
    assert FEATURES[-len(ENTITIES):] == tuple(f'entity_{e}' for e in ENTITIES)


def test_a_length_twice_the_size_of_another_in_another_unit_ranks_above_it(priors):
    """value_rank compares values in base units: 2 inches (5.08 cm) is above 3 centimetres."""
    items = by_value(find(priors, words(['2', 'in', '3', 'cm']), 'width'))
    assert items[2.0, 'inch'].features.value_rank == 1.0 and items[3.0, 'centimetre'].features.value_rank == 0.0
    assert items[2.0, 'inch'].features.is_metric == 0.0 and items[3.0, 'centimetre'].features.is_metric == 1.0


def test_ounces_become_fluid_ounces_only_on_volume_rows(priors):
    [volume] = find(priors, words(['8oz']), 'item_volume')
    [weight] = find(priors, words(['8oz']), 'item_weight')
    assert (volume.candidate.unit, volume.candidate.allowed) == ('fluid ounce', True)
    assert (weight.candidate.unit, weight.candidate.allowed) == ('ounce', True)


def test_quantities_never_span_two_engines_words(priors):
    ws = words(['500']) + words(['g'], engine='rapidocr')
    assert [i for i in find(priors, ws, 'item_weight') if i.candidate.group != 'bare'] == []
    ws = words(['30', 'x']) + words(['20', 'cm'], engine='rapidocr')
    items = find(priors, ws, 'width')
    assert [(i.candidate.value, i.candidate.engine, i.candidate.group) for i in items] == [
        (20.0, 'rapidocr', 'single'), (30.0, 'tesseract', 'bare')]


def bare(items):
    return {(i.candidate.value, i.candidate.unit): i.features.bare_unit_source
            for i in items if i.candidate.group == 'bare'}


def test_bare_numbers_take_the_unit_printed_with_the_other_numbers(priors):
    items = find(priors, words(['Depth:63'], ['24.8', 'cm'], ['12', 'in']), 'depth')
    assert bare(items) == {(63.0, 'centimetre'): 1.0}  # cm is printed before inch in reading order
    assert all(i.features.bare_number == (i.candidate.group == 'bare') for i in items)


def test_bare_numbers_take_a_legends_unit(priors):
    items = find(priors, words(['30'], ['20.5'], ['Unit:', '(mm)']), 'width')
    assert bare(items) == {(30.0, 'millimetre'): 2.0, (20.5, 'millimetre'): 2.0}


def test_bare_numbers_otherwise_take_the_two_usual_units_of_the_group(priors):
    items = find(priors, words(['Holds', '330']), 'maximum_weight_recommendation')
    usual = sorted(ENTITY_UNITS['maximum_weight_recommendation'],
                   key=lambda unit: -priors.group_unit_log_prob('maximum_weight_recommendation', unit, '7'))
    assert bare(items) == {(330.0, usual[0]): 3.0, (330.0, usual[1]): 3.0}
    assert all(i.candidate.allowed for i in items)


@pytest.mark.parametrize('text', ['50%', '5pcs', '1.2.3', '20°', '12V'])
def test_numbers_with_other_marks_are_not_bare(priors, text):
    assert bare(find(priors, words([text]), 'width')) == {}


def test_bare_numbers_leave_the_printed_quantities_features_alone(priors):
    alone = by_value(find(priors, words(['Net', 'Wt', '500', 'g'], ['2', 'kg']), 'item_weight'))
    with_bare = by_value(find(priors, words(['Net', 'Wt', '500', 'g'], ['2', 'kg'], ['1000', '7']), 'item_weight'))
    assert set(with_bare) - set(alone) == {(1000.0, 'gram'), (7.0, 'gram')}
    for key, item in alone.items():
        assert with_bare[key].features == item.features


def test_glued_quantities_become_candidates_of_their_own_group(priors):
    items = find(priors, words(['36V250WMOTOR'], ['100KGWeight']), 'wattage')
    glued = [(i.candidate.value, i.candidate.unit) for i in items if i.candidate.group == 'glued']
    assert glued == [(250.0, 'watt')]  # 36V and 100KG are read by the scanner, and not twice
    assert all(i.features.glued_unit == (i.candidate.group == 'glued') for i in items)


def test_glued_quantities_leave_the_printed_quantities_features_alone(priors):
    alone = by_value(find(priors, words(['Net', 'Wt', '500', 'g'], ['2', 'kg']), 'item_weight'))
    with_glued = by_value(find(priors, words(['Net', 'Wt', '500', 'g'], ['2', 'kg'], ['200gpack']), 'item_weight'))
    assert set(with_glued) - set(alone) == {(200.0, 'gram')}
    for key, item in alone.items():
        assert with_glued[key].features == item.features


def test_candidate_box_spans_number_and_unit_words(priors):
    [item] = find(priors, words(['Net', 'Wt', '500', 'g']), 'item_weight')
    c = item.candidate
    assert (c.value, c.unit, c.allowed, c.text) == (500.0, 'gram', True, '500 g')
    assert (c.left, c.width) == (70, 30 + 10 + 10)  # 'Net' 30+10, 'Wt' 20+10; '500' 30, gap 10, 'g' 10
    assert item.features.centre_x == pytest.approx((70 + 25) / WIDTH)


def test_value_order_features_rank_within_one_kind(priors):
    items = by_value(find(priors, words(['1', 'kg'], ['500', 'g'], ['2', 'kg']), 'item_weight'))
    grams, one, two = items[500.0, 'gram'], items[1.0, 'kilogram'], items[2.0, 'kilogram']
    assert grams.features.is_smallest == 1.0 and grams.features.value_rank == 0.0
    assert two.features.is_largest == 1.0 and two.features.value_rank == 1.0
    assert 0.0 < one.features.value_rank < 1.0
    assert one.features.unit_share == pytest.approx(2 / 3)


def test_a_length_printed_before_its_twin_in_another_unit(priors):
    items = by_value(find(priors, words(['12in', '/', '30.5cm'], ['8', 'cm']), 'width'))
    inches, cm, other = items[12.0, 'inch'], items[30.5, 'centimetre'], items[8.0, 'centimetre']
    assert [i.features.has_twin_in_other_unit for i in (inches, cm, other)] == [1.0, 1.0, 0.0]
    assert [i.features.printed_before_its_twin for i in (inches, cm, other)] == [1.0, 0.0, 0.0]


ODD_INPUTS = [
    ('item_weight', ['0', 'g', '1/2', 'lb', '½oz']),
    ('voltage', ['100-240V', '12V', 'Battery', '3.7V', '500g']),
    ('width', ['30', 'x', '20', 'x', '10', 'cm', '12"']),
    ('wattage', ['1000000kW']),
    ('item_volume', ['1.5L', '12', 'fl', 'oz', '0.001ml']),
]


@pytest.mark.parametrize('entity, line', ODD_INPUTS)
@pytest.mark.parametrize('group_id', ['7', 'never-seen'])
def test_feature_vectors_are_whole_and_finite(priors, entity, line, group_id):
    items = find(priors, words(line, ['Other', 'text']), entity, group_id)
    assert items
    for item in items:
        assert isinstance(item.features, CandidateFeatures) and len(item.features) == len(FEATURES)
        assert all(isinstance(x, float) and math.isfinite(x) for x in item.features), item


def test_no_words_no_candidates(priors):
    assert find(priors, [], 'item_weight') == []
    assert find(priors, words(['hello', 'world']), 'item_weight') == []


def test_every_entity_has_keywords():
    assert set(KEYWORDS) == set(ENTITIES) == set(ENTITY_UNITS)


@pytest.mark.parametrize('entity, beside, over, expected', [
    ('height', True, False, 1.0), ('height', False, True, -1.0),
    ('width', False, True, 1.0), ('width', True, False, -1.0), ('depth', False, True, 0.0),
    ('height', False, False, 0.0), ('item_weight', True, False, 0.0),
])
def test_line_agrees_when_the_line_runs_the_entitys_way(priors, entity, beside, over, expected):
    [number, unit] = words(['74', 'cm'])
    marked = [number, replace(unit, line_beside=beside, line_over=over)]  # any word of the quantity counts
    [item] = [i for i in find(priors, marked, entity) if i.candidate.group == 'single']
    assert item.features.line_agrees == expected


# --- which length is which dimension ---

def word_at(text, left, top, width=60, height=20, angle=0.0, line=0, vertical=False):
    return OcrWord(text, left, top, width, height, 90.0, line, 'ppocrv6', vertical or abs(angle) >= 60, angle=angle)


@pytest.mark.parametrize('text, own, other', [
    ('H:30cm', 'height', 'width'), ('30cm(H)', 'height', 'depth'), ('Height 30cm', 'height', 'width'),
    ('W 30 cm', 'width', 'height'), ('L: 30cm', 'depth', 'width'), ('Depth 30 cm', 'depth', 'height'),
])
def test_a_letter_or_word_beside_a_length_names_its_dimension(priors, text, own, other):
    [mine] = find(priors, [word_at(text, 10, 10, 200)], own)
    [theirs] = find(priors, [word_at(text, 10, 10, 200)], other)
    assert mine.features.axis_label == 1.0 and theirs.features.axis_label == -1.0
    [weight] = find(priors, [word_at(text, 10, 10, 200)], 'item_weight')
    assert not weight.candidate.allowed and weight.features.axis_label == 0.0  # lengths only


def test_in_a_row_of_labelled_lengths_each_takes_the_label_next_to_it(priors):
    items = by_value(find(priors, [word_at('W 30cm x H 40cm', 10, 10, 300)], 'height'))
    assert items[40.0, 'centimetre'].features.axis_label == 1.0
    assert items[30.0, 'centimetre'].features.axis_label == -1.0
    [bare] = find(priors, [word_at('30 cm', 10, 10)], 'height')
    assert bare.features.axis_label == 0.0


def test_a_printed_legend_names_each_place_of_a_dimension_group(priors):
    ws = [word_at('Size (L x W x H)', 10, 10, 300, line=0), word_at('40 x 30 x 20 cm', 10, 60, 300, line=1)]
    for entity, value in (('depth', 40.0), ('width', 30.0), ('height', 20.0)):
        items = by_value(find(priors, ws, entity))
        assert items[value, 'centimetre'].features.legend_agrees == 1.0
        assert all(item.features.legend_agrees == -1.0 for key, item in items.items() if key[0] != value)
    no_legend = find(priors, [ws[1]], 'height')
    assert {item.features.legend_agrees for item in no_legend} == {0.0}


@pytest.mark.parametrize('angle, axis', [(0.0, 'level'), (3.0, 'level'), (-35.0, 'slanted'), (150.0, 'slanted'),
                                         (90.0, 'sideways'), (-88.0, 'sideways')])
def test_the_texts_direction_speaks_for_a_dimension(priors, angle, axis):
    word = word_at('30 cm', 10, 10, 60, 60, angle=angle)
    agrees = {entity: find(priors, [word], entity)[0].features.text_axis_agrees
              for entity in ('height', 'width', 'depth')}
    assert agrees == {'level': {'height': -1.0, 'width': 1.0, 'depth': 0.0},
                      'slanted': {'height': 0.0, 'width': 0.0, 'depth': 1.0},
                      'sideways': {'height': 1.0, 'width': -1.0, 'depth': 0.0}}[axis]
    assert find(priors, [word], 'depth')[0].features.slanted == float(axis == 'slanted')


@pytest.mark.parametrize('slanted_line, straight_line, angle, axis', [
    (True, None, 0.0, 'slanted'),             # '17"' printed level by a chair's receding edge
    (True, 'line_over', 0.0, 'level'),         # a width's line under it says more than a slant nearby
    (True, 'line_beside', 0.0, 'level'),
    (True, None, 90.0, 'sideways'),            # sideways text keeps its own direction
    (False, None, 0.0, 'level'),
])
def test_level_text_by_a_slanted_line_alone_counts_as_slanted(priors, slanted_line, straight_line, angle, axis):
    word = replace(word_at('17 in', 10, 10, 60, 60, angle=angle), line_slanted=slanted_line)
    if straight_line:
        word = replace(word, **{straight_line: True})
    [depth] = find(priors, [word], 'depth')
    [width] = find(priors, [word], 'width')
    assert depth.features.slanted == float(axis == 'slanted')
    assert depth.features.text_axis_agrees == float(axis == 'slanted')
    assert width.features.text_axis_agrees == {'level': 1.0, 'slanted': 0.0, 'sideways': -1.0}[axis]


def test_a_length_at_the_side_of_the_picture_speaks_for_height_above_or_below_for_width(priors):
    side, below = word_at('30 cm', 10, 290), word_at('50 cm', 380, 570)  # 800 x 600 picture
    for entity, sign in (('height', 1), ('width', -1)):
        items = by_value(find(priors, [side, below], entity))
        assert sign * items[30.0, 'centimetre'].features.side_agrees > 0.3
        assert sign * items[50.0, 'centimetre'].features.side_agrees < -0.3
        # both printed level: for a height only the side counts for it, for a width both count
        assert sign * (items[30.0, 'centimetre'].features.axis_evidence
                       - items[50.0, 'centimetre'].features.axis_evidence) == 2.0
    assert {item.features.side_agrees for item in find(priors, [side, below], 'depth')} == {0.0}


def test_axis_evidence_weighs_a_printed_label_above_the_texts_direction(priors):
    # 'H 30 cm' printed level at the bottom: the label outweighs the level text and the place
    [item] = find(priors, [word_at('H 30 cm', 380, 570)], 'height')
    assert (item.features.axis_label, item.features.text_axis_agrees) == (1.0, -1.0)
    assert item.features.axis_evidence == 0.0  # 2 for the label, -1 level, -1 below
    [item] = find(priors, [word_at('30 cm', 380, 570)], 'height')
    assert item.features.axis_evidence == -2.0


def test_a_length_printed_in_two_units_is_one_measure(priors):
    ws = words(['1', 'm'], ['13', 'cm', '/', '5.1', 'in'], ['20', 'cm'], ['7.9', 'in'])
    items = find(priors, ws, 'width')
    # 13 cm = 5.1 in, 20 cm = 7.9 in; 1 m stands alone: three measures of five readings
    assert {item.features.measures for item in items} == {3.0}
    assert {item.features.distinct_allowed for item in items} == {5.0}


def test_implausible_values_are_marked(priors):
    items = by_value(find(priors, words(['118292', 'fl', 'oz'], ['12', 'fl', 'oz']), 'item_volume'))
    assert not items[118292.0, 'fluid ounce'].candidate.plausible
    assert items[118292.0, 'fluid ounce'].features.plausible == 0.0
    assert items[12.0, 'fluid ounce'].candidate.plausible and items[12.0, 'fluid ounce'].features.plausible == 1.0
