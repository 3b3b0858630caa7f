"""OCR: Tesseract's and RapidOCR's output turned into words, and the readers on drawn labels."""
import os

import numpy as np
import pytest

from tests.images import label_image
from transforms.ocr import (
    FAILED,
    RAPIDOCR_LINES,
    OcrFn,
    RapidOcrReader,
    TesseractFn,
    make_readers,
    upscale_small,
    words_from_rapidocr,
    words_from_tesseract,
)
from transforms.records import DecodedImage, ImageFacts, OcrResult


def test_empty_and_structural_boxes_are_dropped_and_lines_numbered():
    data = {'text': ['', 'Net', 'Wt', ' ', '500g'], 'conf': ['-1', '96', '91', '95', '88.5'],
            'block_num': [1, 1, 1, 1, 2], 'par_num': [1, 1, 1, 1, 1], 'line_num': [1, 1, 1, 1, 1],
            'left': [0, 10, 60, 0, 10], 'top': [0, 5, 5, 0, 50], 'width': [0, 40, 30, 0, 80],
            'height': [0, 20, 20, 0, 30]}
    words = words_from_tesseract(data)
    assert [w.text for w in words] == ['Net', 'Wt', '500g']
    assert words[0].line == words[1].line != words[2].line
    assert words[2].confidence == 88.5 and (words[2].left, words[2].top, words[2].height) == (10, 50, 30)
    assert OcrResult(words, 0.1).text == 'Net Wt\n500g'


def decoded(image) -> DecodedImage:
    grey = np.asarray(image.convert('L'))
    facts = ImageFacts('http://x/a.jpg', 'cache', grey.shape[1], grey.shape[0], 0.0, 0.0)
    return DecodedImage(facts, None, grey)


def test_tesseract_reads_a_drawn_label():
    fn = TesseractFn()
    fn.setup()
    [(link, result)] = list(fn.process(decoded(label_image(['Net Wt 500 g', 'Output 12V']))))
    assert link == 'http://x/a.jpg'
    texts = [w.text for w in result.words]
    assert any(t.startswith('500') for t in texts) and '12V' in texts
    assert all(w.width > 0 and w.height > 0 for w in result.words)


def test_tesseract_failure_is_data():
    fn = TesseractFn(timeout=60)
    fn.setup()
    [output] = list(fn.process(decoded_with_bad_image()))
    assert output.tag == FAILED and output.value[1].stage == 'ocr'


def decoded_with_bad_image() -> DecodedImage:
    facts = ImageFacts('http://x/bad.jpg', 'cache', 0, 0, 0.0, 0.0)
    return DecodedImage(facts, None, np.zeros((0, 0), dtype=np.uint8))


# --- RapidOCR ---

def box(left, top, right, bottom):
    """RapidOCR's four corners, clockwise from top left."""
    return [[left, top], [right, top], [right, bottom], [left, bottom]]


def test_rapidocr_boxes_side_by_side_share_a_line():
    result = [(box(10, 10, 110, 40), 'Net Wt', 0.9876),
              (box(200, 14, 280, 44), '500 g', 0.95),     # printed apart, middles 4 px apart
              (box(10, 100, 60, 130), '12V', 0.5),
              (box(10, 140, 60, 190), '  ', 0.99)]         # blank: dropped
    words = words_from_rapidocr(result)
    assert [w.text for w in words] == ['Net Wt', '500 g', '12V']
    assert words[0].line == words[1].line != words[2].line
    assert all(w.line >= RAPIDOCR_LINES and w.engine == 'rapidocr' and not w.vertical for w in words)
    assert [w.confidence for w in words] == [98.76, 95.0, 50.0]
    assert (words[1].left, words[1].top, words[1].width, words[1].height) == (200, 14, 80, 30)
    assert OcrResult(words, 0.1).text == 'Net Wt 500 g\n12V'


def test_rapidocr_boxes_at_other_heights_get_their_own_lines():
    result = [(box(0, 0, 100, 30), 'Net Wt', 0.9),
              (box(120, 20, 200, 50), '500 g', 0.9),   # middles 20 px apart, boxes 30 px high
              (box(220, 0, 300, 100), 'BIG', 0.9)]     # its middle lies outside the small boxes
    lines = [w.line for w in words_from_rapidocr(result)]
    assert len(set(lines)) == 3


def test_tall_narrow_rapidocr_boxes_are_vertical_and_alone_on_their_line():
    result = [(box(0, 0, 100, 30), 'Net Wt', 0.9),
              (box(400, 0, 420, 100), '500g', 0.8),     # 20 wide, 100 high
              (box(440, 0, 460, 100), '12V', 0.8),      # another beside it
              (box(120, 0, 200, 30), '500 g', 0.9)]
    words = words_from_rapidocr(result)
    assert [w.vertical for w in words] == [False, True, True, False]
    assert words[0].line == words[3].line
    assert len({words[0].line, words[1].line, words[2].line}) == 3


def test_rapidocr_tilted_box_is_bounded_by_its_corners():
    [word] = words_from_rapidocr([([[10.4, 20.0], [110.0, 10.6], [112.0, 40.0], [12.0, 50.2]], '500 g', 0.9)])
    assert (word.left, word.top) == (10, 11)
    assert (word.left + word.width, word.top + word.height) == (112, 50)


def test_rapidocr_nothing_read():
    assert words_from_rapidocr(None) == () and words_from_rapidocr([]) == ()


def test_upscale_small_leaves_large_images_alone():
    image = np.zeros((800, 1200), np.uint8)
    assert upscale_small(image, 1000) is image
    assert upscale_small(image, 1200) is image
    small = np.zeros((100, 200), np.uint8)
    assert upscale_small(small, 0) is small


