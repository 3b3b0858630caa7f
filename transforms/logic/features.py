"""Candidates: every quantity in a row's OCR words, with the features the chooser scores.

A product image holds many quantities (net weight and serving size, 100-240V input and 12V
output, three dimensions); which one the catalogue records depends on where and how it is
printed and on what the entity usually takes. Each candidate carries those clues as named
features: its unit and the priors of that unit and value for the entity (from the training
labels), how large it is printed, where, how sure the OCR was, which keywords stand on its
line, how often it repeats, whether another engine read it too, and its place in a range
(100-240V) or a dimension group (30 x 20 x 10 cm). Pure functions, no Beam.
"""
import bisect
import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

from transforms.logic.lines import direction_of
from transforms.logic.priors import Priors
from transforms.logic.units import (ENTITY_UNITS, METRIC_UNITS, TO_BASE_UNIT, Quantity, bare_numbers, find_quantities,
                              glued_quantities, lone_unit)
from transforms.records import Candidate, OcrWord

ENTITIES = tuple(sorted(ENTITY_UNITS))

# Words that name an entity on a label; single letters count only as whole tokens ('H 30cm').
KEYWORDS = {
    'item_weight': ('net', 'wt', 'weight', 'peso', 'poids', 'netto', 'nw', 'nett', 'gewicht'),
    'maximum_weight_recommendation': ('max', 'maximum', 'load', 'capacity', 'holds', 'supports',
                                      'bearing', 'loading', 'up'),
    'item_volume': ('volume', 'capacity', 'contents', 'vol', 'fl', 'liquid'),
    'voltage': ('input', 'output', 'voltage', 'rated', 'ac', 'dc', 'battery', 'v'),
    'wattage': ('power', 'output', 'rated', 'wattage', 'watts', 'max'),
    'width': ('width', 'wide', 'w'),
    'depth': ('depth', 'deep', 'd', 'length', 'long', 'l'),
    'height': ('height', 'high', 'tall', 'h'),
}
# Letters and words printed just beside a length to say which one it is ('H: 30cm', '40cm (W)',
# 'L x W x H'), other languages' included. (Made the dimensions' keywords too, anywhere on the
# line, they cost 0.003 of cross-validated F1: the short lists above stay.)
DIMENSIONS = ('width', 'depth', 'height')
AXIS_LABELS = {
    'height': ('h', 'ht', 'height', 'high', 'tall', 'hauteur', 'hohe', 'höhe', 'altura', 'altezza'),
    'width': ('w', 'wd', 'width', 'wide', 'breite', 'largeur', 'ancho', 'larghezza'),
    'depth': ('d', 'l', 'depth', 'deep', 'length', 'long', 'len', 'tiefe', 'profondeur', 'longueur', 'länge'),
}
_LEGEND = re.compile(r'(?<![^\W\d_])([LWHD])\s*[xX×*]\s*([LWHD])(?:\s*[xX×*]\s*([LWHD]))?(?![^\W\d_])')
_TOKEN = re.compile(r'[a-zäöü]+')
_UNIT_AFTER_NUMBER = re.compile(r'(?<=[0-9])\s*[a-z]+')
_CASE_CHANGE = re.compile(r'(?<=[a-z])(?=[A-Z])')


def tokens(text: str) -> list:
    """Lower-case letter runs of OCR text, split where OCR ran words together ('NetWt') and
    without the units that follow numbers (the V of '12V' is no voltage keyword)."""
    return _TOKEN.findall(_UNIT_AFTER_NUMBER.sub(' ', _CASE_CHANGE.sub(' ', text).lower()))


TWIN_TOLERANCE = 0.05  # '13 cm' and '5.3 in' are one length printed twice
# candidates not printed as a clean quantity: left out of the row's ranks and counts, so that
# adding them leaves the features of the printed quantities as they were
UNPRINTED_GROUPS = ('bare', 'glued')


