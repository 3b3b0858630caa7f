"""Find every quantity (number + unit) in OCR words and format predictions.

OCR drops and invents spaces ('12V50W', '500 g'), reads letters for digits ('5O0g',
'1bs') and meets every number style ('1,5', '1,500', '1 1/2'), so this is a small
hand-written scanner rather than one regular expression. A wrong reading here becomes a
wrong prediction downstream, so whatever stays ambiguous is dropped, not guessed.
Pure standard library: the Beam stages and the tests call it directly.
"""
from __future__ import annotations

import bisect
import decimal
import functools
import itertools
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

# Copied from shared/tools/score.py: the units each entity may be predicted in.
ENTITY_UNITS: dict[str, frozenset[str]] = {
    "width": frozenset({"centimetre", "foot", "inch", "metre", "millimetre", "yard"}),
    "depth": frozenset({"centimetre", "foot", "inch", "metre", "millimetre", "yard"}),
    "height": frozenset({"centimetre", "foot", "inch", "metre", "millimetre", "yard"}),
    "item_weight": frozenset({"gram", "kilogram", "microgram", "milligram", "ounce", "pound", "ton"}),
    "maximum_weight_recommendation": frozenset(
        {"gram", "kilogram", "microgram", "milligram", "ounce", "pound", "ton"}),
    "voltage": frozenset({"kilovolt", "millivolt", "volt"}),
    "wattage": frozenset({"kilowatt", "watt"}),
    "item_volume": frozenset({"centilitre", "cubic foot", "cubic inch", "cup", "decilitre", "fluid ounce",
                              "gallon", "imperial gallon", "litre", "microlitre", "millilitre", "pint",
                              "quart"}),
}
ALL_UNITS: frozenset[str] = frozenset().union(*ENTITY_UNITS.values())
# Factors to one base unit per kind of quantity (centimetre, gram, volt, watt, millilitre), so
# that values of one kind printed in different units can be compared and ranked.
TO_BASE_UNIT: dict[str, float] = {
    "millimetre": 0.1, "centimetre": 1.0, "metre": 100.0, "inch": 2.54, "foot": 30.48, "yard": 91.44,
    "microgram": 1e-6, "milligram": 1e-3, "gram": 1.0, "kilogram": 1e3, "ounce": 28.35, "pound": 453.6,
    "ton": 1e6, "millivolt": 1e-3, "volt": 1.0, "kilovolt": 1e3, "watt": 1.0, "kilowatt": 1e3,
    "microlitre": 1e-3, "millilitre": 1.0, "centilitre": 10.0, "decilitre": 100.0, "litre": 1e3,
    "fluid ounce": 29.57, "cup": 240.0, "pint": 473.0, "quart": 946.0, "gallon": 3785.0,
    "imperial gallon": 4546.0, "cubic inch": 16.39, "cubic foot": 28317.0,
}
METRIC_UNITS: frozenset[str] = frozenset(
    unit for unit in TO_BASE_UNIT if unit.endswith(("metre", "gram", "litre", "volt", "watt")) or unit == "ton")
_LENGTH_UNITS = ENTITY_UNITS["width"]


