"""Tests for transforms.logic.units: the parser every prediction starts from, and the prediction format."""
import importlib.util
import math
import random
from pathlib import Path

import pytest

from transforms.logic import units
from transforms.logic.units import (
    ALL_UNITS,
    ENTITY_UNITS,
    METRIC_UNITS,
    TO_BASE_UNIT,
    Quantity,
    find_quantities,
    format_prediction,
)

SCORER = Path(__file__).resolve().parents[1].parent / "shared" / "tools" / "score.py"


def quantities_in_text(text: str) -> list:
    """The quantities of text not yet split into words, as the OCR hands words over."""
    return find_quantities(text.split())


def read(text):
    return [(quantity.value, quantity.unit) for quantity in quantities_in_text(text)]


def groups(text):
    return [(quantity.value, quantity.unit, quantity.group, quantity.group_position, quantity.group_size)
            for quantity in quantities_in_text(text)]


@pytest.fixture(scope="module")
def scorer():
    if not SCORER.exists():
        pytest.skip("shared/tools/score.py is not beside the project")
    spec = importlib.util.spec_from_file_location("score", SCORER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NUMBERS = [
    ("500 g", [(500.0, "gram")]),
    ("2.5kg", [(2.5, "kilogram")]),
    ("1,5 kg", [(1.5, "kilogram")]),                 # decimal comma
    ("12,50 V", [(12.5, "volt")]),
    ("1,500 g", [(1500.0, "gram")]),                 # thousands comma: exactly three digits follow
    ("0,500 kg", [(0.5, "kilogram")]),               # ... but never after a lone 0
    ("1.500 kg", [(1.5, "kilogram")]),               # a lone dot is a decimal point
    ("1.500,5 kg", [(1500.5, "kilogram")]),
    ("1,500.5 g", [(1500.5, "gram")]),
    ("1.000.000 mg", [(1000000.0, "milligram")]),
    ("1,234,567 mg", [(1234567.0, "milligram")]),
    (".5 oz", [(0.5, "ounce")]),
    ("(.5oz)", [(0.5, "ounce")]),
    ("1/2 lb", [(0.5, "pound")]),
    ('3/4"', [(0.75, "inch")]),
    ("5/16 in", [(0.3125, "inch")]),
    ("1 1/2 in", [(1.5, "inch")]),
    ("1-1/2 in", [(1.5, "inch")]),
    ("½ oz", [(0.5, "ounce")]),
    ("1½ in", [(1.5, "inch")]),
    ("1 ¾ cups", [(1.75, "cup")]),
    ("⅓ cup", [(1 / 3, "cup")]),
    ("１２Ｖ", [(12.0, "volt")]),                     # full-width digits and letters
    ("12.05.2023 5kg", [(5.0, "kilogram")]),         # a date is no number
    ("v1.2.3 kg", []),
    ("1" * 400 + " g", []),                          # too large to be a float
]


@pytest.mark.parametrize("text, expected", NUMBERS)
def test_number_formats(text, expected):
    assert read(text) == expected


SPELLINGS = [
    ("500G", [(500.0, "gram")]),
    ("250 gms", [(250.0, "gram")]),
    ("5 KGS", [(5.0, "kilogram")]),
    ("2 kilos", [(2.0, "kilogram")]),
    ("5 µg", [(5.0, "microgram")]),
    ("5μg", [(5.0, "microgram")]),
    ("5 mcg", [(5.0, "microgram")]),
    ("12 Volts", [(12.0, "volt")]),
    ("5 LBS", [(5.0, "pound")]),
    ("2 tonnes", [(2.0, "ton")]),
    ("3t", [(3.0, "ton")]),
    ("750 mL", [(750.0, "millilitre")]),
    ("2 Ltr", [(2.0, "litre")]),
    ("2L", [(2.0, "litre")]),
    ("250 cc", [(250.0, "millilitre")]),
    ("16 FL OZ", [(16.0, "fluid ounce")]),
    ("16 fl. oz.", [(16.0, "fluid ounce")]),
    ("16fl.oz", [(16.0, "fluid ounce")]),
    ("8 floz", [(8.0, "fluid ounce")]),
    ("Net 128fOZ(1GAL)", [(128.0, "fluid ounce"), (1.0, "gallon")]),  # the l dropped: f.oz, fOZ
    ("1.76 f.oz (50ml)", [(1.76, "fluid ounce"), (50.0, "millilitre")]),
    ("2 of 5", []),
    ("1 Fluid Ounce", [(1.0, "fluid ounce")]),
    ("16 oz", [(16.0, "ounce")]),
    ("2 cu ft", [(2.0, "cubic foot")]),
    ("2 cu. ft.", [(2.0, "cubic foot")]),
    ("2 cubic feet", [(2.0, "cubic foot")]),
    ("100 cubic inches", [(100.0, "cubic inch")]),
    ("5 imperial gallons", [(5.0, "imperial gallon")]),
    ("2 qts", [(2.0, "quart")]),
    ("220V~", [(220.0, "volt")]),
    ("12VAC", [(12.0, "volt")]),
    ("12 VDC", [(12.0, "volt")]),
    ("5kV", [(5.0, "kilovolt")]),
    ("300mV", [(300.0, "millivolt")]),
    ("2kW", [(2.0, "kilowatt")]),
    ("1000 Watts", [(1000.0, "watt")]),
    ("5 MM", [(5.0, "millimetre")]),
    ("1.5M", [(1.5, "metre")]),
    ("2 metres", [(2.0, "metre")]),
    ("6 ft", [(6.0, "foot")]),
    ("6'", [(6.0, "foot")]),
    ('12"', [(12.0, "inch")]),
    ("12''", [(12.0, "inch")]),
    ("12”", [(12.0, "inch")]),
    ("3 yds", [(3.0, "yard")]),
]


@pytest.mark.parametrize("text, expected", SPELLINGS)
def test_unit_spellings(text, expected):
    assert read(text) == expected


ALIASES = [(alias, unit) for unit, aliases in units._UNIT_ALIASES.items() for alias in aliases]


@pytest.mark.parametrize("alias, unit", ALIASES)
def test_every_alias_reads_glued_to_a_number(alias, unit):
    assert read("7" + alias) == [(7.0, unit)]


WORD_ALIASES = [(alias, unit) for alias, unit in ALIASES if alias.replace(" ", "").isalpha()]


@pytest.mark.parametrize("alias, unit", WORD_ALIASES)
def test_every_word_alias_reads_as_the_next_word(alias, unit):
    assert read("7 " + alias) == [(7.0, unit)]


def test_alias_table_covers_every_allowed_unit_and_nothing_else():
    assert set(units._UNIT_ALIASES) == ALL_UNITS
    keys = [units._alias_key(alias) for alias, _ in ALIASES]
    assert len(keys) == len(set(keys)), "two aliases read the same"


# What each unit was worth in base units when transforms/logic/features.py kept its own table
# (issue 18 moved it here): the candidate features rank values by these, so they must not move.
FACTORS_AS_BEFORE = [
    ("millimetre", 0.1), ("centimetre", 1.0), ("metre", 100.0), ("inch", 2.54), ("foot", 30.48),
    ("yard", 91.44), ("microgram", 1e-6), ("milligram", 1e-3), ("gram", 1.0), ("kilogram", 1e3),
    ("ounce", 28.35), ("pound", 453.6), ("ton", 1e6), ("millivolt", 1e-3), ("volt", 1.0),
    ("kilovolt", 1e3), ("watt", 1.0), ("kilowatt", 1e3), ("microlitre", 1e-3), ("millilitre", 1.0),
    ("centilitre", 10.0), ("decilitre", 100.0), ("litre", 1e3), ("fluid ounce", 29.57), ("cup", 240.0),
    ("pint", 473.0), ("quart", 946.0), ("gallon", 3785.0), ("imperial gallon", 4546.0),
    ("cubic inch", 16.39), ("cubic foot", 28317.0),
]


def test_every_unit_has_its_factor_to_the_base_unit_as_before():
    assert dict(FACTORS_AS_BEFORE) == TO_BASE_UNIT
    assert set(TO_BASE_UNIT) == ALL_UNITS == set(units._UNIT_ALIASES)  # every unit the parser reads


def test_metric_units_are_the_si_ones_and_the_tonne():
    imperial = {"inch", "foot", "yard", "ounce", "pound", "fluid ounce", "cup", "pint", "quart", "gallon",
                "imperial gallon", "cubic inch", "cubic foot"}
    assert METRIC_UNITS == ALL_UNITS - imperial


OCR_CONFUSIONS = [
    ("5O0g", [(500.0, "gram")]),           # O inside digits
    ("5o0 ml", [(500.0, "millilitre")]),
    ("1O kg", [(10.0, "kilogram")]),       # capital O after digits, before a unit or a space
    ("1OOg", [(100.0, "gram")]),
    ("2Oz", [(2.0, "ounce")]),             # ... but not the O of an ounce
    ("1OOz", [(10.0, "ounce")]),
    ("1l.5 kg", [(11.5, "kilogram")]),     # l between digits is a one
    ("1I5 ml", [(115.0, "millilitre")]),
    ("5l", [(5.0, "litre")]),              # l after the digits is a litre
    ("5 Ibs", [(5.0, "pound")]),
    ("5 IBS", [(5.0, "pound")]),
    ("5 1bs", [(5.0, "pound")]),
    ("51bs", [(5.0, "pound")]),
    ("1.21b/0.55kg", [(1.2, "pound"), (0.55, "kilogram")]),
    ("16 0z", [(16.0, "ounce")]),
    ("160z", [(16.0, "ounce")]),
    ("1.50z", [(1.5, "ounce")]),
    ("500m1", [(500.0, "millilitre")]),
    ("500 mI", [(500.0, "millilitre")]),
    ("200m!", [(200.0, "millilitre")]),
    ("20.5em", [(20.5, "centimetre")]),
    ("Oil", []),
    ("OIL 5", []),
    ("ml", []),
    ("I", []),
    ("H2O", []),
    ("800lm", []),                          # lumens stay lumens
    ("21B", []),
    ("5ın", []),                            # dotless i only case-folds to an alias
]


@pytest.mark.parametrize("text, expected", OCR_CONFUSIONS)
def test_ocr_confusions(text, expected):
    assert read(text) == expected


LAYOUTS = [
    ("500g", [(500.0, "gram")]),
    ("12V50W", [(12.0, "volt"), (50.0, "watt")]),
    ("Net.Wt.100g", [(100.0, "gram")]),
    ("NetWt:500g", [(500.0, "gram")]),
    ("(500g)", [(500.0, "gram")]),
    ("500g,", [(500.0, "gram")]),
    ("500g/17.6oz", [(500.0, "gram"), (17.6, "ounce")]),
    ("500 g/17.6 oz", [(500.0, "gram"), (17.6, "ounce")]),
    ("Net Wt 16 oz (1 lb) 454g", [(16.0, "ounce"), (1.0, "pound"), (454.0, "gram")]),
    ("Weight:\n15.5 g", [(15.5, "gram")]),
    ("AC220V", [(220.0, "volt")]),
    ("SM-100W", [(100.0, "watt")]),         # a hyphen is no minus sign
    ("-5 V", [(5.0, "volt")]),
    ("5 ft 10 in", [(5.0, "foot"), (10.0, "inch")]),
    ("5'10\"", [(5.0, "foot"), (10.0, "inch")]),
    ("10 kg 5 lb 3 oz", [(10.0, "kilogram"), (5.0, "pound"), (3.0, "ounce")]),
    ("Max60wEach", [(60.0, "watt")]),       # a one-letter unit before a capitalised word
    ("5gPro", [(5.0, "gram")]),
    ("120 GSM Fabric", [(120.0, "gram")]),  # fabric weight: the labels write it as grams
    ("200GSM", [(200.0, "gram")]),
]


@pytest.mark.parametrize("text, expected", LAYOUTS)
def test_glued_spaced_and_punctuated(text, expected):
    assert read(text) == expected


AMBIGUOUS = [
    ("500", []),                            # a bare number is no quantity
    ("500 gold", []),
    ("500 g100", []),                       # a unit in the next word must end that word
    ("500 grams.", [(500.0, "gram")]),
    ("2 in 1", []),
    ("2in1 cable", []),
    ("5 in", [(5.0, "inch")]),
    ("in 5 m", [(5.0, "metre")]),
    ("Size M", []),
    ("5 m² area", []),
    ("5m2", []),
    ("1.5mm2 cable", []),
    ('"12"', []),                           # a quoted number, not twelve inches
    ("'5'", []),
    ('8\'904059"160741', []),               # bar code
    ('12 "', []),                           # marks count only glued
    ("5mAh", []),
    ("12VA", []),
    ("5Wh", []),
    ("50/60Hz", []),
    ("5mW", []),
    ("5 to", []),
    ("16 02", []),                          # '02' for 'oz' is too ambiguous to guess
    ("316L stainless steel 500ml", [(500.0, "millilitre")]),
]


@pytest.mark.parametrize("text, expected", AMBIGUOUS)
def test_ambiguous_text_is_read_conservatively(text, expected):
    assert read(text) == expected


@pytest.mark.parametrize("words", [["5.3in", "13cm"], ["5.3in", "13", "cm"], ["Size:", "5.3in", "13cm"],
                                   ["5.3", "in", "13cm"], ["5.3 in", "13 cm"]])
def test_inches_stay_inches_before_the_same_length_in_centimetres(words):
    quantities = find_quantities(words)
    assert [(q.value, q.unit) for q in quantities] == [(5.3, "inch"), (13.0, "centimetre")]
    assert quantities[0].text.replace(" ", "") == "5.3in"


@pytest.mark.parametrize("text", ["2 in 1", "2in1", "2in1 cable", "3 in 1 charger 5V", "Kids 2in1 5.3in",
                                  "2 in 1 cable 5cm"])
def test_in_between_numbers_is_no_inch(text):
    inches = [q for q in quantities_in_text(text) if q.unit == "inch"]
    assert all(q.value == 5.3 for q in inches)  # only a glued '5.3in' at the end may be one
    assert len(inches) == text.endswith("5.3in")


RANGES = [
    ("100-240V", 100.0, 240.0, "volt"),
    ("100~240 V", 100.0, 240.0, "volt"),
    ("100 - 240 V", 100.0, 240.0, "volt"),
    ("100V-240V", 100.0, 240.0, "volt"),
    ("AC100-240V~ 50/60Hz", 100.0, 240.0, "volt"),
    ("100V~240V", 100.0, 240.0, "volt"),
    ("5 to 10 kg", 5.0, 10.0, "kilogram"),
    ("5 kg to 10 kg", 5.0, 10.0, "kilogram"),
    ("5TO10KG", 5.0, 10.0, "kilogram"),
    ("10–12 in", 10.0, 12.0, "inch"),
    ("0-10 Kgs", 0.0, 10.0, "kilogram"),
    ("12/24V", 12.0, 24.0, "volt"),         # alternatives read like a range
    ("1/2-1 in", 0.5, 1.0, "inch"),
]


@pytest.mark.parametrize("text, low, high, unit", RANGES)
def test_ranges(text, low, high, unit):
    assert groups(text) == [(low, unit, "range", 0, 2), (high, unit, "range", 1, 2)]


NOT_RANGES = [
    ("240-100V", [(100.0, "volt")]),        # a range rises
    ("2023-500g", [(500.0, "gram")]),
    ("10kg-5lb", [(10.0, "kilogram"), (5.0, "pound")]),
    ("100V-240", [(100.0, "volt")]),
]


@pytest.mark.parametrize("text, expected", NOT_RANGES)
def test_pairs_that_are_not_ranges_read_singly(text, expected):
    quantities = quantities_in_text(text)
    assert [(quantity.value, quantity.unit) for quantity in quantities] == expected
    assert all(quantity.group == "single" and quantity.group_size == 1 for quantity in quantities)


DIMENSIONS = [
    ("30 x 20 x 10 cm", [30.0, 20.0, 10.0], "centimetre"),
    ("30x20x10cm", [30.0, 20.0, 10.0], "centimetre"),
    ("30 × 20 cm", [30.0, 20.0], "centimetre"),
    ("30*20*10 mm", [30.0, 20.0, 10.0], "millimetre"),
    ("30 X 20 X 10 CM", [30.0, 20.0, 10.0], "centimetre"),
    ("30 cm x 20 cm x 10 cm", [30.0, 20.0, 10.0], "centimetre"),
    ("30cmx20cmx10cm", [30.0, 20.0, 10.0], "centimetre"),
    ("30cm x 20 x 10cm", [30.0, 20.0, 10.0], "centimetre"),
    ("[560X370X50MM]", [560.0, 370.0, 50.0], "millimetre"),
    ('12"W x 10"D x 8"H', [12.0, 10.0, 8.0], "inch"),
    ('12"x10"', [12.0, 10.0], "inch"),
    ("L30 x W20 x H10 cm", [30.0, 20.0, 10.0], "centimetre"),
    ("30cm (L) x 20cm (W)", [30.0, 20.0], "centimetre"),
    ("11 1/2 x 8 1/2 in", [11.5, 8.5], "inch"),
    ("2.5 x 1.5 m", [2.5, 1.5], "metre"),
]


@pytest.mark.parametrize("text, values, unit", DIMENSIONS)
def test_dimensions(text, values, unit):
    size = len(values)
    assert groups(text) == [(value, unit, "dimensions", position, size) for position, value in enumerate(values)]


NOT_DIMENSIONS = [
    ("3 x 500g", [(500.0, "gram")]),        # a pack of three, not a box
    ("500g x 3", [(500.0, "gram")]),
    ("2 x 100W", [(100.0, "watt")]),
    ("4 x 1.5V", [(1.5, "volt")]),
    ("1 x 2 x 3 x 4 cm", [(4.0, "centimetre")]),
    ("10 cm x 4 in", [(10.0, "centimetre"), (4.0, "inch")]),
]


@pytest.mark.parametrize("text, expected", NOT_DIMENSIONS)
def test_products_of_counts_are_not_dimensions(text, expected):
    quantities = quantities_in_text(text)
    assert [(quantity.value, quantity.unit) for quantity in quantities] == expected
    assert all(quantity.group == "single" for quantity in quantities)


WORD_SPANS = [
    (["Net", "Wt", "500", "g"], [(500.0, "gram", "500 g", 2, 3)]),
    (["16", "fl.", "oz."], [(16.0, "fluid ounce", "16 fl. oz.", 0, 2)]),
    (["1", "1/2", "in"], [(1.5, "inch", "1 1/2 in", 0, 2)]),
    (["12V50W"], [(12.0, "volt", "12V50W", 0, 0), (50.0, "watt", "12V50W", 0, 0)]),
    (["100-240V"], [(100.0, "volt", "100-240V", 0, 0), (240.0, "volt", "100-240V", 0, 0)]),
    (["5", "to", "10", "kg"], [(5.0, "kilogram", "5 to 10 kg", 0, 3), (10.0, "kilogram", "10 kg", 2, 3)]),
    (["100V", "-", "240V"], [(100.0, "volt", "100V", 0, 0), (240.0, "volt", "240V", 2, 2)]),
    (["30", "x", "20", "x", "10", "cm"], [(30.0, "centimetre", "30 x 20 x 10 cm", 0, 5),
                                         (20.0, "centimetre", "20 x 10 cm", 2, 5),
                                         (10.0, "centimetre", "10 cm", 4, 5)]),
    (["30", "cm", "x", "20", "cm"], [(30.0, "centimetre", "30 cm", 0, 1), (20.0, "centimetre", "20 cm", 3, 4)]),
    (["Size:", "(500g)", "approx"], [(500.0, "gram", "(500g)", 1, 1)]),
    (["", "500g"], [(500.0, "gram", "500g", 1, 1)]),
    (["500", "", "g"], [(500.0, "gram", "500  g", 0, 2)]),
    (["500 g", "pack"], [(500.0, "gram", "500 g", 0, 0)]),
]


@pytest.mark.parametrize("words, expected", WORD_SPANS)
def test_word_spans_and_text(words, expected):
    assert [(quantity.value, quantity.unit, quantity.text, quantity.first_word, quantity.last_word)
            for quantity in find_quantities(words)] == expected


def test_whole_quantity_records():
    assert find_quantities(("Input:", "AC", "100-240V", "50/60Hz", "Output:", "12V")) == [
        Quantity(100.0, "volt", "100-240V", 2, 2, "range", 0, 2),
        Quantity(240.0, "volt", "100-240V", 2, 2, "range", 1, 2),
        Quantity(12.0, "volt", "12V", 5, 5, "single", 0, 1),
    ]


def test_text_splits_on_any_whitespace():
    assert [(quantity.text, quantity.first_word, quantity.last_word)
            for quantity in quantities_in_text("Weight:\n 500\tg (17.6\u00a0oz)")] == [
        ("500 g", 1, 2), ("(17.6 oz)", 3, 4)]


def test_no_break_space_inside_a_word_separates_number_and_unit():
    assert [(quantity.value, quantity.unit, quantity.first_word, quantity.last_word)
            for quantity in find_quantities(["500\u00a0g"])] == [(500.0, "gram", 0, 0)]


def test_quantity_is_immutable():
    quantity = find_quantities(["500g"])[0]
    with pytest.raises(AttributeError):
        quantity.value = 1.0


ODD_INPUTS = [
    [], [""], ["", "", ""], [" "], ["\x00"], ["\ud800"], ["🙂500g🙂"], ["\u200b500\u200bg"],
    ["x" * 10000], ["1" * 10000], ["1.1" * 3000], ["1/" * 5000], ["1 x " * 3000 + "cm"],
    ["O" * 5000], ["1" + "O" * 5000 + "z"], ["1," * 5000 + "g"], ["1-" * 5000 + "V"],
    ["5" + " " * 10000 + "fl" + " " * 10000 + "oz"], ["½" * 5000 + "in"], ["'\"" * 5000],
    ["(" * 3000 + "5g" + ")" * 3000], ["ﬁ ﬂ ǅ İı ſ K ẞ Ω µ ℓ ㎏ ⁄ ⅞ ¹²³ ٣ ४"],
]


def assert_well_formed(words, quantities):
    assert isinstance(quantities, list)
    for quantity in quantities:
        assert isinstance(quantity, Quantity)
        assert quantity.unit in ALL_UNITS
        assert math.isfinite(quantity.value) and quantity.value >= 0
        assert 0 <= quantity.first_word <= quantity.last_word < len(words)
        assert quantity.text == " ".join(words[quantity.first_word:quantity.last_word + 1])
        assert quantity.group in ("single", "range", "dimensions")
        assert 0 <= quantity.group_position < quantity.group_size <= 3
        format_prediction(quantity.value, quantity.unit)


@pytest.mark.parametrize("words", ODD_INPUTS, ids=range(len(ODD_INPUTS)))
def test_odd_inputs_never_raise(words):
    assert_well_formed(words, find_quantities(words))


def test_long_glued_runs_still_read():
    quantities = find_quantities(["12V" * 3000])
    assert len(quantities) == 3000
    assert {(quantity.value, quantity.unit) for quantity in quantities} == {(12.0, "volt")}


def test_random_garbage_never_raises():
    rng = random.Random(2024)
    alphabet = "0123456789 .,/-~xX×*:;()[]'\"”gGkKmMlLIiOozZbBsSVvWwcCtTfFnNuUpPqQ½¼¾µ²\n\t\u00a0é漢🙂"
    for _ in range(500):
        words = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
                 for _ in range(rng.randrange(0, 12))]
        assert_well_formed(words, find_quantities(words))


