"""Annotated images: candidate boxes land on the right pixels, and nothing makes annotate() raise."""
import io
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.images import encode, label_image
from transforms.logic import drawing as annotate_module
from transforms.logic.drawing import annotated_name, chosen_candidate, ocr_size
from transforms.records import Candidate, RowResult


def cand(value, unit, box, score=0.5, allowed=True):
    left, top, width, height = box
    return Candidate(value, unit, f'{value} {unit}', left, top, width, height, allowed, score)



def annotate(image_bytes, row, **settings):
    """annotate() with the pipeline's default --ocr_max_side and --max_image_pixels unless given."""
    return annotate_module.annotate(image_bytes, row, **{'ocr_max_side': 4000, 'max_pixels': 40_000_000, **settings})


def result(prediction, candidates, size=(640, 320), index='7', **fields):
    return RowResult(0, index, 'https://cdn.example.com/i/a.jpg', '1', 'item_weight', prediction,
                     image_width=size[0], image_height=size[1], candidates=tuple(candidates), **fields)


def decode(jpeg: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(jpeg))
    assert image.format == 'JPEG'
    return np.asarray(image.convert('RGB')).astype(int)


def ring(pixels, box, scale=1.0, line=2):
    """The pixels of the outline drawn just outside a box (OCR coordinates times scale)."""
    left, top, width, height = (round(v * scale) for v in box)
    outer = pixels[top - line:top + height + line, left - line:left + width + line]
    mask = np.ones(outer.shape[:2], bool)
    mask[line:-line, line:-line] = False
    return outer[mask]


def red_share(pixels) -> float:
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    return float(np.mean((r > 150) & (r - g > 80) & (r - b > 80)))


def grey_share(pixels) -> float:
    r, g, b = pixels[:, 0], pixels[:, 1], pixels[:, 2]
    return float(np.mean((abs(r - 150) < 40) & (abs(g - 150) < 40) & (abs(b - 150) < 40)
                         & (abs(r - g) < 20) & (abs(g - b) < 20)))


CHOSEN_BOX = (30, 110, 320, 60)
OTHER_BOX = (30, 200, 320, 60)
IMAGE = encode(label_image(['Oats', 'Net Wt 500 g', 'Serving 30 g']))


def test_chosen_candidate_is_red_and_the_others_grey():
    row = result('500.0 gram', [cand(30.0, 'gram', OTHER_BOX, 0.2), cand(500.0, 'gram', CHOSEN_BOX, 0.9)])
    pixels = decode(annotate(IMAGE, row))
    assert pixels.shape[1] == 640 and pixels.shape[0] > 320  # the image, then the banner under it
    assert red_share(ring(pixels, CHOSEN_BOX)) > 0.6
    assert red_share(ring(pixels, OTHER_BOX)) < 0.05
    assert grey_share(ring(pixels, OTHER_BOX)) > 0.6
    # the text inside the boxes is not painted over
    assert red_share(pixels[140:160, 60:300].reshape(-1, 3)) < 0.01


def test_banner_is_dark_and_the_image_above_it_unchanged():
    row = result('500.0 gram', [cand(500.0, 'gram', CHOSEN_BOX)])
    pixels = decode(annotate(IMAGE, row))
    assert pixels[330:, :, :].mean() < 90              # the banner
    assert pixels[5:20, 400:600, :].mean() > 230      # the label's pale background, untouched


@pytest.mark.parametrize('prediction', ['500 gram', '500.0 gram'])
def test_whole_numbers_written_either_way_find_their_candidate(prediction):
    chosen = cand(500.0, 'gram', CHOSEN_BOX, 0.9)
    assert chosen_candidate(result(prediction, [cand(30.0, 'gram', OTHER_BOX), chosen])) is chosen


def test_of_two_readings_of_the_value_the_higher_score_is_chosen():
    low, high = cand(500.0, 'gram', OTHER_BOX, 0.3), cand(500.0, 'gram', CHOSEN_BOX, 0.8)
    row = result('500.0 gram', [low, high, cand(500.0, 'ounce', (400, 20, 100, 40), 0.99)])
    assert chosen_candidate(row) is high
    pixels = decode(annotate(IMAGE, row))
    assert red_share(ring(pixels, CHOSEN_BOX)) > 0.6
    assert red_share(ring(pixels, OTHER_BOX)) < 0.05


def test_no_prediction_means_no_red_box():
    row = result('', [cand(500.0, 'gram', CHOSEN_BOX)])
    assert chosen_candidate(row) is None
    pixels = decode(annotate(IMAGE, row))
    assert grey_share(ring(pixels, CHOSEN_BOX)) > 0.6
    assert red_share(pixels[:320].reshape(-1, 3)) < 0.001


def test_the_groups_usual_value_has_no_box_and_the_banner_says_nothing_was_read():
    from transforms.logic.drawing import _banner_lines
    usual = Candidate(500.0, 'gram', '', 0, 0, 0, 0, True, 0.0, group='usual')
    row = result('500.0 gram', [cand(30.0, 'volt', OTHER_BOX, allowed=False), usual])
    assert chosen_candidate(row) is usual
    pixels = decode(annotate(IMAGE, row))
    assert red_share(pixels[:320].reshape(-1, 3)) < 0.001          # no red box, no tag at the corner
    assert grey_share(ring(pixels, OTHER_BOX)) > 0.6               # what was read is still shown
    banner = ' / '.join(text for text, _ in _banner_lines(row, ''))
    assert "nothing read: the product group's usual value" in banner and '1 candidate, not chosen' in banner


