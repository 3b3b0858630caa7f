"""OCR: the engines' output turned into words, and the readers on drawn labels."""
import dataclasses
import os

import numpy as np
import pytest

from pipeline.options import default_options, job_config
from tests.images import label_image
from transforms.logic.engines import (
    PADDLE_LINES,
    PaddleReader,
    TesseractReader,
    TextBox,
    direction,
    read_text,
    rechecked,
    upscale_small,
    words_from_boxes,
    words_from_tesseract,
)
from transforms.read_text import FAILED, OcrFn, make_readers
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
    fn = OcrFn((TesseractReader(11),))
    fn.setup()
    [(link, result)] = list(fn.process(decoded(label_image(['Net Wt 500 g', 'Output 12V']))))
    assert link == 'http://x/a.jpg'
    texts = [w.text for w in result.words]
    assert any(t.startswith('500') for t in texts) and '12V' in texts
    assert all(w.width > 0 and w.height > 0 for w in result.words)


def test_tesseract_failure_is_data():
    fn = OcrFn((TesseractReader(11, timeout=60),))
    fn.setup()
    [output] = list(fn.process(decoded_with_bad_image()))
    assert output.tag == FAILED and output.value[1].stage == 'ocr'


def decoded_with_bad_image() -> DecodedImage:
    facts = ImageFacts('http://x/bad.jpg', 'cache', 0, 0, 0.0, 0.0)
    return DecodedImage(facts, None, np.zeros((0, 0), dtype=np.uint8))


# --- PP-OCR ---

def box(left, top, right, bottom):
    """A text box's four corners, clockwise from top left."""
    return [[left, top], [right, top], [right, bottom], [left, bottom]]


def text_box(corners, text, score, angle=0.0):
    return TextBox(tuple(map(tuple, corners)), text, score, angle)


def test_boxes_side_by_side_share_a_line():
    boxes = [text_box(box(10, 10, 110, 40), 'Net Wt', 0.9876),
             text_box(box(200, 14, 280, 44), '500 g', 0.95),     # printed apart, middles 4 px apart
             text_box(box(10, 100, 60, 130), '12V', 0.5),
             text_box(box(10, 140, 60, 190), '  ', 0.99)]         # blank: dropped
    words = words_from_boxes(boxes, 'ppocrv6')
    assert [w.text for w in words] == ['Net Wt', '500 g', '12V']
    assert words[0].line == words[1].line != words[2].line
    assert all(w.line >= PADDLE_LINES and w.engine == 'ppocrv6' and not w.vertical for w in words)
    assert [w.confidence for w in words] == [98.76, 95.0, 50.0]
    assert (words[1].left, words[1].top, words[1].width, words[1].height) == (200, 14, 80, 30)
    assert OcrResult(words, 0.1).text == 'Net Wt 500 g\n12V'


def test_boxes_at_other_heights_get_their_own_lines():
    boxes = [text_box(box(0, 0, 100, 30), 'Net Wt', 0.9),
             text_box(box(120, 20, 200, 50), '500 g', 0.9),   # middles 20 px apart, boxes 30 px high
             text_box(box(220, 0, 300, 100), 'BIG', 0.9)]     # its middle lies outside the small boxes
    lines = [w.line for w in words_from_boxes(boxes, 'rapidocr')]
    assert len(set(lines)) == 3


def test_sideways_text_is_vertical_and_alone_on_its_line():
    boxes = [text_box(box(0, 0, 100, 30), 'Net Wt', 0.9),
             text_box(box(400, 0, 420, 100), '500g', 0.8, 90.0),    # printed bottom to top
             text_box(box(440, 0, 460, 100), '12V', 0.8, -90.0),    # top to bottom, beside it
             text_box(box(120, 0, 200, 30), '500 g', 0.9),
             text_box(box(0, 200, 80, 260), '50 cm', 0.9, 40.0)]    # along a slanted line: not vertical
    words = words_from_boxes(boxes, 'rapidocr')
    assert [w.vertical for w in words] == [False, True, True, False, False]
    assert [w.angle for w in words] == [0.0, 90.0, -90.0, 0.0, 40.0]
    assert words[0].line == words[3].line
    assert len({words[0].line, words[1].line, words[2].line}) == 3


def test_tilted_box_is_bounded_by_its_corners():
    corners = [[10.4, 20.0], [110.0, 10.6], [112.0, 40.0], [12.0, 50.2]]
    [word] = words_from_boxes([text_box(corners, '500 g', 0.9, direction(corners[0], corners[1]))], 'rapidocr')
    assert (word.left, word.top) == (10, 11)
    assert (word.left + word.width, word.top + word.height) == (112, 50)
    assert 5 < word.angle < 6  # rising to the right: counter-clockwise from level


def test_nothing_read():
    assert words_from_boxes([], 'rapidocr') == ()