class CandidateFeatures(NamedTuple):
    """What the chooser knows of one candidate, one named field per feature. It is a tuple, so
    it is also the vector the tree model reads: the field order is the order of chooser.json's
    'features' list and its trees' feature numbers, and must not change without `make train`."""
    # the entity's priors (training labels) for this unit and value
    unit_log_prob: float
    group_unit_log_prob: float
    value_log_density: float
    log10_value: float
    is_whole: float
    # how large and where it is printed, and how sure the OCR was
    prominence: float             # text size / the largest on the image
    size_in_image: float          # text size / the image's longer side
    size_rank: float              # how many allowed quantities are printed larger
    centre_x: float
    centre_y: float
    confidence: float
    vertical: float
    # keywords on its line (KEYWORDS)
    keyword_self: float
    keyword_before: float
    keyword_other_dimension: float
    keyword_weight: float
    keyword_max_load: float
    # how often and by which engines it was read
    repeats: float
    other_engine_agrees: float
    engine_ppocr: float
    # its group: a range (100-240V) or dimensions (30 x 20 x 10 cm)
    in_range: float
    range_low: float
    range_high: float
    in_dimensions: float
    dimension_position: float
    dimension_count: float
    # its place among the row's allowed quantities printed with a unit
    value_rank: float
    is_largest: float
    is_smallest: float
    allowed_count: float
    distinct_allowed: float
    unit_share: float
    has_twin_in_other_unit: float  # the same measure printed in another unit ('13 cm' and '5.1 in')
    is_metric: float
    x_rank: float
    y_rank: float
    bare_number: float
    bare_unit_source: float        # BARE_UNIT_FROM_*, 0 for a quantity printed with its unit
    printed_before_its_twin: float
    glued_unit: float
    # clues that a length is the row's dimension (see axis_evidence)
    line_agrees: float
    slanted: float
    axis_label: float
    legend_agrees: float
    side_agrees: float
    text_axis_agrees: float
    axis_evidence: float
    measures: float
    plausible: float
    # the row's entity, one-hot in ENTITIES order
    entity_depth: float
    entity_height: float
    entity_item_volume: float
    entity_item_weight: float
    entity_maximum_weight_recommendation: float
    entity_voltage: float
    entity_wattage: float
    entity_width: float


FEATURES = CandidateFeatures._fields


@dataclass(frozen=True)
class Scored:
    """A candidate with its features, before the chooser scores it."""
    candidate: Candidate
    features: CandidateFeatures


def entity_unit(entity_name: str, unit: str) -> str:
    """The unit as the entity reads it: ounces on a volume row are fluid ounces."""
    if entity_name == 'item_volume' and unit == 'ounce':
        return 'fluid ounce'
    return unit


def text_size(word: OcrWord) -> int:
    """The printed size of a word's letters: its box height, or its width when it runs vertically."""
    return word.width if word.vertical else word.height


def _line_tokens(words: Sequence[OcrWord]) -> dict:
    lines = {}
    for word in words:
        lines.setdefault((word.engine, word.line), set()).update(tokens(word.text))
    return lines


def _tokens_before(words: Sequence[OcrWord], first: int, quantity_text: str) -> set:
    """Letter tokens just before a quantity: the two words ahead on its line, and any text
    ahead of the number inside its own word ('H:30cm', 'NetWt.500g')."""
    line = words[first].line
    found = set()
    for word in words[max(0, first - 2):first]:
        if word.line == line:
            found.update(tokens(word.text))
    head = re.split(r'[0-9]', quantity_text, maxsplit=1)[0]
    found.update(tokens(head))
    return found


def _quantities_by_engine(engines: list):
    """(quantity, the words it was read from): each engine's words are read on their own, in
    reading order, so no quantity spans two engines' words."""
    for own in engines:
        for quantity in find_quantities([w.text for w in own]):
            yield quantity, own


def _by_engine(words: Sequence[OcrWord]) -> list:
    """Each engine's words, in reading order: one list per engine."""
    by_engine = {}
    for word in words:
        by_engine.setdefault(word.engine, []).append(word)
    return list(by_engine.values())


