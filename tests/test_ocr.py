"""OCR: Tesseract's table turned into words, and the DoFn on a drawn label."""
import numpy as np

from tests.images import label_image
from transforms.ocr import FAILED, TesseractFn, words_from_tesseract
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
