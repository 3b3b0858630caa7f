"""Dimension lines: which OCR words stand beside a vertical line or above or below a horizontal one.

Product drawings print the height beside a vertical dimension line and the width above or
below a horizontal one ('110cm' under the desk, '74cm' at its side); the numbers alone do not
say which is which. OpenCV finds long straight dark strokes by opening a local-contrast mask
with a thin long kernel, each way; a word is marked when such a stroke runs alongside its box
within one and a half letter heights. About 1.3 ms of CPU per dev image.

On the dev rows, 18 of the 26 right height candidates stand beside a vertical line and 13 of
the 73 wrong ones do; no right width candidate does (feature line_agrees in candidates.py).
"""
from dataclasses import replace
from typing import Sequence

import numpy as np

from transforms.records import OcrWord

MIN_LINE_SHARE = 0.06  # a line is at least this share of the image's short side (and 20 px) long
REACH = 1.5            # how far from a word, in its letter heights, a line may run


def line_masks(image: np.ndarray) -> tuple:
    """(vertical, horizontal): boolean masks of the long straight dark strokes of a grey image."""
    import cv2
    contrast = cv2.adaptiveThreshold(image, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 15, 10)
    length = max(20, round(MIN_LINE_SHARE * min(image.shape[:2])))
    vertical = cv2.morphologyEx(contrast, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (1, length)))
    horizontal = cv2.morphologyEx(contrast, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (length, 1)))
    return vertical > 0, horizontal > 0


def beside_lines(word: OcrWord, vertical: np.ndarray, horizontal: np.ndarray) -> tuple:
    """(a vertical line runs left or right of the word, a horizontal line runs above or below it)."""
    left, top, right, bottom = max(word.left, 0), max(word.top, 0), word.left + word.width, word.top + word.height
    reach = max(3, int(REACH * min(word.width, word.height)))
    side = vertical[top:bottom, max(left - reach, 0):left].any() or vertical[top:bottom, right:right + reach].any()
    over = horizontal[max(top - reach, 0):top, left:right].any() or horizontal[bottom:bottom + reach, left:right].any()
    return bool(side), bool(over)


def mark_dimension_lines(words: Sequence[OcrWord], image: np.ndarray) -> tuple:
    """The words with line_beside and line_over set from the image they were read from."""
    if not words or image is None or image.ndim != 2:
        return tuple(words)
    vertical, horizontal = line_masks(image)
    marked = []
    for word in words:
        side, over = beside_lines(word, vertical, horizontal)
        marked.append(replace(word, line_beside=side, line_over=over))
    return tuple(marked)
