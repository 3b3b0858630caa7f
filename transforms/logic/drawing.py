"""Annotate: a row's image with every candidate quantity boxed and the prediction printed.

A person judging a wrong row needs to see what the OCR found and which quantity the chooser
took, on the image itself: the chosen candidate is boxed in red, the others in grey, and a
banner under the image gives the index, entity and prediction. Pure Pillow, no Beam, so the
pipeline (`--annotate_dir`) and the HTML report (`pipeline/report.py`) share it.

Boxes are in the coordinates of the image the OCR read, which Preprocess scales down when its
long side is over --ocr_max_side; they are scaled back here, so pass the run's ocr_max_side.
Pillow reads the pixels as stored (no EXIF rotation), as Preprocess and the OCR do.
"""
import hashlib
import io
import re
import textwrap
from typing import Optional, Tuple

from PIL import Image, ImageDraw, ImageFont

from transforms.logic.units import parse_value, same_value
from transforms.records import Candidate, RowResult

RED = (230, 20, 20)
GREY = (150, 150, 150)
BANNER = (25, 25, 25)
PLACEHOLDER = (235, 235, 235)
PLACEHOLDER_SIZE = (480, 360)  # when neither the image nor its recorded size is known
MIN_SIDE = 480                 # smaller images are enlarged to this (or max_side): boxes and text stay legible
_UNSAFE = re.compile(r'[^A-Za-z0-9_.-]')
_NAME_LENGTH = 80


def annotated_name(result: RowResult) -> str:
    """A file name for the row's annotated image, from its index (an untrusted CSV string).

    Only [A-Za-z0-9_.-] survives, with no leading dot; when that changed the index, a short
    hash of the original is appended so that 'a/b' and 'a_b' still get different files.
    """
    index = result.index
    safe = _UNSAFE.sub('_', index)[:_NAME_LENGTH].lstrip('.')
    if safe != index or not safe:
        safe = f'{safe}-{hashlib.sha1(index.encode("utf-8", "surrogatepass")).hexdigest()[:8]}'.lstrip('-')
    return f'{safe}.jpg'


def chosen_candidate(result: RowResult) -> Optional[Candidate]:
    """The candidate the prediction was written from: same value and unit, the highest score
    (the first on a tie, as choose.best_candidate breaks them), allowed ones first, then ones
    read in the image before the group's usual value."""
    parsed = parse_value(result.chosen or result.prediction or '')  # held back by --min_confidence too
    if parsed is None:
        return None
    value, unit = parsed
    matching = [c for c in result.candidates
                if c.unit == unit and same_value(c.value, value)]
    best = None
    for candidate in matching:
        if best is None or _rank(candidate) > _rank(best):
            best = candidate
    return best


def ocr_size(width: int, height: int, ocr_max_side: int) -> Tuple[int, int]:
    """The size of the image the OCR read, as transforms/preprocess.py computes it."""
    if ocr_max_side and max(width, height) > ocr_max_side:
        scale = ocr_max_side / max(width, height)
        return round(width * scale), round(height * scale)
    return width, height


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except Exception:  # Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def display_size(width: int, height: int, max_side: int) -> Tuple[int, int]:
    """The drawn size: at most max_side long, and a small image enlarged to min(MIN_SIDE, max_side)
    (a third of the dev images are 500 px or less, some under 150)."""
    longest, smallest = max(width, height, 1), min(MIN_SIDE, max_side)
    scale = max_side / longest if longest > max_side else smallest / longest if longest < smallest else 1.0
    return max(1, round(width * scale)), max(1, round(height * scale))


def _open(image_bytes: bytes, max_side: int, max_pixels: int):
    """(RGB image at its display size, full (width, height)); raises when Pillow cannot read it."""
    image = Image.open(io.BytesIO(image_bytes))
    full = image.size
    if full[0] * full[1] > max_pixels * (64 if image.format == 'JPEG' else 1):  # JPEG: decoded at 1/8
        raise ValueError(f'{full[0]}x{full[1]} image exceeds the pixel limit of {max_pixels} pixels')
    image.draft('RGB', (max_side, max_side))  # JPEG: decode at 1/2..1/8 scale, cheap for large images
    image = image.convert('RGB')
    size = display_size(*full, max_side)
    if size != image.size:
        image = image.resize(size, Image.LANCZOS if size[0] < image.width else Image.BICUBIC)
    return image, full


def _why_unreadable(image_bytes: bytes, error: Exception) -> str:
    if not image_bytes:
        return 'no image bytes'
    if isinstance(error, Image.UnidentifiedImageError):
        return f'not an image Pillow can read ({len(image_bytes)} bytes)'
    return f'{type(error).__name__}: {error}'.replace('\n', ' ')[:200]


def _canvas(result: RowResult, max_side: int) -> Image.Image:
    """A blank image of the recorded size (at its display size), or a placeholder."""
    width, height = result.image_width, result.image_height
    if width <= 0 or height <= 0:
        width, height = PLACEHOLDER_SIZE
    return Image.new('RGB', display_size(width, height, max_side), PLACEHOLDER)


def _was_read(candidate: Candidate) -> bool:
    """Read in the image, unlike the group's usual value (transforms/logic/chooser.py), which has no place in it."""
    return candidate.group != 'usual'


def _rank(candidate: Candidate) -> tuple:
    return candidate.allowed, _was_read(candidate), candidate.score


def _read(result: RowResult) -> list:
    """The candidates read in the image."""
    return [c for c in result.candidates if _was_read(c)]


def _if_read(chosen: Optional[Candidate]) -> Optional[Candidate]:
    """The chosen candidate when it was read in the image (it gets the red box), else None."""
    return chosen if chosen is not None and _was_read(chosen) else None


