"""ReadText: words with boxes and confidences for every image, from the engines --ocr_engine names.

The engines (transforms/logic/engines.py) share one interface; this stage opens them once per
worker, reads each decoded image with each, and marks the words that stand beside a
drawing's dimension lines (transforms/logic/lines.py). Each word records the engine that read it.
"""
import time
from dataclasses import dataclass

import apache_beam as beam

from transforms.logic.engines import ENGINES, PaddleReader, TesseractReader
from transforms.logic.lines import mark_dimension_lines
from transforms.records import FAILED, OCR, Failure, OcrResult


@dataclass(frozen=True)
class OcrConfig:
    """--ocr_engine, --ocr_psm and the --ppocr_* sizes (pipeline/options.py owns the defaults)."""
    engine: str
    psm: int
    detection_side: int
    min_side: int
    retry_side: int


def make_readers(config: OcrConfig) -> tuple:
    """The readers behind --ocr_engine (transforms/logic/engines.py's ENGINES)."""
    if config.engine not in ENGINES:
        raise ValueError(f'unknown OCR engine {config.engine!r}: choose one of {", ".join(ENGINES)}')
    engine = ENGINES[config.engine]
    readers = (TesseractReader(config.psm),) if engine.tesseract else ()
    if engine.paddle:
        readers += (PaddleReader(engine.paddle, config.detection_side, config.min_side, config.retry_side,
                                 engine.detector, engine.recheck),)
    return readers


class OcrFn(beam.DoFn):
    """DecodedImage -> (link, OcrResult) with every reader's words, or (link, Failure) on FAILED."""

    def __init__(self, readers: tuple):
        self.readers = readers
        self.images = beam.metrics.Metrics.counter('ReadText', 'images_read')
        self.failures = beam.metrics.Metrics.counter('ReadText', 'ocr_failures')
        self.words = beam.metrics.Metrics.counter('ReadText', 'words_found')

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
        yield link, OcrResult(words, time.perf_counter() - started, decoded.facts.image_sha256)


class ReadText(beam.PTransform):
    """PCollection[DecodedImage] -> {OCR: (link, OcrResult), FAILED: (link, Failure)}."""

    def __init__(self, config: OcrConfig):
        super().__init__()
        self.fn = OcrFn(make_readers(config))

    def expand(self, decoded):
        read = decoded | 'Read' >> beam.ParDo(self.fn).with_outputs(FAILED, main=OCR)
        return {OCR: read[OCR], FAILED: read[FAILED]}