# Where a bare number's unit came from (feature bare_unit_source): the quantities printed with a
# unit on the same image, a unit word standing alone (a drawing's legend), or the training labels.
BARE_UNIT_FROM_QUANTITIES, BARE_UNIT_FROM_LEGEND, BARE_UNIT_FROM_PRIOR = 1.0, 2.0, 3.0


def _bare_units(quantity_units: Counter, words: Sequence[OcrWord], entity_name: str, group_id: str,
                priors: Priors) -> tuple:
    """(units, source) to give the row's bare numbers: drawings print the unit once ('cm') or
    only beside some of their numbers; failing both, the product group's two usual units."""
    allowed = ENTITY_UNITS.get(entity_name, frozenset())
    printed = [unit for unit, _ in quantity_units.most_common() if unit in allowed]
    if printed:
        return printed[:1], BARE_UNIT_FROM_QUANTITIES
    legend = Counter(u for u in (entity_unit(entity_name, lone_unit(w.text) or '') for w in words) if u in allowed)
    if legend:
        return [legend.most_common(1)[0][0]], BARE_UNIT_FROM_LEGEND
    usual = sorted(sorted(allowed), key=lambda unit: -priors.group_unit_log_prob(entity_name, unit, group_id))
    return usual[:2], BARE_UNIT_FROM_PRIOR


def _bare_quantities(printed: list, engines: list, units: list) -> list:
    """(quantity, the words it was read from) for each number printed without a unit, in words
    that hold none of the printed quantities: one per unit, all of the first unit's first."""
    taken = {(own[0].engine, i) for q, own in printed for i in range(q.first_word, q.last_word + 1)}
    found = [(value, number, own) for own in engines for number, word in enumerate(own)
             if (word.engine, number) not in taken for value in bare_numbers(word.text)]
    return [(Quantity(value, unit, own[number].text, number, number, 'bare', 0, 1), own)
            for unit in units for value, number, own in found]


def _glued_quantities(printed: list, engines: list) -> list:
    """(quantity, the words it was read from) for each number whose unit runs on into other
    letters ('200gpack'), unless that word already gave the same quantity."""
    read = {(own[0].engine, i, q.value, q.unit) for q, own in printed for i in range(q.first_word, q.last_word + 1)}
    return [(Quantity(value, unit, word.text, number, number, 'glued', 0, 1), own)
            for own in engines for number, word in enumerate(own)
            for value, unit in glued_quantities(word.text) if (word.engine, number, value, unit) not in read]


def _line_agrees(entity_name: str, span: Sequence[OcrWord]) -> float:
    """+1 when the quantity stands by a dimension line the entity's way (a height beside a
    vertical line, a width above or below a horizontal one), -1 the other way, else 0. Depths
    run along slanted lines in perspective drawings: on dev neither way told right from wrong."""
    beside, over = any(w.line_beside for w in span), any(w.line_over for w in span)
    if entity_name == 'height':
        return float(beside) - float(over)
    if entity_name == 'width':
        return float(over) - float(beside)
    return 0.0


def _axis_of(token: str) -> Optional[str]:
    return next((entity for entity, labels in AXIS_LABELS.items() if token in labels), None)


def _axis_label(entity_name: str, own: Sequence[OcrWord], quantity: Quantity) -> float:
    """+1 when the letter or word printed just before or after the length names the row's
    dimension ('H 30cm', '30cm(H)', 'Height: 30cm'), -1 when it names another, 0 otherwise or
    when both sides name one each ('30cm W 40cm H' leaves 40cm undecided)."""
    if entity_name not in DIMENSIONS:
        return 0.0
    before = tokens(quantity.text[:quantity.start])
    after = tokens(quantity.text[quantity.end:]) if quantity.end else []
    line = own[quantity.first_word].line
    if not before and quantity.first_word > 0 and own[quantity.first_word - 1].line == line:
        before = tokens(own[quantity.first_word - 1].text)
    if not after and quantity.last_word + 1 < len(own) and own[quantity.last_word + 1].line == line:
        after = tokens(own[quantity.last_word + 1].text)
    named = [_axis_of(side[i]) for side, i in ((before, -1), (after, 0)) if side]
    score = sum((axis == entity_name) - (axis is not None and axis != entity_name) for axis in named)
    return float(max(-1, min(1, score)))


