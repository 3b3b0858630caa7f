"""Images the tests draw themselves (never real data): labels with text, and odd formats."""
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def label_image(lines, size=(640, 320)) -> Image.Image:
    image = Image.new('RGB', size, (250, 250, 245))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    for i, line in enumerate(lines):
        draw.text((30, 30 + 90 * i), line, fill=(10, 10, 10), font=font)
    return image


def encode(image: Image.Image, fmt: str = 'JPEG', **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def noise_image(width=300, height=200, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
