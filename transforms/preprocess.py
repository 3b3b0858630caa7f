"""Preprocess: decode fetched bytes in TensorFlow and shape them for the CNN and for OCR.

tf.io decodes JPEG, PNG, GIF and BMP; tensorflow-io adds WebP and TIFF, which tf.io cannot
read. The pixel count is checked from the header before anything is decoded, so a
decompression bomb costs a few bytes of reading, not gigabytes of memory. Each image is then
decoded, resized and padded in one call of a traced graph (why not op by op: above _sizes).
"""
import atexit
import io
import re
import time
from dataclasses import dataclass

import apache_beam as beam
import numpy as np

from transforms import tensorflow
from transforms.files import sniff_image_format
from transforms.logic.lite0 import IMAGE_SIZE
from transforms.records import DECODED, FACTS, FAILED, DecodedImage, Failure, FetchedImage, ImageFacts

CNN_INPUT_SIZE = IMAGE_SIZE  # the CNN's own (transforms/logic/lite0.py)


@dataclass(frozen=True)
class PreprocessConfig:
    """--preprocess_batch_size, --max_image_pixels and --ocr_max_side (pipeline/options.py owns the defaults)."""
    batch_size: int
    max_pixels: int
    ocr_max_side: int

def header_size(data: bytes) -> tuple:
    """(width, height) from the image header alone; Pillow reads no pixels here."""
    from PIL import Image
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError as error:
        raise TooManyPixels(f'image exceeds the pixel limit ({error})') from error


def decode_rgb(data: bytes):
    """Bytes -> uint8 RGB tensor (H, W, 3); the first frame of an animation."""
    tf = tensorflow()
    kind = sniff_image_format(data)
    if kind == 'webp':
        import tensorflow_io as tfio
        image = tfio.image.decode_webp(data)
    elif kind == 'tiff':
        import tensorflow_io as tfio
        image = tfio.experimental.image.decode_tiff(data)
    elif kind is None:
        raise ValueError('not an image')
    else:
        image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
    if image.shape[-1] == 4:
        image = image[..., :3]
    elif image.shape[-1] == 1:
        image = tf.image.grayscale_to_rgb(image)
    return image


# Why graphs: with TF 2.16 on Python 3.11 every tensor made eagerly keeps about 170 bytes that
# are never freed (tensorflow/tensorflow#68196). Decoding and preparing op by op made some 45
# of them per image, which grew each worker by hundreds of MB over the 131k-row test CSV. One
# traced graph call per image makes about four, and it runs on a GPU when there is one.
SIZE_MISMATCH = 'decoded size differs from the header'


def _sizes(height: int, width: int, cnn_size: int, ocr_max_side: int) -> np.ndarray:
    """[resized height, width, top, left, cnn size, cnn size, OCR height, width, height, width].

    The first four are what tf.image.resize_with_pad computes, in its own float32 arithmetic,
    so the graph gives the very pixels the eager call gives (traced, its arithmetic may round
    the other way by one pixel). The OCR image keeps full resolution up to `ocr_max_side`.
    """
    f_height, f_width, f_size = np.float32(height), np.float32(width), np.float32(cnn_size)
    ratio = max(f_width / f_size, f_height / f_size)
    resized_height, resized_width = f_height / ratio, f_width / ratio
    top = max(0, int(np.floor((f_size - resized_height) / np.float32(2))))
    left = max(0, int(np.floor((f_size - resized_width) / np.float32(2))))
    ocr_height, ocr_width = height, width
    if ocr_max_side and max(height, width) > ocr_max_side:
        scale = ocr_max_side / max(height, width)
        ocr_height, ocr_width = round(height * scale), round(width * scale)
    return np.array([np.floor(resized_height), np.floor(resized_width), top, left, cnn_size, cnn_size,
                     ocr_height, ocr_width, height, width], dtype=np.int32)


def _prepare_ops(image, sizes):
    """RGB uint8 image -> (CNN input float32 0..255, padded square; OCR grey uint8), as TF ops."""
    tf = tensorflow()
    resized = tf.image.resize(tf.cast(image, tf.float32), sizes[0:2], antialias=True)
    cnn_input = tf.image.pad_to_bounding_box(resized, sizes[2], sizes[3], sizes[4], sizes[5])
    grey = tf.image.rgb_to_grayscale(image)
    grey = tf.cond(tf.reduce_all(tf.shape(grey)[:2] == sizes[6:8]), lambda: grey,
                   lambda: tf.cast(tf.round(tf.image.resize(grey, sizes[6:8], antialias=True)), tf.uint8))
    return cnn_input, grey[..., 0]


_GRAPHS = {}