def _draw_boxes(image: Image.Image, result: RowResult, full: Tuple[int, int], ocr_max_side: int) -> None:
    """Grey outlines round every candidate, then the chosen one in red on top, each drawn just
    outside its box so the text stays readable."""
    known = result.image_width > 0 and result.image_height > 0
    recorded = (result.image_width, result.image_height) if known else full
    ocr_width, ocr_height = ocr_size(*recorded, ocr_max_side)
    sx, sy = image.width / max(ocr_width, 1), image.height / max(ocr_height, 1)
    line = max(2, round(max(image.size) / 300))
    chosen = _if_read(chosen_candidate(result))
    draw = ImageDraw.Draw(image)
    for candidate in sorted(_read(result), key=lambda c: c is chosen):
        x0, y0 = round(candidate.left * sx) - line, round(candidate.top * sy) - line
        x1 = round(candidate.left * sx + max(candidate.width * sx, 1)) + line - 1
        y1 = round(candidate.top * sy + max(candidate.height * sy, 1)) + line - 1
        draw.rectangle((x0, y0, x1, y1), outline=RED if candidate is chosen else GREY, width=line)
    if chosen is not None:  # a tag with the chosen value, above its box (below when at the top)
        font = _font(max(11, min(24, round(max(image.size) / 50))))
        tag = f'{chosen.value:g} {chosen.unit}'
        left, top, right, bottom = draw.textbbox((0, 0), tag, font=font)
        x = round(chosen.left * sx) - line
        y = round(chosen.top * sy) - line - (bottom - top) - 4
        if y < 0:
            y = round((chosen.top + chosen.height) * sy) + line
        draw.rectangle((x, y, x + right - left + 4, y + bottom - top + 4), fill=RED)
        _text(draw, (x + 2 - left, y + 2 - top), tag, font, (255, 255, 255))


def _text(draw, xy, text, font, fill):
    try:
        draw.text(xy, text, font=font, fill=fill)
    except Exception:  # a bitmap font cannot write every character
        draw.text(xy, text.encode('ascii', 'replace').decode('ascii'), font=font, fill=fill)


def _with_banner(image: Image.Image, lines) -> Image.Image:
    """The image with a dark banner under it holding (text, colour) lines, wrapped to its width."""
    size = max(12, min(28, round(max(image.size) / 40)))
    font = _font(size)
    char_width = max(1.0, font.getlength('0123456789abcdefghij') / 20) if hasattr(font, 'getlength') else size * 0.6
    per_line = max(10, int((image.width - size) / char_width))
    wrapped = [(part, colour) for text, colour in lines
               for part in textwrap.wrap(text, per_line, break_long_words=True)[:3] or ['']]
    step = round(size * 1.3)
    out = Image.new('RGB', (image.width, image.height + step * len(wrapped) + size // 2), BANNER)
    out.paste(image, (0, 0))
    draw = ImageDraw.Draw(out)
    for i, (text, colour) in enumerate(wrapped):
        _text(draw, (size // 2, image.height + size // 4 + i * step), text, font, colour)
    return out


def _candidates_line(count: int, chosen: bool) -> str:
    if count == 0:
        return 'no candidate quantity found'
    if count == 1:
        return '1 candidate, chosen (red)' if chosen else '1 candidate, not chosen (grey)'
    return f'{count} candidates: chosen in red, others in grey'


def _how_chosen(chosen: Optional[Candidate]) -> str:
    if chosen is None:
        return ''
    if not _was_read(chosen):
        return "  (nothing read: the product group's usual value)"
    return f'  (score {chosen.score:.2f})'


def _banner_lines(result: RowResult, problem: str):
    chosen = chosen_candidate(result)
    prediction = result.prediction or (f'(held back: {result.chosen})' if result.chosen else '(no prediction)')
    confidence = f'  confidence {result.confidence:.2f}' if result.chosen or result.prediction else ''
    lines = [(f'index {result.index}  {result.entity_name}', (235, 235, 235)),
             (f'prediction: {prediction}' + _how_chosen(chosen) + confidence, (255, 90, 90)),
             (_candidates_line(len(_read(result)), _if_read(chosen) is not None), (190, 190, 190))]
    if result.failure_stage:
        lines.append((f'failed at {result.failure_stage}: {result.failure_reason}', (255, 200, 80)))
    if problem:
        lines.append((f'image not drawn: {problem}', (255, 200, 80)))
    return lines


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, format='JPEG', quality=quality, optimize=True)
    return out.getvalue()


def annotate(image_bytes: bytes, result: RowResult, *, ocr_max_side: int, max_pixels: int, max_side: int = 1200,
             quality: int = 85) -> bytes:
    """A JPEG of the row's image (at most max_side long, plus the banner) with its candidates
    boxed; `ocr_max_side` and `max_pixels` are the run's options of those names. Never raises:
    an image Pillow cannot read becomes a blank canvas of the recorded size with the reason
    printed, so a bad row still gets its picture."""
    max_side = max(16, int(max_side))
    problem = ''
    try:
        image, full = _open(image_bytes or b'', max_side, max_pixels)
    except Exception as error:
        problem = _why_unreadable(image_bytes, error)
        image = _canvas(result, max_side)
        full = (result.image_width, result.image_height) if result.image_width > 0 else image.size
    try:
        _draw_boxes(image, result, full, ocr_max_side)
    except Exception as error:  # odd boxes in a record: the image without them, and why
        problem = problem or f'boxes not drawn: {type(error).__name__}: {error}'[:200]
    try:
        return _jpeg(_with_banner(image, _banner_lines(result, problem)), quality)
    except Exception:  # the last resort: a plain placeholder rather than an exception
        return _jpeg(Image.new('RGB', PLACEHOLDER_SIZE, PLACEHOLDER), quality)
