"""Priors: units and values each entity takes, counted from (here: made-up) training labels."""
import csv
import json
import math
import os

import pytest

from pipeline.build_priors import excluded_links
from tests.conftest import SHARED_DATA
from transforms.logic import priors as priors_module
from transforms.logic.priors import PRIORS_PATH, Priors, build_priors, load_priors
from transforms.logic.units import ENTITY_UNITS


def label(group_id, entity_name, entity_value):
    return {'group_id': group_id, 'entity_name': entity_name, 'entity_value': entity_value}


ROWS = (
    [label('A', 'item_weight', '500.0 gram')] * 6
    + [label('A', 'item_weight', '1.0 kilogram')] * 2
    + [label('B', 'item_weight', '16.0 ounce')] * 4
    + [label('B', 'item_weight', '250.0 gram')]
    + [label('A', 'voltage', '12.0 volt')] * 3
    + [label('A', 'voltage', '[100.0, 240.0] volt')] * 2   # a range
    + [label('A', 'item_weight', '5.0 volt')]               # a unit item_weight does not take
    + [label('A', 'item_weight', 'five gram')]              # junk
    + [label('A', 'shoe_size', '42.0 gram')]                # not an entity
)


@pytest.fixture(scope='module')
def built():
    return build_priors(ROWS)


def test_units_are_counted_per_entity_and_per_group(built):
    assert built['units'] == {'item_weight': {'gram': 7, 'kilogram': 2, 'ounce': 4}, 'voltage': {'volt': 3}}
    assert built['group_units'] == {
        'A': {'item_weight': {'gram': 6, 'kilogram': 2}, 'voltage': {'volt': 3}},
        'B': {'item_weight': {'gram': 1, 'ounce': 4}},
    }
    assert sum(built['values']['item_weight']['gram']) == 7


def test_rows_of_excluded_images_are_not_counted():
    rows = [dict(row, image_link=f'https://x/{i}.jpg') for i, row in enumerate(ROWS)]
    kept = build_priors(rows, exclude_links=frozenset({'https://x/0.jpg', 'https://x/8.jpg'}))
    assert kept['excluded_rows'] == 2
    assert kept['units']['item_weight'] == {'gram': 6, 'kilogram': 2, 'ounce': 3}
    assert build_priors(rows)['excluded_rows'] == 0


def test_ranges_junk_and_units_not_allowed_are_not_counted(built):
    assert built['range_labels']['voltage'] == 2
    assert 'volt' not in built['units']['item_weight']
    assert 'shoe_size' not in built['units'] and 'shoe_size' not in built['values']
    assert sum(sum(units.values()) for units in built['units'].values()) == 6 + 2 + 4 + 1 + 3


def test_unit_log_prob_follows_the_counts_and_sums_to_one(built):
    p = Priors(built)
    assert p.unit_log_prob('item_weight', 'gram') > p.unit_log_prob('item_weight', 'ounce') \
        > p.unit_log_prob('item_weight', 'kilogram') > p.unit_log_prob('item_weight', 'ton')
    for entity in ('item_weight', 'voltage', 'width'):  # width: no labels at all, so flat
        total = sum(math.exp(p.unit_log_prob(entity, unit)) for unit in ENTITY_UNITS[entity])
        assert total == pytest.approx(1.0)
    assert len({p.unit_log_prob('width', unit) for unit in ENTITY_UNITS['width']}) == 1


def test_a_group_favours_its_own_units(built):
    p = Priors(built)
    assert p.group_unit_log_prob('item_weight', 'gram', 'A') > p.group_unit_log_prob('item_weight', 'ounce', 'A')
    assert p.group_unit_log_prob('item_weight', 'ounce', 'B') > p.group_unit_log_prob('item_weight', 'gram', 'B')
    # an unseen group falls back to the entity's own distribution
    for unit in ENTITY_UNITS['item_weight']:
        assert p.group_unit_log_prob('item_weight', unit, 'Z') == pytest.approx(p.unit_log_prob('item_weight', unit))
    for group in ('A', 'B', 'Z'):
        total = sum(math.exp(p.group_unit_log_prob('item_weight', unit, group))
                    for unit in ENTITY_UNITS['item_weight'])
        assert total == pytest.approx(1.0)


def test_value_density_is_higher_where_values_were_seen(built):
    p = Priors(built)
    seen = p.value_log_density('item_weight', 'gram', 500.0)
    assert seen > p.value_log_density('item_weight', 'gram', 5.0)
    assert seen > p.value_log_density('item_weight', 'gram', 50000.0)
    assert p.value_log_density('item_weight', 'gram', 510.0) == seen  # same quarter-decade bin
    # a unit never seen for the entity is flat
    assert p.value_log_density('item_weight', 'ton', 1.0) == p.value_log_density('item_weight', 'ton', 1000.0)


def test_value_bins_cover_extremes_without_error(built):
    p = Priors(built)
    for value in (0.0, 1e-9, 1e12):
        assert math.isfinite(p.value_log_density('item_weight', 'gram', value))
    assert priors_module._bin(0.0) == 0 and priors_module._bin(1e12) == priors_module.BINS - 1


def written_rows():
    """item_weight grams: group I writes whole numbers as '500 gram', group F as '500.0 gram';
    kilograms are written with '.0' in both; group N has only labels that are not whole."""
    return ([label('I', 'item_weight', f'{v} gram') for v in (100, 200, 300, 400)]
            + [label('F', 'item_weight', f'{v}.0 gram') for v in (100, 200, 300, 400, 500, 600)]
            + [label('I', 'item_weight', '2.0 kilogram')] * 3
            + [label('N', 'item_weight', '2.5 gram')] * 3)