@pytest.mark.parametrize('start, end, angle', [((0, 0), (10, 0), 0.0), ((0, 10), (0, 0), 90.0),
                                               ((0, 0), (0, 10), -90.0), ((0, 10), (10, 0), 45.0)])
def test_direction_counts_counter_clockwise_with_y_pointing_down(start, end, angle):
    assert direction(start, end) == pytest.approx(angle)


def test_read_text_reads_tall_boxes_both_ways_and_keeps_the_surer_reading():
    """A tall box is read turned a quarter each way; the surer reading wins and sets the angle."""
    image = np.zeros((300, 200), np.uint8)
    crops_seen = []

    def recognize(crops):
        crops_seen.extend(c.shape[:2] for c in crops)
        # the level box reads plainly; of the tall box's two turns the second (clockwise) is surer
        return [('Net Wt', 0.9), ('mc 55', 0.6), ('55 cm', 0.95)][:len(crops)]

    detect = lambda colour: np.array([box(10, 10, 110, 40), box(150, 50, 180, 250)], np.float32)
    boxes = read_text(image, detect, recognize)
    assert [(b.text, b.angle) for b in boxes] == [('Net Wt', 0.0), ('55 cm', 90.0)]
    assert crops_seen == [(30, 100), (30, 200), (30, 200)]  # the tall crop turned on its side twice
    assert boxes[1].corners == ((150.0, 50.0), (180.0, 50.0), (180.0, 250.0), (150.0, 250.0))


def test_read_text_drops_unsure_readings_and_maps_boxes_back_from_the_enlarged_copy():
    image = np.zeros((100, 200), np.uint8)  # enlarged to 1000 x 500 before detection
    detect = lambda colour: (np.array([box(100, 100, 500, 200), box(0, 0, 50, 20)], np.float32)
                             if colour.shape[:2] == (500, 1000) else None)
    # boxes are read top to bottom: the small one at the corner first
    boxes = read_text(image, detect, lambda crops: [('~', 0.3), ('500 g', 0.9)], min_side=1000)
    assert [b.text for b in boxes] == ['500 g']
    assert boxes[0].corners[0] == (20.0, 20.0) and boxes[0].corners[2] == (100.0, 40.0)


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


@pytest.fixture(scope='module', params=[('rapidocr', None, None), ('ppocrv6', None, None),
                                        ('ppocrv6-tiny', None, 'ppocrv6'), ('ppocrv6', 'ppocrv6-tiny', None)],
                ids=['rapidocr', 'ppocrv6', 'ppocrv6-fast', 'ppocrv6-tinydet'])
def paddle(request):
    name, detector, recheck = request.param
    reader = PaddleReader(name, detection_side=960, min_side=1000, retry_side=1600, detector=detector,
                          recheck=recheck)
    reader.setup()
    return reader


def test_numbers_read_unsurely_are_read_again_by_the_larger_recogniser():
    first = {'a': ('Net Wt', 0.80), 'b': ('500 g', 0.97), 'c': ('12V', 0.995), 'd': ('SOO g', 0.6)}
    again = []

    def small(crops):
        again.extend(crops)
        return [(f'{crop} again', 0.999) for crop in crops]
    read = rechecked(lambda crops: [first[crop] for crop in crops], small, below=0.99)
    assert read(['a', 'b', 'c', 'd']) == [('Net Wt', 0.80), ('b again', 0.999), ('12V', 0.995), ('SOO g', 0.6)]
    assert again == ['b']  # no digit in 'Net Wt' or 'SOO g'; '12V' sure enough
    assert read([]) == [] and again == ['b']


def test_one_model_sets_detector_finds_the_boxes_another_reads():
    """ppocrv6-tinydet: tiny's detector (a third of small's detection time) and small's recogniser."""
    class Models:
        def __init__(self, name):
            self.name, self.detected, self.read = name, [], []

        def detect(self, colour, side):
            self.detected.append(side)
            return [np.float32(box(10, 10, 90, 30))]

        def recognize(self, crops):
            self.read.append(len(crops))
            return [(f'12 V {self.name}', 0.9)] * len(crops)
        upright = None
    reader = PaddleReader('ppocrv6', 960, 0, 0, detector='ppocrv6-tiny')
    reader.models, reader.detecting = Models('small'), Models('tiny')
    reader.recognize = reader.models.recognize
    [word] = reader.read(np.full((100, 200), 255, np.uint8))
    assert word.text == '12 V small' and word.engine == 'ppocrv6'
    assert (reader.detecting.detected, reader.models.detected) == ([960], [])
    assert (reader.detecting.read, reader.models.read) == ([], [1])
    with pytest.raises(ValueError):
        PaddleReader('ppocrv6', 960, 0, 0, detector='easyocr')


def ink_box(grey):
    """(left, top, right, bottom) of the dark pixels of a drawn label."""
    rows, cols = np.nonzero(grey < 128)
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


