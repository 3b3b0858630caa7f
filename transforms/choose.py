"""Choose: turn a row's OCR words into candidates and pick the value for its entity.

Pure functions, no Beam: the Beam step that calls them lives in transforms/join.py.

The rule (a first version; a learned chooser replaces it later), for the row's entity:
1. Every quantity the unit parser finds is a candidate; on an item_volume row a bare
   `oz` is read as `fluid ounce`, the only way a volume is written in ounces.
2. Candidates whose unit the entity does not allow are kept for the records but never chosen.
3. Each allowed candidate scores by how prominent its text is (word height over the tallest
   word's height; product labels print the headline quantity large), plus a bonus when an
   entity keyword (net wt, volume, input, ...) stands on the same text line, plus a small
   bonus for each repetition of the same value and unit elsewhere in the image.
4. The highest score wins; ties go to the one read first. No allowed candidate: no prediction.
"""
import re
from typing import Sequence

from transforms.records import Candidate, OcrWord
from transforms.units import ENTITY_UNITS, find_quantities, format_prediction

KEYWORDS = {
    'item_weight': ('net', 'wt', 'weight', 'peso', 'poids', 'netto'),
    'maximum_weight_recommendation': ('max', 'maximum', 'load', 'capacity', 'up', 'holds', 'supports'),
    'item_volume': ('volume', 'capacity', 'contents', 'net', 'vol'),
    'voltage': ('input', 'output', 'voltage', 'rated', 'ac', 'dc'),
    'wattage': ('power', 'output', 'rated', 'max', 'wattage'),
    'width': ('width', 'wide', 'w'),
    'depth': ('depth', 'deep', 'd', 'length', 'l'),
    'height': ('height', 'high', 'tall', 'h'),
}
KEYWORD_BONUS = 0.5
REPEAT_BONUS = 0.1
_WORD = re.compile(r'[a-z]+')


def entity_unit(entity_name: str, unit: str) -> str:
    """The unit as the entity reads it: ounces on a volume row are fluid ounces."""
    if entity_name == 'item_volume' and unit == 'ounce':
        return 'fluid ounce'
    return unit


def make_candidates(words: Sequence[OcrWord], entity_name: str) -> list:
    """Every quantity in the words, as scored Candidates in reading order."""
    quantities = find_quantities([w.text for w in words])
    if not quantities:
        return []
    allowed_units = ENTITY_UNITS.get(entity_name, frozenset())
    tallest = max(w.height for w in words) or 1
    counts = {}
    for q in quantities:
        key = (q.value, entity_unit(entity_name, q.unit))
        counts[key] = counts.get(key, 0) + 1
    keywords = set(KEYWORDS.get(entity_name, ()))
    candidates = []
    for q in quantities:
        span = words[q.first_word:q.last_word + 1]
        unit = entity_unit(entity_name, q.unit)
        left, top = min(w.left for w in span), min(w.top for w in span)
        right, bottom = max(w.left + w.width for w in span), max(w.top + w.height for w in span)
        line_words = {t for w in words if w.line == span[0].line for t in _WORD.findall(w.text.lower())}
        score = max(w.height for w in span) / tallest
        score += KEYWORD_BONUS if keywords & line_words else 0.0
        score += REPEAT_BONUS * (counts[(q.value, unit)] - 1)
        candidates.append(Candidate(q.value, unit, q.text, left, top, right - left, bottom - top,
                                    unit in allowed_units, round(score, 4)))
    return candidates


def choose(candidates: Sequence[Candidate]) -> str:
    """The prediction string of the best allowed candidate, or '' when there is none."""
    best = None
    for candidate in candidates:
        if candidate.allowed and (best is None or candidate.score > best.score):
            best = candidate
    return format_prediction(best.value, best.unit) if best else ''