def test_usual_values_rank_exact_values_labelled_at_least_twice(built):
    assert built['usual_values'] == {'item_weight': ['500.0 gram', '16.0 ounce', '1.0 kilogram'],
                                     'voltage': ['12.0 volt']}
    assert built['group_usual_values'] == {'A': {'item_weight': ['500.0 gram', '1.0 kilogram'],
                                                 'voltage': ['12.0 volt']},
                                           'B': {'item_weight': ['16.0 ounce']}}
    p = Priors(built)
    assert p.usual_values('item_weight', 'B') == [(16.0, 'ounce')]
    assert p.usual_values('item_weight', 'unknown group') == [(500.0, 'gram'), (16.0, 'ounce'), (1.0, 'kilogram')]
    assert p.usual_values('voltage', 'B') == [(12.0, 'volt')]  # B labels no voltage: the entity's
    assert p.usual_values('wattage', 'A') == []


def test_integer_share_per_unit_and_per_group():
    p = Priors(build_priors(written_rows()))
    entity_share = 4 / 10  # whole-gram labels written without '.0'
    share_i = p.integer_share('item_weight', 'gram', 'I')
    share_f = p.integer_share('item_weight', 'gram', 'F')
    assert share_i > 0.5 > share_f
    # shrunk towards the entity's share: between it and the group's own (1.0 for I, 0.0 for F)
    assert entity_share < share_i < 1.0
    assert 0.0 < share_f < entity_share
    # per unit: the same group writes its kilograms with '.0'
    assert p.integer_share('item_weight', 'kilogram', 'I') < 0.5
    # an unseen group gets the entity's share; a group whose labels are all not whole counts
    # them as written with a point
    assert p.integer_share('item_weight', 'gram', 'unseen') == pytest.approx(entity_share)
    assert p.integer_share('item_weight', 'gram', 'N') < entity_share


def test_more_labels_of_a_group_pull_its_share_further_from_the_entitys():
    few = Priors(build_priors(written_rows()))
    many = Priors(build_priors(written_rows() + [label('I', 'item_weight', '700 gram')] * 20
                               + [label('F', 'item_weight', '700.0 gram')] * 20))
    assert many.integer_share('item_weight', 'gram', 'I') > few.integer_share('item_weight', 'gram', 'I')
    assert many.integer_share('item_weight', 'gram', 'I') > 0.9


def test_priors_survive_the_json_file(tmp_path):
    path = tmp_path / 'priors.json'
    path.write_text(json.dumps(build_priors(written_rows() + ROWS)))
    loaded, direct = load_priors(path), Priors(build_priors(written_rows() + ROWS))
    for args in (('item_weight', 'gram', 'I'), ('item_weight', 'kilogram', 'A'), ('item_weight', 'ounce', 'B')):
        assert loaded.integer_share(*args) == direct.integer_share(*args)
        assert loaded.group_unit_log_prob(*args) == direct.group_unit_log_prob(*args)
    assert loaded.value_log_density('item_weight', 'gram', 500.0) == direct.value_log_density('item_weight', 'gram', 500.0)


# --- the priors the package ships ---

@pytest.fixture(scope='module')
def shipped():
    if not PRIORS_PATH.exists():
        pytest.skip('transforms/data/priors.json not built')
    return load_priors()


def test_shipped_priors_are_rebuilt_from_train_labels_without_the_dev_images(shipped):
    """make priors is reproducible, and no dev label is counted into what dev is scored with."""
    train, dev_labels = (os.path.join(SHARED_DATA, 'train_labels.csv'),
                         os.path.join(SHARED_DATA, 'dev', 'labels.csv'))
    if not os.path.exists(train):
        pytest.skip('../shared/data not available')
    dev = excluded_links([dev_labels])
    with open(train, newline='', encoding='utf-8') as handle:
        rebuilt = build_priors(csv.DictReader(handle), dev)
    assert rebuilt['excluded_rows'] >= len(dev) > 0
    assert json.loads(json.dumps(rebuilt)) == shipped.data


def test_shipped_priors_use_the_modules_histogram(shipped):
    assert shipped.data['histogram'] == {'log10_low': priors_module.LOG10_LOW,
                                         'log10_high': priors_module.LOG10_HIGH, 'bins': priors_module.BINS}
    for units in shipped.data['values'].values():
        assert all(len(counts) == priors_module.BINS for counts in units.values())
    for entity, units in shipped.data['units'].items():
        assert set(units) <= ENTITY_UNITS[entity]


def test_shipped_priors_favour_the_usual_units(shipped):
    assert shipped.unit_log_prob('voltage', 'volt') > max(
        shipped.unit_log_prob('voltage', u) for u in ('kilovolt', 'millivolt'))
    assert shipped.unit_log_prob('item_weight', 'gram') > shipped.unit_log_prob('item_weight', 'ton')
    assert shipped.unit_log_prob('wattage', 'watt') > shipped.unit_log_prob('wattage', 'kilowatt')
    assert shipped.unit_log_prob('item_volume', 'millilitre') > shipped.unit_log_prob('item_volume', 'cubic foot')


def test_shipped_priors_place_voltages_at_everyday_values(shipped):
    assert shipped.value_log_density('voltage', 'volt', 12.0) > shipped.value_log_density('voltage', 'volt', 50000.0)
    assert shipped.value_log_density('item_weight', 'gram', 500.0) > \
        shipped.value_log_density('item_weight', 'gram', 0.002)
