"""OCR: words with boxes and confidences from Tesseract, one engine per DoFn.

Tesseract runs through pytesseract (a subprocess per image). OMP_THREAD_LIMIT=1 is set in
setup(): with OpenMP free, Tesseract takes several cores per call and, next to other worker
processes, runs slower, not faster (0.32 s instead of 0.18 s per image on 2 busy cores).
"""
import os
import time

import apache_beam as beam

from transforms.records import Failure, OcrResult, OcrWord

FAILED = 'failed'


def words_from_tesseract(data: dict) -> tuple:
    """pytesseract's image_to_data dict -> OcrWord tuple, empty and non-word boxes dropped."""
    words = []
    for i, text in enumerate(data['text']):
        text = (text or '').strip()
        confidence = float(data['conf'][i])
        if not text or confidence < 0:
            continue
        line = (int(data['block_num'][i]) * 1000 + int(data['par_num'][i])) * 1000 + int(data['line_num'][i])
        words.append(OcrWord(text, int(data['left'][i]), int(data['top'][i]), int(data['width'][i]),
                             int(data['height'][i]), confidence, line))
    return tuple(words)


class TesseractFn(beam.DoFn):
    """DecodedImage -> (link, OcrResult), or (link, Failure) on FAILED."""

    def __init__(self, psm: int = 11, timeout: float = 60.0):
        self.psm = psm
        self.timeout = timeout
        self.images = beam.metrics.Metrics.counter('Ocr', 'images_read')
        self.failures = beam.metrics.Metrics.counter('Ocr', 'ocr_failures')
        self.words = beam.metrics.Metrics.counter('Ocr', 'words_found')

    def setup(self):
        os.environ['OMP_THREAD_LIMIT'] = '1'
        import pytesseract
        self.tesseract = pytesseract
        self.tesseract.get_tesseract_version()  # fail early and clearly when the binary is missing

    def process(self, decoded):
        link = decoded.facts.link
        started = time.perf_counter()
        try:
            data = self.tesseract.image_to_data(
                decoded.ocr_image, config=f'--psm {self.psm}', timeout=self.timeout,
                output_type=self.tesseract.Output.DICT)
        except Exception as error:
            self.failures.inc()
            yield beam.pvalue.TaggedOutput(FAILED, (link, Failure.from_error('ocr', error)))
            return
        words = words_from_tesseract(data)
        self.images.inc()
        self.words.inc(len(words))
        yield link, OcrResult(words, time.perf_counter() - started)


class Ocr(beam.PTransform):
    """PCollection[DecodedImage] -> (link, OcrResult) (main) and (link, Failure) (tag FAILED)."""

    def __init__(self, psm: int = 11):
        super().__init__()
        self.fn = TesseractFn(psm)

    def expand(self, decoded):
        return decoded | 'Tesseract' >> beam.ParDo(self.fn).with_outputs(FAILED, main='words')
