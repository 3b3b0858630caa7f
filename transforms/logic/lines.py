"""Dimension lines: which OCR words stand beside a vertical line, above or below a horizontal
one, or by a slanted one.

Product drawings print the height beside a vertical dimension line and the width above or
below a horizontal one ('110cm' under the desk, '74cm' at its side); the numbers alone do not
say which is which. OpenCV finds long straight dark strokes by opening a local-contrast mask
with a thin long kernel, each way; a word is marked when such a stroke runs alongside its box
within one and a half letter heights.

On the dev rows, 18 of the 26 right height candidates stand beside a vertical line and 13 of
the 73 wrong ones do; no right width candidate does (feature line_agrees in candidates.py).

Perspective drawings print the depth by a slanted line along the receding edge, often in level
text ('17"' by a chair's seat, '40 cm' by a stand's base), which the text's own direction does
not show. The probabilistic Hough transform finds long straight strokes of the same mask at 20
to 70 degrees; a word with one within reach is marked `line_slanted`, and candidates.py counts
level text there as slanted. Cross-validated on dev + mix over 12 random deals of images to
folds (docs/accuracy.md) it raised the mean depth F1 from 0.581 to 0.599 and the mix-weighted
F1 from 0.801 to 0.807. The three masks take about 14 ms of CPU per dev image, the slanted ones 10 of
them (bench/lines_bench.py).
"""
import math
from dataclasses import replace
from typing import NamedTuple, Sequence

import numpy as np

from transforms.records import OcrWord

MIN_LINE_SHARE = 0.06  # a line is at least this share of the image's short side (and 20 px) long
REACH = 1.5            # how far from a word, in its letter heights, a line may run
LEVEL_BELOW, UPRIGHT_ABOVE = 20.0, 70.0  # degrees off level: a line or text between the two is slanted
MAX_GAP = 3            # pixels a slanted stroke may break and still be one line (anti-aliased steps)


class LineMasks(NamedTuple):
    """Boolean masks, the image's size, of its long straight dark strokes, by direction."""
    vertical: np.ndarray
    horizontal: np.ndarray
    slanted: np.ndarray


def direction_of(angle: float) -> str:
    """'horizontal', 'vertical' or 'slanted' (a perspective drawing's depth) for a direction in
    degrees, either way round: one rule for dimension lines here and for text in candidates.py."""
    slope = abs(angle) % 180
    slope = min(slope, 180 - slope)
    return 'horizontal' if slope < LEVEL_BELOW else 'vertical' if slope > UPRIGHT_ABOVE else 'slanted'


def _slanted_lines(contrast: np.ndarray, length: int) -> np.ndarray:
    """The mask of the contrast mask's straight segments at least `length` long, 20-70 degrees off level."""
    import cv2
    mask = np.zeros(contrast.shape, np.uint8)
    segments = cv2.HoughLinesP(contrast, 1, np.pi / 180, threshold=max(15, length // 2), minLineLength=length,
                               maxLineGap=MAX_GAP)
    for x1, y1, x2, y2 in (segments[:, 0] if segments is not None else ()):
        if direction_of(math.degrees(math.atan2(int(y2) - int(y1), int(x2) - int(x1)))) == 'slanted':
            cv2.line(mask, (int(x1), int(y1)), (int(x2), int(y2)), 255, 1)
    return mask > 0


def contrast_mask(image: np.ndarray) -> tuple:
    """(the grey image's dark strokes against their surroundings, the shortest line length)."""
    import cv2
    contrast = cv2.adaptiveThreshold(image, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 10)
    return contrast, max(20, round(MIN_LINE_SHARE * min(image.shape[:2])))


def straight_lines(contrast: np.ndarray, length: int) -> tuple:
    """(vertical, horizontal): the contrast mask opened with a thin kernel `length` long, each way."""
    import cv2
    vertical = cv2.morphologyEx(contrast, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length)))
    horizontal = cv2.morphologyEx(contrast, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    return vertical > 0, horizontal > 0


def line_masks(image: np.ndarray) -> LineMasks:
    """The long straight dark strokes of a grey image: vertical, horizontal and slanted."""
    contrast, length = contrast_mask(image)
    return LineMasks(*straight_lines(contrast, length), _slanted_lines(contrast, length))


def beside_lines(word: OcrWord, masks: LineMasks) -> tuple:
    """(a vertical line runs left or right of the word, a horizontal line runs above or below
    it, a slanted line runs anywhere within reach of it)."""
    left, top, right, bottom = max(word.left, 0), max(word.top, 0), word.left + word.width, word.top + word.height
    reach = max(3, int(REACH * min(word.width, word.height)))
    vertical, horizontal = masks.vertical, masks.horizontal
    side = vertical[top:bottom, max(left - reach, 0):left].any() or vertical[top:bottom, right:right + reach].any()
    over = horizontal[max(top - reach, 0):top, left:right].any() or horizontal[bottom:bottom + reach, left:right].any()
    slant = masks.slanted[max(top - reach, 0):bottom + reach, max(left - reach, 0):right + reach].any()
    return bool(side), bool(over), bool(slant)


def mark_dimension_lines(words: Sequence[OcrWord], image: np.ndarray) -> tuple:
    """The words with line_beside, line_over and line_slanted set from the image they were read from."""
    if not words or image is None or image.ndim != 2:
        return tuple(words)
    masks = line_masks(image)
    marked = []
    for word in words:
        side, over, slant = beside_lines(word, masks)
        marked.append(replace(word, line_beside=side, line_over=over, line_slanted=slant))
    return tuple(marked)