@pytest.mark.parametrize('shape, expected', [((150, 300), (500, 1000)), ((300, 150), (1000, 500)),
                                             ((333, 500), (666, 1000))])
def test_upscale_small_enlarges_the_long_side_to_min_side(shape, expected):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    enlarged = upscale_small(image, 1000)
    assert enlarged.shape == expected and enlarged.dtype == np.uint8
    assert image.shape == shape  # the input is not touched


@pytest.fixture(scope='module')
def rapidocr():
    reader = RapidOcrReader(detection_side=960, min_side=1000)
    reader.setup()
    return reader


def ink_box(grey):
    """(left, top, right, bottom) of the dark pixels of a drawn label."""
    rows, cols = np.nonzero(grey < 128)
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


@pytest.mark.parametrize('size', [(480, 140), (1100, 300)], ids=['enlarged', 'native'])
def test_rapidocr_reads_a_drawn_label_in_the_images_coordinates(rapidocr, size):
    grey = np.asarray(label_image(['Net Wt 500 g'], size=size).convert('L'))
    words = rapidocr.read(grey)
    assert any('500' in w.text for w in words), words
    height, width = grey.shape
    for w in words:
        assert w.engine == 'rapidocr' and 0 <= w.confidence <= 100
        assert 0 <= w.left and w.left + w.width <= width and 0 <= w.top and w.top + w.height <= height
    # the boxes lie on the ink, not on where it would be in the enlarged copy
    left, top, right, bottom = ink_box(grey)
    assert abs(min(w.left for w in words) - left) <= 12
    assert abs(max(w.left + w.width for w in words) - right) <= 12
    assert abs(min(w.top for w in words) - top) <= 12
    assert abs(max(w.top + w.height for w in words) - bottom) <= 12


def test_rapidocr_finds_nothing_on_a_blank_image(rapidocr):
    assert rapidocr.read(np.full((200, 300), 250, np.uint8)) == ()


def test_make_readers():
    both = make_readers('both', psm=6, detection_side=640, min_side=800)
    assert [r.name for r in both] == ['tesseract', 'rapidocr']
    assert both[0].psm == 6 and (both[1].detection_side, both[1].min_side) == (640, 800)
    assert [r.name for r in make_readers('tesseract')] == ['tesseract']
    assert [r.name for r in make_readers('rapidocr')] == ['rapidocr']
    for engine in ('easyocr', '', 'Both'):
        with pytest.raises(ValueError, match='unknown OCR engine'):
            make_readers(engine)


def test_tesseract_fn_is_an_ocr_fn_with_tesseract_alone():
    fn = TesseractFn(psm=6, timeout=5)
    assert isinstance(fn, OcrFn) and [r.name for r in fn.readers] == ['tesseract']
    assert (fn.readers[0].psm, fn.readers[0].timeout) == (6, 5)


def test_both_engines_words_reach_one_result():
    fn = OcrFn(make_readers('both'))
    fn.setup()
    [(link, result)] = list(fn.process(decoded(label_image(['Net Wt 500 g', 'Output 12V']))))
    engines = {w.engine for w in result.words}
    assert engines == {'tesseract', 'rapidocr'}
    for engine in engines:
        assert any('500' in w.text for w in result.words if w.engine == engine)
    tesseract_lines = {w.line for w in result.words if w.engine == 'tesseract'}
    assert not tesseract_lines & {w.line for w in result.words if w.engine == 'rapidocr'}


def test_second_pass_only_when_the_first_finds_no_quantity():
    """RapidOcrReader reads again with the larger detection side only when needed, and keeps
    the first pass when the second finds no quantity either."""
    from transforms.ocr import RapidOcrReader
    from transforms.records import OcrWord

    def reader_with(first, second):
        reader = RapidOcrReader(detection_side=960, min_side=1000, retry_side=1600)
        calls = []

        def fake_read(image, detection_side, min_side):
            calls.append(detection_side)
            return tuple(OcrWord(t, 0, 0, 10, 10, 90.0, 0, 'rapidocr') for t in
                         (first if detection_side == 960 else second))
        reader._read = fake_read
        return reader, calls

    reader, calls = reader_with(['Net Wt 500 g'], ['never'])
    assert [w.text for w in reader.read(None)] == ['Net Wt 500 g'] and calls == [960]
    reader, calls = reader_with(['Brand'], ['12 V'])
    assert [w.text for w in reader.read(None)] == ['12 V'] and calls == [960, 1600]
    reader, calls = reader_with(['Brand'], ['Logo'])
    assert [w.text for w in reader.read(None)] == ['Brand'] and calls == [960, 1600]


KEEP_FREED_MEMORY_CHECK = '''
import resource, sys
import numpy as np
from transforms.ocr import keep_freed_memory

def faults():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):  # buffers of 0.2 to 40 MB made, filled and freed, as OCR does per image
        buffers = [np.ones(n) for n in (100_000, 1_000_000, 300_000, 5_000_000, 20_000)]
        del buffers
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

default = faults()
if not keep_freed_memory():
    sys.exit(3)
print(default, faults())
'''


def test_keep_freed_memory_stops_freed_buffers_faulting_in_again():
    """In a fresh process (the setting is for the whole process): with glibc's defaults each
    large buffer is unmapped when freed and faulted in again; after keep_freed_memory, reused."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, '-c', KEEP_FREED_MEMORY_CHECK], capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if done.returncode == 3:
        pytest.skip('not glibc: keep_freed_memory does nothing here')
    assert done.returncode == 0, done.stderr
    default, kept = map(int, done.stdout.split())
    assert default > 2_000  # 5,000 to 31,000 here, run to run: the freed buffers' pages faulted in again
    assert kept < default / 5  # about 300