def printed_legend(words: Sequence[OcrWord]) -> tuple:
    """The axes of a printed 'L x W x H' legend, in order, as entities ('depth', 'width',
    'height'); () when none is printed."""
    for word in words:
        match = _LEGEND.search(word.text)
        if match:
            return tuple(_axis_of(letter.lower()) for letter in match.groups() if letter)
    return ()


def _legend_agrees(entity_name: str, legend: tuple, quantity: Quantity) -> float:
    """+1 when the length stands in a dimension group where the printed legend puts the row's
    dimension ('30 x 20 x 10 cm' under 'L x W x H': 10 is the height), -1 where it puts another."""
    if entity_name not in DIMENSIONS or quantity.group != 'dimensions' or len(legend) != quantity.group_size:
        return 0.0
    return 1.0 if legend[quantity.group_position] == entity_name else -1.0


def _side_agrees(entity_name: str, centre_x: float, centre_y: float) -> float:
    """How much nearer the image's left or right edge than its top or bottom the length stands
    (drawings print the height at a side of the product, the width above or below it): positive
    for a height there, for a width the other way; 0 for other entities."""
    side = min(centre_y, 1 - centre_y) - min(centre_x, 1 - centre_x)
    return side if entity_name == 'height' else -side if entity_name == 'width' else 0.0


def _word_axis(word: OcrWord) -> str:
    """The word's text axis; words recorded before angles were (vertical, angle 0) are vertical.
    Level text by a slanted line and by no straight one counts as slanted: perspective drawings
    often print a depth level beside its receding edge (see transforms/logic/lines.py)."""
    if word.vertical and not word.angle:
        return 'vertical'
    axis = direction_of(word.angle)
    if axis == 'horizontal' and word.line_slanted and not (word.line_beside or word.line_over):
        return 'slanted'
    return axis


def _text_axis_agrees(entity_name: str, axis: str) -> float:
    """+1 for a height printed sideways, a width printed level or a depth printed slanted (along
    a perspective drawing's receding edge), -1 for a height printed level or a width sideways."""
    if entity_name == 'height':
        return {'vertical': 1.0, 'horizontal': -1.0}.get(axis, 0.0)
    if entity_name == 'width':
        return {'horizontal': 1.0, 'vertical': -1.0}.get(axis, 0.0)
    if entity_name == 'depth':
        return 1.0 if axis == 'slanted' else 0.0
    return 0.0


def axis_evidence(axis_label: float, legend_agrees: float, text_axis_agrees: float, line_agrees: float,
                  side_agrees: float) -> float:
    """All the clues that a length is the row's dimension, in one sum: a printed label or legend
    counts twice, the text's direction, the dimension line's and the side of the picture once
    each. With a few dozen rows per dimension, one feature that pools them lets the trees use
    them all with one split, where they would not find each pairing of clue and entity alone."""
    side = 1.0 if side_agrees > 0.1 else -1.0 if side_agrees < -0.1 else 0.0
    return 2 * axis_label + 2 * legend_agrees + text_axis_agrees + line_agrees + side


def same_measure(base: float, other: float) -> bool:
    """Two values in base units are one measure printed twice ('13 cm' and '5.1 in')."""
    return abs(base - other) <= TWIN_TOLERANCE * max(base, other)


def _measures(bases: list) -> int:
    """How many different measures the (base value, unit) pairs hold, a length printed in two
    units counted once."""
    measures = []
    for base, unit in sorted(set(bases)):
        twin = next((m for m in measures if unit not in m[1] and same_measure(m[0], base)), None)
        if twin:
            twin[1].add(unit)
        else:
            measures.append((base, {unit}))
    return len(measures)


