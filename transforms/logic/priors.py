"""Priors from the 197k training labels: which units and which values each entity takes.

Text on a product image often holds several quantities; what the catalogue usually records
for an entity (grams rather than ounces for item_weight in one product group, 5-50 V rather
than 1000 V for voltage) tells them apart. `make priors` (python -m pipeline.build_priors)
counts ../shared/data/train_labels.csv into transforms/data/priors.json, a small file the
package ships; workers only read it. The dev images come from the challenge's training set, so
their rows are in train_labels.csv too: `make priors` leaves out every row whose image_link is
a dev image's, so dev scores stay honest.
"""
import json
import math
from collections import defaultdict
from pathlib import Path

from transforms.logic.units import ENTITY_UNITS

PRIORS_PATH = Path(__file__).parent.parent / 'data' / 'priors.json'
# Value histograms: log10(value) in bins of a quarter decade from 0.001 to 1,000,000.
LOG10_LOW, LOG10_HIGH, BINS = -3.0, 6.0, 36
GROUP_SMOOTHING = 5.0  # a group's own unit counts weigh like this many labels of the entity's
USUAL_VALUES = 3  # the most frequent exact label values kept per entity and per group
MIN_VALUE_COUNT = 2  # a value labelled once in a group is no habit of the group's
# a value is implausible for an entity and unit when fewer labels than this count, or share, lie near it
PLAUSIBLE_COUNT, PLAUSIBLE_SHARE, MIN_LABELS_TO_JUDGE = 3, 0.0005, 100


def _parse_label(text: str):
    """'500.0 gram' -> (500.0, 'gram', written_as_integer); ranges and junk -> None."""
    parts = text.strip().split(' ', 1)
    if len(parts) != 2 or text.startswith('['):
        return None
    try:
        value = float(parts[0])
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value, parts[1].strip(), '.' not in parts[0]


def _bin(value: float) -> int:
    if value <= 0:
        return 0
    position = (math.log10(value) - LOG10_LOW) / (LOG10_HIGH - LOG10_LOW) * BINS
    return min(BINS - 1, max(0, int(position)))


def value_key(value: float, unit: str) -> str:
    """How an exact value is keyed in the priors: '500.0 gram'."""
    return f'{float(value)!r} {unit}'


def _usual(by_entity: dict) -> dict:
    """entity -> its USUAL_VALUES most frequent value keys (ties by key), each labelled at least
    MIN_VALUE_COUNT times."""
    usual = {}
    for entity, counts in sorted(by_entity.items()):
        ranked = sorted((item for item in counts.items() if item[1] >= MIN_VALUE_COUNT),
                        key=lambda item: (-item[1], item[0]))
        if ranked:
            usual[entity] = [key for key, _ in ranked[:USUAL_VALUES]]
    return usual


def build_priors(rows, exclude_links=frozenset()) -> dict:
    """Count label rows (dicts with group_id, entity_name, entity_value) into the priors dict,
    leaving out rows whose image_link is in exclude_links (the images we score on)."""
    units = defaultdict(lambda: defaultdict(int))
    group_units = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    values = defaultdict(lambda: defaultdict(lambda: [0] * BINS))
    # whole numbers, written '500 gram' or '500.0 gram': entity -> unit -> [integer, float]
    written = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    group_written = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: [0, 0])))
    # exact values ('500.0 gram'): entity -> key -> count, and group -> entity -> key -> count
    exact = defaultdict(lambda: defaultdict(int))
    group_exact = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    ranges = defaultdict(int)
    excluded = 0
    for row in rows:
        if exclude_links and row.get('image_link') in exclude_links:
            excluded += 1
            continue
        entity = row['entity_name']
        if entity not in ENTITY_UNITS:
            continue
        parsed = _parse_label(row['entity_value'])
        if parsed is None:
            ranges[entity] += row['entity_value'].startswith('[')
            continue
        value, unit, as_integer = parsed
        if unit not in ENTITY_UNITS[entity]:
            continue
        units[entity][unit] += 1
        group_units[row['group_id']][entity][unit] += 1
        exact[entity][value_key(value, unit)] += 1
        group_exact[row['group_id']][entity][value_key(value, unit)] += 1
        values[entity][unit][_bin(value)] += 1
        if value == int(value):
            written[entity][unit][0 if as_integer else 1] += 1
            group_written[row['group_id']][entity][unit][0 if as_integer else 1] += 1
    return {
        'source': 'train_labels.csv',
        'excluded_rows': excluded,
        'histogram': {'log10_low': LOG10_LOW, 'log10_high': LOG10_HIGH, 'bins': BINS},
        'units': {e: dict(sorted(u.items())) for e, u in sorted(units.items())},
        'group_units': {g: {e: dict(sorted(u.items())) for e, u in sorted(es.items())}
                        for g, es in sorted(group_units.items())},
        'values': {e: {u: counts for u, counts in sorted(us.items())} for e, us in sorted(values.items())},
        'integer_written': {e: dict(sorted(u.items())) for e, u in sorted(written.items())},
        # only where some label is written as an integer: the other groups follow the entity
        'group_integer_written': {
            g: {e: dict(sorted(u.items())) for e, u in sorted(es.items())
                if any(n[0] for n in u.values())}
            for g, es in sorted(group_written.items())
            if any(n[0] for u in es.values() for n in u.values())},
        'range_labels': dict(sorted(ranges.items())),
        'usual_values': _usual(exact),
        'group_usual_values': {g: usual for g, es in sorted(group_exact.items()) if (usual := _usual(es))},
    }


