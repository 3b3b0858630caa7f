"""Dimension lines beside and under words (transforms/logic/lines.py), on drawn images."""
import numpy as np
import pytest

from transforms.logic.lines import beside_lines, line_masks, mark_dimension_lines
from transforms.records import OcrWord


def drawing():
    """A white 400 x 400 drawing: a vertical dimension line at x 100 (y 50-350), a horizontal
    one at y 300 (x 150-350), and a short tick, 10 px, at x 300 near the top."""
    image = np.full((400, 400), 255, np.uint8)
    image[50:350, 99:101] = 0
    image[299:301, 150:350] = 0
    image[40:50, 299:301] = 0
    return image


def word(left, top, width=60, height=20, text='74cm'):
    return OcrWord(text, left, top, width, height, 90.0, 0, 'rapidocr')


def test_masks_keep_long_lines_and_drop_short_strokes():
    vertical, horizontal, slanted = line_masks(drawing())
    assert vertical[200, 100] and not vertical[45, 300]  # the tick is too short
    assert horizontal[300, 250] and not horizontal[200, 100]
    assert not slanted.any()  # no stroke runs at a slant


@pytest.mark.parametrize('box, expected', [
    ((110, 180), (True, False)),   # right of the vertical line: a height's place
    ((30, 180), (True, False)),    # left of it
    ((220, 310), (False, True)),   # under the horizontal line: a width's place
    ((220, 270), (False, True)),   # above it
    ((250, 60), (False, False)),   # near the tick only
    ((200, 150), (False, False)),  # in open space, more than 1.5 letter heights from both lines
])
def test_words_beside_or_under_lines(box, expected):
    assert beside_lines(word(*box), line_masks(drawing())) == expected + (False,)


def perspective():
    """A white 400 x 400 drawing of a receding edge: a 2 px line from (60, 340) to (200, 200),
    45 degrees, and a short slanted stroke, 12 px, near (330, 60), like a letter's diagonal."""
    import cv2
    image = np.full((400, 400), 255, np.uint8)
    cv2.line(image, (60, 340), (200, 200), 0, 2)
    cv2.line(image, (330, 60), (338, 51), 0, 2)
    return image


@pytest.mark.parametrize('box, slanted', [
    ((50, 240), True),    # level text left of the receding edge: a depth's place
    ((150, 300), True),   # right of it
    ((300, 80), False),   # by the short stroke only
    ((250, 330), False),  # more than 1.5 letter heights away
])
def test_words_by_a_long_slanted_line_are_marked(box, slanted):
    masks = line_masks(perspective())
    assert not masks.vertical.any() and not masks.horizontal.any()
    assert beside_lines(word(*box, width=40), masks) == (False, False, slanted)


def test_mark_sets_the_flags_and_keeps_everything_else():
    words = (word(110, 180), word(220, 310, text='110cm'))
    marked = mark_dimension_lines(words, drawing())
    assert [(w.line_beside, w.line_over, w.line_slanted) for w in marked] == [(True, False, False),
                                                                               (False, True, False)]
    assert [(w.text, w.left, w.top) for w in marked] == [(w.text, w.left, w.top) for w in words]


def test_no_words_or_no_grey_image_mark_nothing():
    assert mark_dimension_lines((), drawing()) == ()
    assert mark_dimension_lines((word(110, 180),), None) == (word(110, 180),)


class _FixedReader:
    """A stand-in OCR engine that reads the same two words from any image."""
    name = 'fixed'

    def setup(self):
        pass

    def read(self, image):
        return (word(110, 180), word(220, 310, text='110cm'))


def test_the_ocr_stage_marks_the_words_it_reads():
    from transforms.read_text import OcrFn
    from transforms.records import DecodedImage, ImageFacts
    fn = OcrFn((_FixedReader(),))
    fn.setup()
    image = DecodedImage(ImageFacts('drawing.png', 'file', 400, 400, 0.0, 0.0), None, drawing())
    [(link, result)] = list(fn.process(image))
    assert link == 'drawing.png'
    assert [(w.text, w.line_beside, w.line_over) for w in result.words] == [('74cm', True, False), ('110cm', False, True)]
