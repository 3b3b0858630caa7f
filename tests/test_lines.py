"""Dimension lines beside and under words (transforms/lines.py), on drawn images."""
import numpy as np
import pytest

from transforms.lines import beside_lines, line_masks, mark_dimension_lines
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
    vertical, horizontal = line_masks(drawing())
    assert vertical[200, 100] and not vertical[45, 300]  # the tick is too short
    assert horizontal[300, 250] and not horizontal[200, 100]


@pytest.mark.parametrize('box, expected', [
    ((110, 180), (True, False)),   # right of the vertical line: a height's place
    ((30, 180), (True, False)),    # left of it
    ((220, 310), (False, True)),   # under the horizontal line: a width's place
    ((220, 270), (False, True)),   # above it
    ((250, 60), (False, False)),   # near the tick only
    ((200, 150), (False, False)),  # in open space, more than 1.5 letter heights from both lines
])
def test_words_beside_or_under_lines(box, expected):
    vertical, horizontal = line_masks(drawing())
    assert beside_lines(word(*box), vertical, horizontal) == expected


def test_mark_sets_the_flags_and_keeps_everything_else():
    words = (word(110, 180), word(220, 310, text='110cm'))
    marked = mark_dimension_lines(words, drawing())
    assert [(w.line_beside, w.line_over) for w in marked] == [(True, False), (False, True)]
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
    from transforms.ocr import OcrFn
    from transforms.records import DecodedImage, ImageFacts
    fn = OcrFn((_FixedReader(),))
    fn.setup()
    image = DecodedImage(ImageFacts('drawing.png', 'file', 400, 400, 0.0, 0.0), None, drawing())
    [(link, result)] = list(fn.process(image))
    assert link == 'drawing.png'
    assert [(w.text, w.line_beside, w.line_over) for w in result.words] == [('74cm', True, False), ('110cm', False, True)]