class Priors:
    """Smoothed log-probabilities read from the priors dict."""

    def __init__(self, data: dict):
        self.data = data
        self._units = data['units']
        self._group_units = data['group_units']
        self._values = data['values']

    def unit_log_prob(self, entity: str, unit: str) -> float:
        """log P(unit | entity), add-one smoothed over the entity's allowed units."""
        counts = self._units.get(entity, {})
        allowed = ENTITY_UNITS.get(entity, ())
        total = sum(counts.values()) + len(allowed)
        return math.log((counts.get(unit, 0) + 1) / max(total, 1))

    def group_unit_log_prob(self, entity: str, unit: str, group_id: str) -> float:
        """log P(unit | entity, group): the group's own counts, shrunk towards the entity's."""
        counts = self.group_unit_counts(entity, group_id)
        prior = math.exp(self.unit_log_prob(entity, unit))
        total = sum(counts.values())
        return math.log((counts.get(unit, 0) + GROUP_SMOOTHING * prior) / (total + GROUP_SMOOTHING))

    def group_unit_counts(self, entity: str, group_id: str) -> dict:
        """unit -> how many of the group's training labels for this entity are in it."""
        return self._group_units.get(str(group_id), {}).get(entity, {})

    def value_log_density(self, entity: str, unit: str, value: float) -> float:
        """log P(value's quarter-decade bin | entity, unit), smoothed; unseen units are flat."""
        counts = self._values.get(entity, {}).get(unit)
        if not counts:
            return math.log(1.0 / BINS)
        return math.log((counts[_bin(value)] + 0.5) / (sum(counts) + 0.5 * BINS))

    def plausible(self, entity: str, unit: str, value: float) -> bool:
        """Whether training labels of this entity and unit come near the value (within a quarter
        decade either way, at least PLAUSIBLE_COUNT of them or a PLAUSIBLE_SHARE): '118292 fluid
        ounce' is no item_volume, and no 0 is any entity's. Units with too few labels to tell
        are plausible."""
        if value <= 0:
            return False
        counts = self._values.get(entity, {}).get(unit)
        total = sum(counts) if counts else 0
        if total < MIN_LABELS_TO_JUDGE:
            return True
        at = _bin(value)
        return sum(counts[max(at - 1, 0):at + 2]) >= min(PLAUSIBLE_COUNT, PLAUSIBLE_SHARE * total)

    def usual_values(self, entity: str, group_id: str) -> list:
        """The (value, unit) pairs the group's labels for this entity give most often, most
        frequent first; the entity's own when the group has no value labelled twice."""
        keys = self.data.get('group_usual_values', {}).get(str(group_id), {}).get(entity) \
            or self.data.get('usual_values', {}).get(entity, [])
        return [_parse_label(key)[:2] for key in keys]

    def integer_share(self, entity: str, unit: str, group_id: str = '') -> float:
        """Of the whole-number labels for this entity and unit, the share written without '.0'
        ('500 gram', the official scorer's string compare cares): the group's own, shrunk
        towards the entity's."""
        integer, floating = self.data['integer_written'].get(entity, {}).get(unit, (0, 0))
        share = integer / (integer + floating) if integer + floating else 0.0
        group = self.data['group_integer_written'].get(str(group_id), {}).get(entity)
        if group is None:
            group_counts = (0, self._group_floats(entity, group_id))
        else:
            group_counts = group.get(unit, (0, 0))
        g_int, g_float = group_counts
        return (g_int + GROUP_SMOOTHING * share) / (g_int + g_float + GROUP_SMOOTHING)

    def _group_floats(self, entity: str, group_id: str) -> int:
        """A group with no integer-written label for the entity: its labels count as floats."""
        return sum(self.group_unit_counts(entity, group_id).values())


def load_priors(path=PRIORS_PATH) -> Priors:
    with open(path, encoding='utf-8') as handle:
        return Priors(json.load(handle))
