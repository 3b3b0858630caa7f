"""Preprocess: format sniffing, decoding in TensorFlow, the pixel limit and bad bytes."""
import zlib
import struct

import numpy as np
import pytest

from tests.images import encode, label_image, noise_image
from transforms.preprocess import FACTS, FAILED, PreprocessBatchFn, decode_and_prepare, decode_rgb, sniff_image_format
from transforms.records import DecodedImage, FetchedImage


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that claims a huge size: the shape of a decompression bomb."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    header = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b'')


@pytest.mark.parametrize('fmt, name', [('JPEG', 'jpeg'), ('PNG', 'png'), ('GIF', 'gif'), ('BMP', 'bmp'),
                                       ('WEBP', 'webp'), ('TIFF', 'tiff')])
def test_every_supported_format_is_sniffed_and_decoded(fmt, name):
    data = encode(noise_image(64, 48).convert('RGB'), fmt)
    assert sniff_image_format(data) == name
    image = decode_rgb(data)
    assert tuple(image.shape) == (48, 64, 3)


def test_html_is_not_an_image():
    assert sniff_image_format(b'<!doctype html><html></html>') is None


@pytest.mark.parametrize('mode', ['L', 'P', 'RGBA', 'I;16', 'CMYK'])
def test_unusual_pixel_modes_decode_to_rgb(mode):
    image = noise_image(40, 30).convert(mode) if mode != 'I;16' else Image16()
    fmt = 'JPEG' if mode == 'CMYK' else 'PNG'
    decoded = decode_rgb(encode(image, fmt))
    assert decoded.shape[-1] == 3 and decoded.dtype.name == 'uint8'


def Image16():
    from PIL import Image
    return Image.fromarray((np.arange(1200, dtype=np.uint16).reshape(30, 40) * 50))


def run_batch(*datas, max_pixels=40_000_000, ocr_max_side=4000):
    fn = PreprocessBatchFn(max_pixels, ocr_max_side)
    batch = [FetchedImage(f'http://x/{i}.jpg', d, 'cache', 0.01) for i, d in enumerate(datas)]
    return list(fn.process(batch))


def test_batch_gives_cnn_and_ocr_images():
    [decoded] = [o for o in run_batch(encode(label_image(['Net Wt 500 g'], size=(640, 320))))
                 if isinstance(o, DecodedImage)]
    assert isinstance(decoded, DecodedImage)
    assert decoded.cnn_input.shape == (224, 224, 3) and decoded.cnn_input.dtype == np.float32
    assert 0 <= decoded.cnn_input.min() and decoded.cnn_input.max() <= 255
    assert decoded.ocr_image.shape == (320, 640) and decoded.ocr_image.dtype == np.uint8
    assert (decoded.facts.width, decoded.facts.height) == (640, 320)


def test_ocr_image_is_scaled_down_past_the_limit():
    [decoded] = [o for o in run_batch(encode(noise_image(800, 400)), ocr_max_side=400)
                 if isinstance(o, DecodedImage)]
    assert decoded.ocr_image.shape == (200, 400)


def test_bad_images_fail_alone_with_reasons():
    good = encode(noise_image(50, 50))
    outputs = run_batch(png_header_only(20000, 20000), good[: len(good) // 2], b'', good,
                        png_header_only(8000, 6250))
    failures = [o.value for o in outputs if getattr(o, 'tag', None) == FAILED]
    facts = dict(o.value for o in outputs if getattr(o, 'tag', None) == FACTS)
    assert len(facts) == 5 and all(f.source == 'cache' for f in facts.values())
    assert (facts['http://x/3.jpg'].width, facts['http://x/0.jpg'].width) == (50, 0)
    decoded = [o for o in outputs if isinstance(o, DecodedImage)]
    assert len(decoded) == 1 and decoded[0].facts.link == 'http://x/3.jpg'
    reasons = dict((link, failure.reason) for link, failure in failures)
    assert reasons['http://x/0.jpg'].startswith('pixel limit: TooManyPixels')
    assert reasons['http://x/4.jpg'].startswith('pixel limit')
    assert '8000x6250 image exceeds the limit of 40000000 pixels' in reasons['http://x/4.jpg']
    assert reasons['http://x/1.jpg'].startswith('undecodable') and reasons['http://x/2.jpg'].startswith('undecodable')
    assert all(failure.stage == 'decode' for _, failure in failures)


def eager_reference(data: bytes, cnn_size: int, ocr_max_side: int):
    """What preprocessing computed op by op before it became one graph: the pixels must not move."""
    import tensorflow as tf
    image = decode_rgb(data)
    cnn_input = tf.image.resize_with_pad(tf.cast(image, tf.float32), cnn_size, cnn_size, antialias=True)
    grey = tf.image.rgb_to_grayscale(image)
    height, width = int(grey.shape[0]), int(grey.shape[1])
    if max(height, width) > ocr_max_side:
        scale = ocr_max_side / max(height, width)
        grey = tf.cast(tf.round(tf.image.resize(grey, (round(height * scale), round(width * scale)),
                                                antialias=True)), tf.uint8)
    return cnn_input.numpy(), grey.numpy()[..., 0]


# sizes whose padding or scale lands on a rounding edge in float32 among them (1223x1223, 175x288)
@pytest.mark.parametrize('width, height', [(1223, 1223), (175, 288), (640, 320), (97, 1001), (2000, 37)])
@pytest.mark.parametrize('fmt', ['JPEG', 'PNG', 'WEBP'])
def test_graph_gives_the_pixels_of_the_eager_ops(width, height, fmt):
    data = encode(noise_image(width, height).convert('RGB'), fmt)
    for ocr_max_side in (4000, 500):
        cnn_input, grey = decode_and_prepare(data, width, height, 224, ocr_max_side)
        expected_cnn, expected_grey = eager_reference(data, 224, ocr_max_side)
        assert cnn_input.dtype == np.float32 and grey.dtype == np.uint8
        np.testing.assert_array_equal(cnn_input, expected_cnn)
        np.testing.assert_array_equal(grey, expected_grey)


def test_a_header_that_disagrees_with_the_pixels_falls_back_to_the_decoded_size():
    data = encode(noise_image(120, 80).convert('RGB'), 'PNG')
    cnn_input, grey = decode_and_prepare(data, 300, 30, 224, 4000)  # a wrong header size
    assert grey.shape == (80, 120)
    np.testing.assert_array_equal(cnn_input, eager_reference(data, 224, 4000)[0])


def test_preprocessing_keeps_no_memory_per_image():
    """TF 2.16 on Python 3.11 keeps ~170 bytes of every eagerly made tensor (tensorflow#68196);
    op by op that was about 7 kB per image, a GB over a 130k-row night. One graph call keeps <1 kB."""
    import tracemalloc
    data = encode(label_image(['Net Wt 500 g'], size=(300, 200)))
    fn = PreprocessBatchFn(40_000_000, 4000)
    batch = [FetchedImage(f'http://x/{i}.jpg', data, 'cache', 0.01) for i in range(20)]
    for _ in range(3):  # traces and caches first
        list(fn.process(batch))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(20):
            list(fn.process(batch))
        kept_per_image = (tracemalloc.get_traced_memory()[0] - before) / 400
    finally:
        tracemalloc.stop()
    assert kept_per_image < 1000, f'{kept_per_image:.0f} bytes kept per image'