def test_groups_are_whole_and_in_order():
    rng = random.Random(7)
    pieces = ["30", "x", "20", "cm", "100-240V", "5", "to", "10", "kg", "2", "in", "1", "12V50W", "½", "oz", "-"]
    for _ in range(300):
        quantities = find_quantities([rng.choice(pieces) for _ in range(rng.randrange(1, 15))])
        position = 0
        while position < len(quantities):
            head = quantities[position]
            members = quantities[position:position + head.group_size]
            assert [member.group_position for member in members] == list(range(head.group_size))
            assert {(member.group, member.unit) for member in members} == {(head.group, head.unit)}
            position += head.group_size
        starts = [quantity.first_word for quantity in quantities]
        assert starts == sorted(starts)


FORMATS = [
    (500, "gram", "500.0 gram"),
    (500.0, "gram", "500.0 gram"),
    (1e-05, "gram", "0.00001 gram"),
    (2.5e-07, "gram", "0.00000025 gram"),
    (1e16, "gram", "10000000000000000.0 gram"),
    (12.5, "fluid ounce", "12.5 fluid ounce"),
    (0, "volt", "0.0 volt"),
    (-0.0, "volt", "0.0 volt"),
    (240, "volt", "240.0 volt"),
]


@pytest.mark.parametrize("value, unit, expected", FORMATS)
def test_format_prediction(value, unit, expected):
    assert format_prediction(value, unit) == expected
    if "e" not in str(float(value)):  # plain str(float) form unless that needs an exponent
        assert expected == str(float(value) + 0.0) + " " + unit