def test_a_reading_of_the_usual_value_is_boxed_rather_than_the_usual_value():
    usual = Candidate(500.0, 'gram', '', 0, 0, 0, 0, True, 0.0, group='usual')
    read = cand(500.0, 'gram', CHOSEN_BOX, 0.0)
    assert chosen_candidate(result('500.0 gram', [usual, read])) is read


def test_boxes_of_an_image_scaled_down_for_ocr_land_on_the_original():
    # a 5000x2500 image: Preprocess hands OCR a 4000x2000 copy, so OCR boxes are 0.8 of the original
    big = Image.new('RGB', (5000, 2500), (250, 250, 245))
    ImageDraw.Draw(big).rectangle((4000, 2000, 4500, 2250), fill=(20, 20, 20))  # the 'text', original px
    assert ocr_size(5000, 2500, 4000) == (4000, 2000)
    ocr_box = (3200, 1600, 400, 200)                                            # the same, in OCR px
    row = result('500.0 gram', [cand(500.0, 'gram', ocr_box)], size=(5000, 2500))
    pixels = decode(annotate(encode(big), row, max_side=1000, ocr_max_side=4000))
    assert pixels.shape[1] == 1000
    # shown at 1000 px (0.2 of the original): tight round the dark block at (800, 400)-(900, 450)
    assert red_share(ring(pixels, (800, 400, 100, 50), line=3)) > 0.6
    assert pixels[410:440, 810:890].mean() < 40
    assert red_share(ring(pixels, ocr_box, scale=0.2, line=3)) < 0.05  # where unscaled boxes would be


def test_without_ocr_scaling_boxes_only_follow_the_display_size():
    row = result('500.0 gram', [cand(500.0, 'gram', CHOSEN_BOX)])
    pixels = decode(annotate(IMAGE, row, max_side=320))
    assert pixels.shape[1] == 320
    assert red_share(ring(pixels, CHOSEN_BOX, scale=0.5)) > 0.5


@pytest.mark.parametrize('data', [b'', b'not an image at all', IMAGE[:200]])
def test_unreadable_bytes_give_a_canvas_of_the_recorded_size(data):
    row = result('', [], size=(800, 200), failure_stage='decode', failure_reason='ValueError: not an image')
    pixels = decode(annotate(data, row))
    assert pixels.shape[1] == 800 and pixels.shape[0] > 200
    assert abs(pixels[20:180, 50:750].mean() - 235) < 10  # the blank canvas


def test_a_small_image_is_enlarged_and_its_boxes_with_it():
    small = encode(label_image(['Net Wt 500 g'], size=(160, 80)))
    row = result('500.0 gram', [cand(500.0, 'gram', (10, 20, 100, 30))], size=(160, 80))
    pixels = decode(annotate(small, row))
    assert pixels.shape[1] == 480  # three times: banner text and boxes stay legible
    assert red_share(ring(pixels, (10, 20, 100, 30), scale=3)) > 0.6
    assert decode(annotate(small, row, max_side=320)).shape[1] == 320


def test_unknown_size_and_bad_boxes_still_give_an_image():
    row = result('5.0 gram', [cand(5.0, 'gram', (-50, 10**6, -3, 0))], size=(0, 0))
    pixels = decode(annotate(b'\x00' * 10, row))
    assert pixels.shape[1] == 480  # the placeholder
    pixels = decode(annotate(IMAGE, row))
    assert pixels.shape[1] == 640


def test_a_huge_png_is_not_decoded():
    data = encode(Image.new('L', (8000, 6000)), 'PNG')
    pixels = decode(annotate(data, result('', [], size=(8000, 6000)), max_pixels=40_000_000))
    assert pixels.shape[1] == 1200  # the recorded size, scaled to max_side, on a blank canvas


@pytest.mark.parametrize('index', ['123', 'a/b', 'a_b', '../../etc/passwd', '', ' ', 'x' * 500, 'é', '.hidden'])
def test_annotated_name_is_a_safe_file_name(index):
    name = annotated_name(result('', [], index=index))
    assert re.fullmatch(r'[A-Za-z0-9_-][A-Za-z0-9_.-]*\.jpg', name)
    assert len(name) <= 100


def name(index):
    return annotated_name(result('', [], index=index))


def test_annotated_name_keeps_clean_indexes_and_tells_sanitised_ones_apart():
    assert name('123') == '123.jpg'
    assert name('sku-9.v2') == 'sku-9.v2.jpg'
    assert name('a/b') != name('a_b') != name('a b')
    assert name('a/b') != name('a b')
    assert name('x' * 500) != name('x' * 499)
    assert name('a/b') == name('a/b')


def test_a_prediction_held_back_by_min_confidence_is_still_boxed_and_says_so():
    from transforms.logic.drawing import _banner_lines
    chosen = cand(500.0, 'gram', CHOSEN_BOX, 0.6)
    row = result('', [chosen, cand(30.0, 'gram', OTHER_BOX, 0.1)], chosen='500.0 gram', confidence=0.42)
    assert chosen_candidate(row) is chosen
    banner = ' / '.join(text for text, _ in _banner_lines(row, ''))
    assert 'prediction: (held back: 500.0 gram)' in banner and 'confidence 0.42' in banner
    kept = result('500.0 gram', [chosen], chosen='500.0 gram', confidence=0.97)
    assert 'prediction: 500.0 gram  (score 0.60)  confidence 0.97' in ' / '.join(t for t, _ in _banner_lines(kept, ''))
    assert 'confidence' not in ' / '.join(t for t, _ in _banner_lines(result('', []), ''))