def find_candidates(words: Sequence[OcrWord], entity_name: str, group_id: str, image_width: int,
                    image_height: int, priors: Priors) -> list:
    """Every quantity in the words as a Scored candidate (score 0 until the chooser rates it)."""
    if not words:
        return []
    allowed_units = ENTITY_UNITS.get(entity_name, frozenset())
    largest = max(text_size(w) for w in words) or 1
    image_side = max(image_height, image_width, 1)
    lines = _line_tokens(words)
    own_keywords = set(KEYWORDS.get(entity_name, ()))
    other_dimensions = {k for e in ('width', 'depth', 'height') if e != entity_name for k in KEYWORDS[e]}
    weight_keywords = set(KEYWORDS['item_weight'])
    max_load_keywords = set(KEYWORDS['maximum_weight_recommendation'])
    raw = []
    engines = _by_engine(words)
    printed = list(_quantities_by_engine(engines))
    bare_units, bare_source = _bare_units(Counter(entity_unit(entity_name, q.unit) for q, _ in printed), words,
                                          entity_name, group_id, priors)
    legend = printed_legend(words)
    for quantity, own in printed + _bare_quantities(printed, engines, bare_units) + _glued_quantities(printed, engines):
        span = own[quantity.first_word:quantity.last_word + 1]
        unit = entity_unit(entity_name, quantity.unit)
        left, top = min(w.left for w in span), min(w.top for w in span)
        right, bottom = max(w.left + w.width for w in span), max(w.top + w.height for w in span)
        line_tokens = lines[(span[0].engine, span[0].line)]
        before = _tokens_before(own, quantity.first_word, quantity.text)
        raw.append(dict(
            quantity=quantity, unit=unit, left=left, top=top, width=right - left, height=bottom - top,
            engine=span[0].engine, size=max(text_size(w) for w in span),
            confidence=min(w.confidence for w in span) / 100.0,
            vertical=any(w.vertical for w in span),
            keyword_self=bool(own_keywords & line_tokens), keyword_before=bool(own_keywords & before),
            keyword_other=bool(other_dimensions & line_tokens),
            keyword_weight=bool(weight_keywords & line_tokens),
            keyword_max=bool(max_load_keywords & line_tokens),
            line_agrees=_line_agrees(entity_name, span),
            axis=_word_axis(span[0]),
            axis_label=_axis_label(entity_name, own, quantity),
            legend_agrees=_legend_agrees(entity_name, legend, quantity),
            allowed=unit in allowed_units, bare_source=bare_source if quantity.group == 'bare' else 0.0))
    return _with_features(raw, entity_name, group_id, largest, image_side, image_width, image_height, priors)