def _graph(name: str):
    """'decode': (bytes, sizes) -> prepared, for what tf.io reads; 'prepare': (RGB image, sizes)."""
    tf = tensorflow()
    if not _GRAPHS:
        sizes = tf.TensorSpec([10], tf.int32)

        @tf.function(input_signature=[tf.TensorSpec([], tf.string), sizes])
        def decode(data, sizes):
            image = tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)
            check = tf.debugging.assert_equal(tf.shape(image)[:2], sizes[8:10], message=SIZE_MISMATCH)
            with tf.control_dependencies([check]):
                return _prepare_ops(image, sizes)

        @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8), sizes])
        def prepare(image, sizes):
            return _prepare_ops(image, sizes)
        _GRAPHS.update(decode=decode, prepare=prepare)
        atexit.register(_GRAPHS.clear)  # freed before TensorFlow's modules are torn down, not after
    return _GRAPHS[name]


def decode_and_prepare(data: bytes, width: int, height: int, cnn_size: int, ocr_max_side: int):
    """Image bytes and their header's size -> (CNN input, OCR grey) as numpy arrays, in one graph
    call. WebP and TIFF (tensorflow-io), and images whose header disagrees with their pixels, are
    decoded op by op and then prepared in the second graph."""
    tf = tensorflow()
    if sniff_image_format(data) not in ('webp', 'tiff', None):
        try:
            cnn_input, grey = _graph('decode')(data, _sizes(height, width, cnn_size, ocr_max_side))
            return cnn_input.numpy(), grey.numpy()
        except tf.errors.InvalidArgumentError as error:
            if SIZE_MISMATCH not in str(error):
                raise
    image = decode_rgb(data)
    sizes = _sizes(int(image.shape[0]), int(image.shape[1]), cnn_size, ocr_max_side)
    cnn_input, grey = _graph('prepare')(image, sizes)
    return cnn_input.numpy(), grey.numpy()


class TooManyPixels(ValueError):
    """An image whose header announces more pixels than the limit (a decompression bomb, or just huge)."""


def decode_failure(error: Exception) -> Failure:
    """A decode failure whose reason starts with its kind: 'pixel limit: ...' or 'undecodable: ...'."""
    kind = 'pixel limit' if isinstance(error, TooManyPixels) else 'undecodable'
    message = re.sub(r'\{\{function_node [^}]*\}\}\s*', '', str(error))  # TensorFlow's graph-node prefix
    detail = f'{type(error).__name__}: {message}'.replace('\n', ' ')
    return Failure('decode', f'{kind}: {detail}'[:500])


class PreprocessBatchFn(beam.DoFn):
    """list[FetchedImage] -> DecodedImage each, or (link, Failure) on FAILED; and for every
    image, decoded or not, (link, ImageFacts) on FACTS so its rows know where it came from."""

    def __init__(self, max_pixels: int, ocr_max_side: int, cnn_size: int = CNN_INPUT_SIZE):
        self.max_pixels = max_pixels
        self.ocr_max_side = ocr_max_side
        self.cnn_size = cnn_size
        self.decoded = beam.metrics.Metrics.counter('Preprocess', 'images_decoded')
        self.failures = beam.metrics.Metrics.counter('Preprocess', 'decode_failures')

    def process(self, batch):
        for fetched in batch:
            started = time.perf_counter()
            try:
                decoded = self._decode(fetched, started)
            except Exception as error:
                self.failures.inc()
                yield beam.pvalue.TaggedOutput(FAILED, (fetched.link, decode_failure(error)))
                facts = ImageFacts(fetched.link, fetched.source, 0, 0, fetched.seconds,
                                   time.perf_counter() - started, fetched.sha256)
                yield beam.pvalue.TaggedOutput(FACTS, (fetched.link, facts))
                continue
            self.decoded.inc()
            yield beam.pvalue.TaggedOutput(FACTS, (fetched.link, decoded.facts))
            yield decoded

    def _decode(self, fetched: FetchedImage, started: float) -> DecodedImage:
        width, height = header_size(fetched.data)
        if width * height > self.max_pixels:
            raise TooManyPixels(f'{width}x{height} image exceeds the limit of {self.max_pixels} pixels')
        cnn_input, ocr_image = decode_and_prepare(fetched.data, width, height, self.cnn_size, self.ocr_max_side)
        facts = ImageFacts(fetched.link, fetched.source, width, height, fetched.seconds,
                           time.perf_counter() - started, fetched.sha256)
        return DecodedImage(facts, cnn_input, ocr_image)


class Preprocess(beam.PTransform):
    """PCollection[FetchedImage] -> DecodedImage (main), (link, Failure) (tag FAILED) and
    (link, ImageFacts) (tag FACTS)."""

    def __init__(self, config: PreprocessConfig):
        super().__init__()
        self.batch_size = config.batch_size
        self.fn = PreprocessBatchFn(config.max_pixels, config.ocr_max_side)

    def expand(self, images):
        return (images
                | 'BatchImages' >> beam.BatchElements(min_batch_size=1, max_batch_size=self.batch_size)
                | 'Decode' >> beam.ParDo(self.fn).with_outputs(FAILED, FACTS, main=DECODED))