@pytest.mark.parametrize('size', [(480, 140), (1100, 300)], ids=['enlarged', 'native'])
def test_paddle_reads_a_drawn_label_in_the_images_coordinates(paddle, size):
    grey = np.asarray(label_image(['Net Wt 500 g'], size=size).convert('L'))
    words = paddle.read(grey)
    assert any('500' in w.text for w in words), words
    height, width = grey.shape
    for w in words:
        assert w.engine == paddle.name and 0 <= w.confidence <= 100
        assert 0 <= w.left and w.left + w.width <= width and 0 <= w.top and w.top + w.height <= height
    # the boxes lie on the ink, not on where it would be in the enlarged copy (twice as far out);
    # tiny's detector draws its boxes a few pixels wider than small's
    left, top, right, bottom = ink_box(grey)
    slack = 12 if paddle.detector == 'ppocrv6' or paddle.name == 'rapidocr' else 16
    assert abs(min(w.left for w in words) - left) <= slack
    assert abs(max(w.left + w.width for w in words) - right) <= slack
    assert abs(min(w.top for w in words) - top) <= slack
    assert abs(max(w.top + w.height for w in words) - bottom) <= slack


def test_paddle_finds_nothing_on_a_blank_image(paddle):
    assert paddle.read(np.full((200, 300), 250, np.uint8)) == ()


def test_paddle_reads_sideways_print_in_either_direction(paddle):
    """A dimension printed bottom to top (a drawing's height) and one printed top to bottom."""
    label = np.asarray(label_image(['55 cm'], size=(300, 90)).convert('L'))
    for turn, angle in ((1, 90.0), (-1, -90.0)):
        grey = np.full((600, 400), 255, np.uint8)
        sideways = np.rot90(label, turn)
        grey[150:150 + sideways.shape[0], 150:150 + sideways.shape[1]] = sideways
        words = [w for w in paddle.read(grey) if '55' in w.text]
        assert words and words[0].vertical and words[0].angle == pytest.approx(angle, abs=5), words


def readers(*flags):
    """make_readers for a run given these flags."""
    return make_readers(job_config(default_options(flags)).ocr)


def test_make_readers():
    both = readers('--ocr_engine=both', '--ocr_psm=6', '--ppocr_detection_side=640', '--ppocr_min_side=800')
    assert [r.name for r in both] == ['tesseract', 'rapidocr']
    assert both[0].psm == 6 and (both[1].detection_side, both[1].min_side) == (640, 800)
    assert [r.name for r in readers('--ocr_engine=tesseract')] == ['tesseract']
    for engine in ('rapidocr', 'ppocrv6', 'ppocrv6-tiny', 'ppocrv5'):
        assert [r.name for r in readers(f'--ocr_engine={engine}')] == [engine]
    [fast] = readers('--ocr_engine=ppocrv6-fast')
    assert (fast.name, fast.detector, fast.recheck) == ('ppocrv6-tiny', 'ppocrv6-tiny', 'ppocrv6')
    assert fast.detection_side == 736  # the engine's own detection size, unless the flag gives one
    [small] = readers('--ocr_engine=ppocrv6')
    assert small.detection_side == 960
    [fast_at_960] = readers('--ocr_engine=ppocrv6-fast', '--ppocr_detection_side=960')
    assert fast_at_960.detection_side == 960
    [tinydet] = readers('--ocr_engine=ppocrv6-tinydet')
    assert (tinydet.name, tinydet.detector, tinydet.recheck) == ('ppocrv6', 'ppocrv6-tiny', None)
    assert readers('--ocr_engine=none') == ()
    [default] = readers()
    assert (default.name, default.recheck, default.detection_side) == ('ppocrv6-tiny', 'ppocrv6', 736)  # ppocrv6-fast
    config = job_config(default_options()).ocr
    for engine in ('easyocr', '', 'Both'):
        with pytest.raises(ValueError, match='unknown OCR engine'):
            make_readers(dataclasses.replace(config, engine=engine))


def test_both_engines_words_reach_one_result():
    fn = OcrFn(readers('--ocr_engine=both'))
    fn.setup()
    [(link, result)] = list(fn.process(decoded(label_image(['Net Wt 500 g', 'Output 12V']))))
    engines = {w.engine for w in result.words}
    assert engines == {'tesseract', 'rapidocr'}
    for engine in engines:
        assert any('500' in w.text for w in result.words if w.engine == engine)
    tesseract_lines = {w.line for w in result.words if w.engine == 'tesseract'}
    assert not tesseract_lines & {w.line for w in result.words if w.engine == 'rapidocr'}


def test_second_pass_only_when_the_first_finds_no_quantity():
    """PaddleReader reads again with the larger detection side only when needed, and keeps
    the first pass when the second finds no quantity either."""
    from transforms.records import OcrWord

    def reader_with(first, second):
        reader = PaddleReader('rapidocr', detection_side=960, min_side=1000, retry_side=1600)
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
from transforms.logic.memory import keep_freed_memory

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