def format_prediction(value: float, unit: str) -> str:
    """Write a prediction the way the scorer's labels are written ('500.0 gram'): str(float),
    except that exponents ('1e-05') become plain decimals, which the scorer's format accepts."""
    if unit not in ALL_UNITS:
        raise ValueError(f"unknown unit {unit!r}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"not a non-negative finite value: {value!r}")
    text = str(number + 0.0)  # + 0.0 writes -0.0 as 0.0
    if "e" in text:
        text = format(decimal.Decimal(text), "f")
        text = text if "." in text else text + ".0"
    return f"{text} {unit}"


_PREDICTION_FORMAT = re.compile(r"^-?\d+(\.\d+)?\s+[a-zA-Z\s]+$")


def parse_value(text: str):
    """'500.0 gram' -> (500.0, 'gram'), the reverse of format_prediction (also '500 gram');
    None when not '<number> <unit words>', as the scorer's format rule says."""
    text = text.strip()
    if not _PREDICTION_FORMAT.match(text):
        return None
    number, unit = text.split(None, 1)
    return float(number), " ".join(unit.split())


def same_value(value: float, truth: float) -> bool:
    """Equal numbers under the scorer's numeric rule (a relative tolerance of 1e-9)."""
    return abs(value - truth) <= 1e-9 * max(1.0, abs(truth))


@dataclass(frozen=True)
class Quantity:
    """One number with its unit, and where in the word list it was read."""
    value: float
    unit: str            # canonical unit name, one of ALL_UNITS
    text: str            # the source words it was read from, joined by spaces
    first_word: int      # index of the first word it uses
    last_word: int       # index of the last word it uses (inclusive)
    group: str           # 'single', 'range' (100-240V), 'dimensions' (30 x 20 x 10 cm); candidates add 'bare', 'glued'
    group_position: int  # 0-based position inside its group; 0 for single
    group_size: int      # 1 for single, 2 for a range, 2 or 3 for dimensions
    start: int = field(default=0, compare=False)  # where in `text` its number starts
    end: int = field(default=0, compare=False)    # where in `text` it ends (past its unit); 0: the end


# Every spelling of every unit, lower case; a space stands for an optional dot and spaces.
_UNIT_ALIASES: dict[str, tuple[str, ...]] = {
    "gram": ("g", "gm", "gms", "gr", "gram", "grams", "gramme", "grammes",
             "gsm"),  # fabric weight in g/m²: the labels give it as grams
    "kilogram": ("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms"),
    "milligram": ("mg", "milligram", "milligrams"),
    "microgram": ("mcg", "µg", "μg", "ug", "microgram", "micrograms"),
    "ounce": ("oz", "ounce", "ounces"),
    "pound": ("lb", "lbs", "ib", "ibs", "pound", "pounds"),  # 'Ib', 'IBS': OCR reads l as I
    "ton": ("t", "ton", "tons", "tonne", "tonnes"),
    "millilitre": ("ml", "cc", "millilitre", "millilitres", "milliliter", "milliliters"),
    "centilitre": ("cl", "centilitre", "centilitres", "centiliter", "centiliters"),
    "decilitre": ("dl", "decilitre", "decilitres", "deciliter", "deciliters"),
    "microlitre": ("µl", "μl", "ul", "microlitre", "microlitres", "microliter", "microliters"),
    "litre": ("l", "lt", "ltr", "ltrs", "litre", "litres", "liter", "liters"),
    "fluid ounce": ("fl oz", "f oz", "fluid ounce", "fluid ounces"),
    "gallon": ("gal", "gals", "gallon", "gallons"),
    "imperial gallon": ("imperial gallon", "imperial gallons"),
    "quart": ("qt", "qts", "quart", "quarts"),
    "pint": ("pt", "pts", "pint", "pints"),
    "cup": ("cup", "cups"),
    "cubic foot": ("cu ft", "cubic foot", "cubic feet"),
    "cubic inch": ("cu in", "cubic inch", "cubic inches"),
    "volt": ("v", "volt", "volts", "vac", "vdc", "v~"),
    "kilovolt": ("kv", "kilovolt", "kilovolts"),
    "millivolt": ("mv", "millivolt", "millivolts"),
    "watt": ("w", "watt", "watts"),
    "kilowatt": ("kw", "kilowatt", "kilowatts"),
    "millimetre": ("mm", "millimetre", "millimetres", "millimeter", "millimeters"),
    "centimetre": ("cm", "cms", "centimetre", "centimetres", "centimeter", "centimeters"),
    "metre": ("m", "mtr", "mtrs", "metre", "metres", "meter", "meters"),
    "inch": ("in", "inch", "inches", '"', "''", "”", "″", "’’"),
    "foot": ("ft", "feet", "foot", "'", "’", "′"),
    "yard": ("yd", "yds", "yard", "yards"),
}
# Symbols count only glued to the number, and not when a matching quote opens before it ('"12"').
_OPENING_QUOTES = {"inch": '"“”″', "foot": "'‘’′"}
_SYMBOL_ALIASES = frozenset(alias for alias in _UNIT_ALIASES["inch"] + _UNIT_ALIASES["foot"]
                            if not alias.isalpha())
_LETTER = r"[^\W\d_]"  # '²' and '³' count as letters here, so 'm²' is never metres
_VULGAR_FRACTIONS = {char: unicodedata.numeric(char) for char in "½⅓⅔¼¾⅕⅖⅗⅘⅙⅚⅛⅜⅝⅞"}
_VULGAR = "[" + "".join(_VULGAR_FRACTIONS) + "]"
_NUMBER_AHEAD = rf"(?=[0-9]|{_VULGAR}|\.[0-9])"
_FRACTION_DENOMINATORS = frozenset({"2", "3", "4", "8", "16", "32", "64"})


def _alias_key(text: str) -> str:
    return re.sub(r"[\s.]+", "", text.lower())


def _alias_pattern(alias: str, unit: str) -> str:
    """One alternative of the unit expression, with the guards that keep it honest."""
    pattern = r"\.?\s*".join(map(re.escape, alias.split(" ")))
    if alias == "v~":
        pattern += r"(?!\s*[0-9])"  # '100V~240V' is a range
    # a unit ends where the letters end, or at a dimension 'x' ('30cmx20cm'), or, for units of
    # two letters or more, where a capitalised word starts (RapidOCR drops spaces: '100KGWeight')
    end = rf"(?!{_LETTER})|(?=[xX][0-9])"
    if len(alias) >= 2 and alias.isalpha():
        end += r"|(?-i:(?<=[A-Z][A-Z])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z][a-z]))"
    elif alias in ("g", "v", "w"):  # lower case before a capitalised word: 'Max60wEach' (not '5mAh')
        end += r"|(?-i:(?<=[0-9][a-z])(?=[A-Z][a-z]))"
    if alias in _SYMBOL_ALIASES:
        # a digit after a mark is a bar code ('8'904059"160741'), unless feet run into inches (5'10");
        # an axis letter may follow a mark ('12"W x 10"D')
        end = rf"(?![0-9]|{_LETTER})|(?=[xX][0-9])|(?=[LWHDlwhd](?!{_LETTER}))"
        if unit == "foot":
            end += r"|(?=[0-9]{1,2}(?:[.,][0-9]+)?(?:[\"”″]|''|’’))"
    elif unit in _LENGTH_UNITS:
        pattern += r"(?![23](?![0-9]))"  # 'm2', 'cm3' are areas and volumes that lost a superscript
    return f"{pattern}(?:{end})"


_UNIT_BY_KEY = {_alias_key(alias): unit for unit, aliases in _UNIT_ALIASES.items() for alias in aliases}
_UNIT = re.compile(
    "|".join(_alias_pattern(alias, unit) for alias, unit in
             sorted(((alias, unit) for unit, aliases in _UNIT_ALIASES.items() for alias in aliases),
                    key=lambda pair: -len(pair[0]))),
    re.IGNORECASE)

_NUMBER_START = re.compile(rf"[0-9]|{_VULGAR}|(?<![^\W_])(?<![.,])\.[0-9]")
_NUMBER_RUN = re.compile(r"\.?[0-9]+(?:[.,][0-9]+)*")
_VULGAR_AFTER = re.compile(rf"\s*({_VULGAR})")
_MIXED_FRACTION = re.compile(r"(?:\s+|-)([0-9]+)[/⁄]([0-9]+)(?![.,]?[0-9])")
_FRACTION = re.compile(r"[/⁄]([0-9]+)(?![.,]?[0-9])")
_WHITESPACE = re.compile(r"\s+")
_METRIC_LENGTH_AHEAD = re.compile(rf"\s*[0-9]+(?:[.,][0-9]+)?\s*(?:cm|mm)(?!{_LETTER})", re.IGNORECASE)
_DIMENSION_SEPARATOR = re.compile(
    rf"(?:\s*\(?[LWHDlwhd]\)?(?!{_LETTER}))?\s*[xX×*✕]\s*[LWHDlwhd]?{_NUMBER_AHEAD}")
_RANGE_CONNECTOR = re.compile(
    rf"\s*(?:[-‐‑‒–—−~∼〜/]|(?<!{_LETTER})to(?!{_LETTER}))\s*{_NUMBER_AHEAD}", re.IGNORECASE)

# OCR look-alikes, all rewritten in place (same length) so offsets still point into the words.
_DIGIT_LOOKALIKES = re.compile(r"(?<=[0-9])[OoIl]+(?=[.,]?[0-9])")  # '5O0g', '1l.5'
_TO_DIGITS = str.maketrans("OoIl", "0011")
_TRAILING_CAPITAL_OS = re.compile(rf"(?<=[0-9])(?-i:O+)(?=(?:{_UNIT.pattern})|(?!{_LETTER}))",
                                  re.IGNORECASE)  # '1O kg', '1OOg', but not the O of '2Oz'
_ONE_FOR_L = re.compile(rf"(?<!{_LETTER})1(?=(?:b|[bB][sS])(?!{_LETTER}))")  # '5 1bs', '1.21b'
_ZERO_FOR_O = re.compile(rf"(?<!{_LETTER})0(?=[zZ](?!{_LETTER}))")  # '16 0z', '160z'
_M_ONE_FOR_ML = re.compile(rf"(?<!{_LETTER})m[1I!](?![.,]?[0-9]|{_LETTER})")  # '500m1', '500 mI', '200m!'
_EM_FOR_CM = re.compile(rf"(?<=[0-9])em(?!{_LETTER})")  # '20.5em'


@functools.lru_cache(maxsize=4096)
def _fold_character(char: str) -> str:
    """Full-width digits and letters to ASCII ('５' -> '5'), keeping one character per character."""
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 and unicodedata.category(char) != "No" else char


def _normalise(text: str) -> str:
    """Undo look-alike characters without moving any offset."""
    if not text.isascii():
        text = "".join(map(_fold_character, text))
    text = _DIGIT_LOOKALIKES.sub(lambda match: match.group().translate(_TO_DIGITS), text)
    text = _TRAILING_CAPITAL_OS.sub(lambda match: "0" * len(match.group()), text)
    text = _ONE_FOR_L.sub("l", text)
    text = _ZERO_FOR_O.sub("o", text)
    text = _M_ONE_FOR_ML.sub("ml", text)
    return _EM_FOR_CM.sub("cm", text)


def _is_thousands(groups: list[str]) -> bool:
    return 1 <= len(groups[0]) <= 3 and groups[0][0] != "0" and all(len(group) == 3 for group in groups[1:])


def _decimal_value(run: str) -> float | None:
    """'1,5' -> 1.5, '1,500' -> 1500, '1.500,5' -> 1500.5, '.5' -> 0.5; None for '1.2.3' (dates, versions)."""
    run = "0" + run if run.startswith(".") else run
    separators = [char for char in run if char in ".,"]
    groups = re.split("[.,]", run)
    if not separators:
        digits = run
    elif len(set(separators)) == 1 and (len(separators) > 1 or separators == [","]) and _is_thousands(groups):
        digits = "".join(groups)  # '1,500', '1.500.000'
    elif len(separators) == 1:
        digits = groups[0] + "." + groups[1]  # '1,5', '1.500'
    elif len(set(separators[:-1])) == 1 and separators[0] != separators[-1] and _is_thousands(groups[:-1]):
        digits = "".join(groups[:-1]) + "." + groups[-1]  # '1.500,5', '1,500.5'
    else:
        return None
    value = float(digits)
    return value if math.isfinite(value) else None


def _fraction_value(numerator: str, denominator: str) -> float | None:
    """Only fractions printed on products ('1/2', '3/16'): '12/24V' and '50/60Hz' are not fractions."""
    if denominator in _FRACTION_DENOMINATORS and len(numerator) <= 2 and 0 < int(numerator) < int(denominator):
        return int(numerator) / int(denominator)
    return None


def _read_number(text: str, pos: int) -> tuple[float, int] | None:
    """The number starting at pos and where it ends, or None if it is no number."""
    if text[pos:pos + 1] in _VULGAR_FRACTIONS:
        return _VULGAR_FRACTIONS[text[pos]], pos + 1
    run = _NUMBER_RUN.match(text, pos)
    value = _decimal_value(run.group()) if run else None
    if value is None:
        return None
    if not run.group().isdigit():  # fractions need a whole-number numerator
        return value, run.end()
    if vulgar := _VULGAR_AFTER.match(text, run.end()):  # '1½', '1 ½'
        return value + _VULGAR_FRACTIONS[vulgar.group(1)], vulgar.end()
    mixed = _MIXED_FRACTION.match(text, run.end())  # '1 1/2', '1-1/2'
    if mixed and (fraction := _fraction_value(mixed.group(1), mixed.group(2))) is not None:
        return value + fraction, mixed.end()
    tail = _FRACTION.match(text, run.end())  # '1/2'
    if tail and (fraction := _fraction_value(run.group(), tail.group(1))) is not None:
        return fraction, tail.end()
    return value, run.end()


def _read_unit(text: str, pos: int, number_start: int) -> tuple[str, int] | None:
    """The unit glued to the number ending at pos, or standing alone as the next word."""
    gap = _WHITESPACE.match(text, pos)
    unit_match = _UNIT.match(text, gap.end() if gap else pos)
    if not unit_match:
        return None
    alias = _alias_key(unit_match.group())
    unit = _UNIT_BY_KEY.get(alias)  # None for look-alikes that only case-fold to an alias ('ın')
    if unit is None:
        return None
    if alias == "in" and re.match(r"\s*[0-9]" if gap else "[0-9]", text[unit_match.end():]) \
            and not _METRIC_LENGTH_AHEAD.match(text, unit_match.end()):
        return None  # '2 in 1' and '2in1' are not two inches; '5.3in 13cm' and '5.3 in 13 cm' are
    if alias in _SYMBOL_ALIASES:
        if gap or (number_start and text[number_start - 1] in _OPENING_QUOTES[unit]):
            return None
    elif gap and text[unit_match.end():unit_match.end() + 1].isalnum():
        return None  # a unit in the next word must end that word, punctuation aside
    elif unit == "litre" and text[number_start:pos] in ("304", "316"):
        return None  # '316L' is a grade of stainless steel, not 316 litres
    return unit, unit_match.end()


class _Element(NamedTuple):
    value: float
    start: int        # offset of the number's first character
    end: int          # offset just past the unit, or past the number when it has none
    unit: str | None


class _Found(NamedTuple):
    value: float
    unit: str
    start: int
    end: int
    group: str
    group_position: int
    group_size: int


def _read_element(text: str, pos: int) -> _Element | None:
    number = _read_number(text, pos)
    if number is None:
        return None
    value, number_end = number
    unit = _read_unit(text, number_end, pos)
    return _Element(value, pos, unit[1], unit[0]) if unit else _Element(value, pos, number_end, None)


def _single(element: _Element) -> _Found:
    return _Found(element.value, element.unit, element.start, element.end, "single", 0, 1)


def _dimensions(chain: list[_Element]) -> list[_Found]:
    """'30 x 20 x 10 cm', '30cm x 20cm': lengths only, since '3 x 500g' is a pack of three."""
    with_unit = [index for index, element in enumerate(chain) if element.unit]
    if not with_unit:
        return []
    members = chain[:with_unit[-1] + 1]
    units = {element.unit for element in members if element.unit}
    if len(units) != 1 or not units <= _LENGTH_UNITS or not 2 <= len(members) <= 3:
        return [_single(element) for element in members if element.unit]
    found = []
    for position, element in enumerate(members):
        owner = next(member for member in members[position:] if member.unit)  # a bare number borrows
        found.append(_Found(element.value, owner.unit, element.start, owner.end, "dimensions",
                            position, len(members)))
    return found


def _range_or_single(text: str, first: _Element) -> tuple[list[_Found], int]:
    """'100-240V', '5 kg to 10 kg': a rising pair sharing one unit; otherwise the first alone."""
    connector = _RANGE_CONNECTOR.match(text, first.end)
    second = _read_element(text, connector.end()) if connector else None
    if second and second.unit and first.unit in (None, second.unit) and first.value < second.value:
        return [_Found(first.value, second.unit, first.start, first.end if first.unit else second.end,
                       "range", 0, 2),
                _Found(second.value, second.unit, second.start, second.end, "range", 1, 2)], second.end
    return ([_single(first)] if first.unit else []), first.end


def _scan(text: str) -> list[_Found]:
    found: list[_Found] = []
    pos = 0
    while start := _NUMBER_START.search(text, pos):
        first = _read_element(text, start.start())
        if first is None:  # '1.2.3', '12.05.2023': skip the whole run, not just its first digit
            pos = _NUMBER_RUN.match(text, start.start()).end()
            continue
        chain = [first]
        while (separator := _DIMENSION_SEPARATOR.match(text, chain[-1].end)) and (
                following := _read_element(text, separator.end())):
            chain.append(following)
        if len(chain) > 1:
            found += _dimensions(chain)
            pos = chain[-1].end
        else:
            quantities, pos = _range_or_single(text, first)
            found += quantities
    return found


def find_quantities(words: Sequence[str]) -> list[Quantity]:
    """Every quantity (number + unit) in a sequence of OCR words, in reading order."""
    words = list(words)
    text = _normalise(" ".join(words))
    word_starts = [0, *itertools.accumulate(len(word) + 1 for word in words[:-1])]

    def word_at(offset: int) -> int:
        return bisect.bisect_right(word_starts, offset) - 1

    quantities = []
    for found in _scan(text):
        first_word, last_word = word_at(found.start), word_at(found.end - 1)
        offset = word_starts[first_word]
        quantities.append(Quantity(found.value, found.unit, " ".join(words[first_word:last_word + 1]),
                                   first_word, last_word, found.group, found.group_position,
                                   found.group_size, found.start - offset, found.end - offset))
    return quantities


# at most seven digits before the point: longer runs are bar codes and phone numbers
_SHORT_NUMBER = r"(?<![0-9.,])[0-9]{1,7}(?:[.,][0-9]+)?"
_BARE_NUMBER = re.compile(_SHORT_NUMBER + r"(?![.,]?[0-9])(?!\s*[%°])(?![^\W\d_])")
_LONE_UNIT = re.compile(r"^\W*(?:units?\W*)?([^\W\d_]+)\W*$", re.IGNORECASE)
_AMBIGUOUS_LONE_WORDS = frozenset({"in", "t", "g", "l", "m", "v", "w", "cup", "cups", "pt", "pts", "kilo"})


def bare_numbers(word: str) -> list[float]:
    """The numbers in a word that carry no unit at all ('63', 'Depth:63', '(24.8)'); numbers
    followed by letters ('5pcs'), a percent or a degree sign are something else and skipped."""
    numbers = []
    for match in _BARE_NUMBER.finditer(_normalise(word)):
        value = _decimal_value(match.group())
        if value:
            numbers.append(value)
    return numbers


# a number run straight into letters: the longest unit they start with must leave letters over
# ('200gpack', '36V250WMOTOR'), and those must not make it another unit ('5mAh', '16GB', '50Hz')
_NUMBER_AND_LETTERS = re.compile(f"({_SHORT_NUMBER})" + r"([^\W\d_]+)")
_LETTER_ALIASES = sorted((alias for aliases in _UNIT_ALIASES.values() for alias in aliases if alias.isalpha()),
                         key=len, reverse=True)
_NOT_A_UNIT_AFTER = ("ah", "b", "h", "ph", "hz", "ps")


def glued_quantities(word: str) -> list[tuple[float, str]]:
    """(value, unit) for every number in a word whose unit runs on into other letters, which
    find_quantities refuses as ambiguous ('200gpack', '15MGerving', '30VLOWVOLTAGE')."""
    found = []
    for match in _NUMBER_AND_LETTERS.finditer(_normalise(word)):
        letters = match.group(2).lower()
        alias = next((a for a in _LETTER_ALIASES if letters.startswith(a)), None)
        value = _decimal_value(match.group(1))
        if alias and len(alias) < len(letters) and not letters[len(alias):].startswith(_NOT_A_UNIT_AFTER) and value:
            found.append((value, _UNIT_BY_KEY[alias]))
    return found


def lone_unit(word: str) -> str | None:
    """The unit a word names on its own ('cm', '(inches)', 'Unit: mm'), as legends of drawings
    print it once for every bare number; letters that are also words or sizes ('in', 'L') are not."""
    match = _LONE_UNIT.match(word)
    if not match or match.group(1).lower() in _AMBIGUOUS_LONE_WORDS:
        return None
    return _UNIT_BY_KEY.get(_alias_key(match.group(1)))
