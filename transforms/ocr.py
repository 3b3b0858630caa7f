"""ReadText: words with boxes and confidences for every image, from the engines --ocr_engine names.

The engines (transforms/engines.py) share one interface; this stage opens them once per
worker, reads each decoded image with each, and marks the words that stand beside a
drawing's dimension lines (transforms/lines.py). Each word records the engine that read it.
"""
import time

import apache_beam as beam

from transforms.engines import PADDLE_ENGINES, PaddleReader, TesseractReader
from transforms.lines import mark_dimension_lines
from transforms.records import Failure, OcrResult

FAILED = 'failed'

# 'both': Tesseract's and PP-OCRv4's words together; 'none': no text read (fetch and decode only)
ENGINES = ('tesseract',) + PADDLE_ENGINES + ('both', 'none')


def make_readers(engine: str, psm: int = 11, detection_side: int = 960, min_side: int = 1000,
                 retry_side: int = 1600) -> tuple:
    """The readers behind --ocr_engine."""
    if engine not in ENGINES:
        raise ValueError(f'unknown OCR engine {engine!r}: choose one of {", ".join(ENGINES)}')
    readers = ()
    if engine in ('tesseract', 'both'):
        readers += (TesseractReader(psm),)
    if engine in PADDLE_ENGINES or engine == 'both':
        readers += (PaddleReader('rapidocr' if engine == 'both' else engine, detection_side, min_side, retry_side),)
    return readers


class OcrFn(beam.DoFn):
    """DecodedImage -> (link, OcrResult) with every reader's words, or (link, Failure) on FAILED."""

    def __init__(self, readers: tuple):
        self.readers = readers
        self.images = beam.metrics.Metrics.counter('Ocr', 'images_read')
        self.failures = beam.metrics.Metrics.counter('Ocr', 'ocr_failures')
        self.words = beam.metrics.Metrics.counter('Ocr', 'words_found')

    def setup(self):
        for reader in self.readers:
            reader.setup()

    def process(self, decoded):
        link = decoded.facts.link
        started = time.perf_counter()
        words = ()
        try:
            for reader in self.readers:
                words += reader.read(decoded.ocr_image)
            words = mark_dimension_lines(words, decoded.ocr_image)
        except Exception as error:
            self.failures.inc()
            yield beam.pvalue.TaggedOutput(FAILED, (link, Failure.from_error('ocr', error)))
            return
        self.images.inc()
        self.words.inc(len(words))
        yield link, OcrResult(words, time.perf_counter() - started)


def TesseractFn(psm: int = 11, timeout: float = 60.0) -> OcrFn:
    """OcrFn with Tesseract alone."""
    return OcrFn((TesseractReader(psm, timeout),))


class Ocr(beam.PTransform):
    """PCollection[DecodedImage] -> (link, OcrResult) (main) and (link, Failure) (tag FAILED)."""

    def __init__(self, engine: str = 'ppocrv6', psm: int = 11, detection_side: int = 960, min_side: int = 1000,
                 retry_side: int = 1600):
        super().__init__()
        self.fn = OcrFn(make_readers(engine, psm, detection_side, min_side, retry_side))

    def expand(self, decoded):
        return decoded | 'ReadText' >> beam.ParDo(self.fn).with_outputs(FAILED, main='words')