def _with_features(raw, entity_name, group_id, largest, image_side, image_width, image_height, priors):
    keys = [(c['quantity'].value, c['unit']) for c in raw]
    readings = Counter(keys)
    engines_by_key = {}
    for key, c in zip(keys, raw):
        engines_by_key.setdefault(key, set()).add(c['engine'])
    # row-level ranks and counts are taken over the quantities printed with a unit, so that adding
    # a drawing's bare numbers leaves the features of those quantities as they were
    allowed = [c for c in raw if c['allowed'] and c['quantity'].group not in UNPRINTED_GROUPS]
    sizes = sorted({c['size'] for c in allowed}, reverse=True)
    allowed_bases = [(c['quantity'].value * TO_BASE_UNIT[c['unit']], c['unit']) for c in allowed]
    base_values = sorted({base for base, _ in allowed_bases})
    xs = sorted(c['left'] + c['width'] / 2 for c in allowed)
    ys = sorted(c['top'] + c['height'] / 2 for c in allowed)
    unit_counts = Counter(c['unit'] for c in allowed)
    distinct_allowed = len(set((a['quantity'].value, a['unit']) for a in allowed))
    measures = _measures(allowed_bases)
    order = {id(c): i for i, c in enumerate(allowed)}
    result = []
    for key, c in zip(keys, raw):
        q = c['quantity']
        value, unit = key
        base = value * TO_BASE_UNIT[unit]
        centre_x = (c['left'] + c['width'] / 2) / max(image_width, 1)
        centre_y = (c['top'] + c['height'] / 2) / max(image_height, 1)
        plausible = not c['allowed'] or priors.plausible(entity_name, unit, value)
        side_agrees = _side_agrees(entity_name, centre_x, centre_y)
        text_axis_agrees = _text_axis_agrees(entity_name, c['axis'])
        twins = [i for i, (b, u) in enumerate(allowed_bases)
                 if u != unit and same_measure(b, base)] if c['allowed'] else []
        features = CandidateFeatures(
            unit_log_prob=priors.unit_log_prob(entity_name, unit),
            group_unit_log_prob=priors.group_unit_log_prob(entity_name, unit, group_id),
            value_log_density=priors.value_log_density(entity_name, unit, value),
            log10_value=math.log10(value) if value > 0 else -4.0,
            is_whole=float(value == int(value)),
            prominence=c['size'] / largest, size_in_image=c['size'] / image_side,
            size_rank=float(sum(1 for size in sizes if size > c['size'])) if c['allowed'] else float(len(sizes)),
            centre_x=centre_x, centre_y=centre_y,
            confidence=c['confidence'], vertical=float(c['vertical']),
            keyword_self=float(c['keyword_self']), keyword_before=float(c['keyword_before']),
            keyword_other_dimension=float(c['keyword_other']),
            keyword_weight=float(c['keyword_weight']), keyword_max_load=float(c['keyword_max']),
            repeats=float(readings[key] - 1), other_engine_agrees=float(len(engines_by_key[key]) > 1),
            engine_ppocr=float(c['engine'] != 'tesseract'),
            in_range=float(q.group == 'range'), range_low=float(q.group == 'range' and q.group_position == 0),
            range_high=float(q.group == 'range' and q.group_position == q.group_size - 1),
            in_dimensions=float(q.group == 'dimensions'),
            dimension_position=float(q.group_position if q.group == 'dimensions' else -1),
            dimension_count=float(q.group_size if q.group == 'dimensions' else 0),
            value_rank=_rank(base_values, base) if c['allowed'] else 0.0,
            is_largest=float(c['allowed'] and (not base_values or base >= base_values[-1])),
            is_smallest=float(c['allowed'] and (not base_values or base <= base_values[0])),
            allowed_count=float(len(allowed)), distinct_allowed=float(distinct_allowed),
            unit_share=unit_counts.get(unit, 0) / max(len(allowed), 1),
            has_twin_in_other_unit=float(bool(twins)),
            is_metric=float(unit in METRIC_UNITS),
            x_rank=_rank(xs, c['left'] + c['width'] / 2) if c['allowed'] else -1.0,
            y_rank=_rank(ys, c['top'] + c['height'] / 2) if c['allowed'] else -1.0,
            bare_number=float(q.group == 'bare'), bare_unit_source=c['bare_source'],
            printed_before_its_twin=float(bool(twins) and order.get(id(c), len(allowed)) < min(twins)),
            glued_unit=float(q.group == 'glued'), line_agrees=c['line_agrees'],
            slanted=float(c['axis'] == 'slanted'), axis_label=c['axis_label'], legend_agrees=c['legend_agrees'],
            side_agrees=side_agrees, text_axis_agrees=text_axis_agrees,
            axis_evidence=axis_evidence(c['axis_label'], c['legend_agrees'], text_axis_agrees, c['line_agrees'],
                                        side_agrees),
            measures=float(measures), plausible=float(plausible),
            **{f'entity_{e}': float(entity_name == e) for e in ENTITIES})
        candidate = Candidate(
            value, unit, q.text, c['left'], c['top'], c['width'], c['height'], c['allowed'], 0.0,
            engine=c['engine'], confidence=round(c['confidence'] * 100, 2), vertical=c['vertical'],
            group=q.group, group_position=q.group_position, group_size=q.group_size,
            prominence=round(c['size'] / largest, 4), keyword=c['keyword_self'] or c['keyword_before'],
            repeats=readings[key] - 1, plausible=plausible)
        result.append(Scored(candidate, features))
    return result


def _rank(ordered: list, value: float) -> float:
    """Where value stands among the ordered values, from 0 (first) to 1 (last); a value not
    among them (a bare number's) stands where it would be inserted."""
    return min(bisect.bisect_left(ordered, value) / max(len(ordered) - 1, 1), 1.0)
