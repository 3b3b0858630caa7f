"""Choose: candidates from OCR words and the documented rule that picks one."""
from transforms.choose import choose, entity_unit, make_candidates
from transforms.records import OcrWord


def words(*lines):
    """OcrWords laid out line by line; a (text, height) pair sets a word's height."""
    out = []
    for number, line in enumerate(lines):
        left = 0
        for item in line:
            text, height = item if isinstance(item, tuple) else (item, 20)
            out.append(OcrWord(text, left, number * 100, 10 * len(text), height, 90.0, number))
            left += 10 * len(text) + 10
    return tuple(out)


def test_candidate_box_spans_number_and_unit_words():
    [candidate] = make_candidates(words(['Net', 'Wt', '500', 'g']), 'item_weight')
    assert (candidate.value, candidate.unit, candidate.allowed) == (500.0, 'gram', True)
    assert candidate.left == 70 and candidate.width == 30 + 10 + 10  # 'Net' 30+10, 'Wt' 20+10


def test_units_the_entity_does_not_allow_are_kept_but_never_chosen():
    candidates = make_candidates(words(['12V', '50W']), 'wattage')
    assert [(c.unit, c.allowed) for c in candidates] == [('volt', False), ('watt', True)]
    assert choose(candidates) == '50.0 watt'


def test_ounces_on_a_volume_row_are_fluid_ounces():
    assert entity_unit('item_volume', 'ounce') == 'fluid ounce'
    assert entity_unit('item_weight', 'ounce') == 'ounce'
    assert choose(make_candidates(words(['12', 'oz']), 'item_volume')) == '12.0 fluid ounce'


def test_larger_text_wins():
    lines = (['Serving', '30', 'g'], [('500', 60), ('g', 60)])
    assert choose(make_candidates(words(*lines), 'item_weight')) == '500.0 gram'


def test_entity_keyword_on_the_line_wins_over_equal_text():
    lines = (['Input', '100-240V'], ['Output', '12V'], ['Battery', '3.7V'])
    candidates = make_candidates(words(*lines), 'voltage')
    assert [c.score for c in candidates][:2] == [1.5, 1.5] and candidates[-1].score == 1.0
    assert choose(candidates) == '100.0 volt'


def test_repetition_adds_a_little():
    candidates = make_candidates(words(['1', 'kg'], ['2', 'kg'], ['2', 'kg']), 'item_weight')
    assert choose(candidates) == '2.0 kilogram'


def test_nothing_found_gives_no_prediction():
    assert make_candidates((), 'width') == []
    assert choose(make_candidates(words(['hello', 'world']), 'width')) == ''
    assert choose(make_candidates(words(['5', 'kg']), 'width')) == ''