@pytest.mark.parametrize("value, unit", [
    (500, "grams"), (500, "g"), (500, "Gram"), (500, ""), (500, "gram "),
    (float("nan"), "gram"), (float("inf"), "gram"), (-1, "gram"), (-1e-9, "metre"),
])
def test_format_prediction_rejects(value, unit):
    with pytest.raises(ValueError):
        format_prediction(value, unit)


def test_all_units_is_the_union_of_entity_units():
    assert ALL_UNITS == frozenset().union(*ENTITY_UNITS.values())
    assert all(isinstance(allowed, frozenset) for allowed in ENTITY_UNITS.values())


def test_entity_units_match_the_reference_scorer(scorer):
    assert ENTITY_UNITS == {entity: frozenset(allowed) for entity, allowed in scorer.ENTITY_UNITS.items()}


@pytest.mark.parametrize("unit", sorted(ALL_UNITS))
def test_every_formatted_unit_passes_the_scorer(scorer, unit):
    assert scorer.parse(format_prediction(2.5, unit)) == (2.5, unit)


@pytest.mark.parametrize("word, expected", [
    ("63", [63.0]), ("Depth:63", [63.0]), ("(24.8)", [24.8]), ("15,5", [15.5]), ("H4.72", [4.72]),
    ("30 20", [30.0, 20.0]), ("1234567", [1234567.0]), ("8904059160741", []), ("5pcs", []), ("50%", []), ("20°", []), ("1.2.3", []), ("12V", []), ("0", []),
])
def test_bare_numbers_are_numbers_with_nothing_after_them(word, expected):
    assert units.bare_numbers(word) == expected


@pytest.mark.parametrize("word, expected", [
    ("200gpack", [(200.0, "gram")]), ("36V250WMOTOR", [(250.0, "watt")]), ("15MGerving", [(15.0, "milligram")]),
    ("12VDCONLY", [(12.0, "volt")]), ("160GSMJAQUARD", [(160.0, "gram")]), ("1,5kgnet", [(1.5, "kilogram")]),
    ("5mAh", []), ("16GB", []), ("100Wh", []), ("50Hz", []), ("2in1", []), ("5pcs", []),  # other units, no unit
    ("500g", []), ("500 g", []), ("Net", []),  # nothing runs on after the unit
])
def test_glued_quantities_are_units_that_run_on_into_letters(word, expected):
    assert units.glued_quantities(word) == expected
    assert not set(expected) & set(read(word))  # the strict scanner refuses what this reads


@pytest.mark.parametrize("word, expected", [
    ("cm", "centimetre"), ("(mm)", "millimetre"), ("Unit:cm", "centimetre"), ("Units: inches", "inch"),
    ("in", None), ("L", None), ("W", None), ("kcal", None), ("30cm", None), ("width", None),
])
def test_a_lone_unit_word_names_a_legends_unit(word, expected):
    assert units.lone_unit(word) == expected
