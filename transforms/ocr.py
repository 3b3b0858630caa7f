"""OCR: words with boxes and confidences from Tesseract, RapidOCR or both (--ocr_engine).

Tesseract runs through pytesseract (a subprocess per image). OMP_THREAD_LIMIT=1 is set in
setup(): with OpenMP free, Tesseract takes several cores per call and, next to other worker
processes, runs slower, not faster (0.32 s instead of 0.18 s per image on 2 busy cores).
RapidOCR (PP-OCRv4 detection, direction and recognition models inside its wheel) reads more
of what product images print, small and sideways text included; onnxruntime gets one thread
per process for the same reason. Each word records the engine that read it.

RapidOCR's setup also tells glibc's malloc to keep freed memory (keep_freed_memory): by
default it hands every freed block over 128 kB straight back to the kernel, and onnxruntime
and OpenCV allocate and free such buffers for every text box, so each image faulted its
buffers in anew and about 30% of the OCR stage's CPU time was the kernel's.
"""
import ctypes
import os
import time

import apache_beam as beam

from transforms.lines import mark_dimension_lines
from transforms.records import Failure, OcrResult, OcrWord
from transforms.units import find_quantities

FAILED = 'failed'


# glibc mallopt parameters, and what keep_freed_memory sets them to
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
MALLOC_SETTINGS = ((M_MMAP_THRESHOLD, 2_000_000_000),  # no block is mmapped and unmapped on its own
                   (M_TRIM_THRESHOLD, 512 * 1024 * 1024),  # the heap is trimmed only past 512 MiB free
                   (M_TOP_PAD, 64 * 1024 * 1024))  # and grows 64 MiB at a time


def keep_freed_memory() -> bool:
    """Let this process's malloc reuse freed memory instead of returning it to the kernel at
    once (glibc; elsewhere nothing happens and False comes back). A dev run took about 20% less
    CPU time in all (system time 200 s -> 45 s), its largest process 0.6 GiB more at its peak."""
    try:
        mallopt = ctypes.CDLL('libc.so.6').mallopt
    except (OSError, AttributeError):
        return False
    return all([mallopt(parameter, value) == 1 for parameter, value in MALLOC_SETTINGS])


# RapidOCR turns a text box at least this much taller than wide on its side before reading it.
VERTICAL_RATIO = 1.5
# Lines of RapidOCR boxes are numbered from here, so they never meet Tesseract's line numbers.
RAPIDOCR_LINES = 10 ** 9


def words_from_rapidocr(result) -> tuple:
    """RapidOCR's [(box corners, text, score), ...] -> OcrWord tuple, one word per text box.

    RapidOCR reads whole lines; boxes whose vertical middles lie within each other's height
    get one line number, so 'Net Wt' and '500 g' read as one line when printed apart.
    """
    boxes = []
    for corners, text, score in result or ():
        text = (text or '').strip()
        if not text:
            continue
        xs, ys = [p[0] for p in corners], [p[1] for p in corners]
        left, top = int(round(min(xs))), int(round(min(ys)))
        width, height = max(1, int(round(max(xs))) - left), max(1, int(round(max(ys))) - top)
        boxes.append((text, left, top, width, height, float(score), height >= VERTICAL_RATIO * width))
    lines, line_of = [], []
    for text, left, top, width, height, score, vertical in boxes:
        middle = top + height / 2
        for number, (line_middle, line_height) in enumerate(lines):
            if not vertical and abs(middle - line_middle) < min(height, line_height) / 2:
                line_of.append(number)
                break
        else:
            line_of.append(len(lines))
            lines.append((middle, height) if not vertical else (float('nan'), 0))
    return tuple(OcrWord(text, left, top, width, height, round(score * 100, 2), RAPIDOCR_LINES + line,
                         'rapidocr', vertical)
                 for (text, left, top, width, height, score, vertical), line in zip(boxes, line_of))


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


class TesseractReader:
    """Tesseract through pytesseract (a subprocess per image): fast, weaker on small text."""
    name = 'tesseract'

    def __init__(self, psm: int = 11, timeout: float = 60.0):
        self.psm = psm
        self.timeout = timeout

    def setup(self):
        os.environ['OMP_THREAD_LIMIT'] = '1'
        import pytesseract
        self.tesseract = pytesseract
        self.tesseract.get_tesseract_version()  # fail early and clearly when the binary is missing

    def read(self, image) -> tuple:
        data = self.tesseract.image_to_data(image, config=f'--psm {self.psm}', timeout=self.timeout,
                                            output_type=self.tesseract.Output.DICT)
        return words_from_tesseract(data)


def limit_detection_side(engine, side: int) -> None:
    """Run RapidOCR's text detector on a copy whose long side is at most `side` pixels
    (set before each pass: the second pass detects on a larger copy).

    RapidOCR detects on the whole image up to 2000 px (1.1 s of its 1.6 s per dev image) and
    offers no setting below that for large images; the recogniser still reads each box from
    the full-resolution image, so small text stays readable. On a 64-image dev sample, 960 px
    put the truth's number in the text of as many rows as full size, at 0.62 s instead of 1.79 s.
    """
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
    detector = engine.text_det
    detector.get_preprocess = lambda longest: DetPreProcess(
        min(side, longest), 'max', detector.mean, detector.std)


def upscale_small(image, min_side: int):
    """A copy enlarged (bicubic) so its long side is min_side, when it is shorter.

    A third of the dev images are 500 px or less, and their small print is a few pixels
    high: on the dev rows RapidOCR missed at native size, enlarging to 1000 px put the
    truth's number in the text of 16 more of 154 rows for 0.06 s per image.
    """
    import cv2
    height, width = image.shape[:2]
    if not min_side or max(height, width) >= min_side:
        return image
    scale = min_side / max(height, width)
    return cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_CUBIC)


class RapidOcrReader:
    """RapidOCR (PP-OCRv4 ONNX models from its wheel), one onnxruntime thread per process.
    Word boxes are in the coordinates of the image it was given, not of the enlarged copy."""
    name = 'rapidocr'

    def __init__(self, detection_side: int = 960, min_side: int = 1000, retry_side: int = 1600):
        self.detection_side = detection_side
        self.min_side = min_side
        self.retry_side = retry_side

    def setup(self):
        import cv2
        from rapidocr_onnxruntime import RapidOCR
        cv2.setNumThreads(1)  # one worker process per core: OpenCV's own pool would oversubscribe
        keep_freed_memory()
        self.engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def read(self, image) -> tuple:
        """The words of one pass; when they hold no quantity at all, those of a second pass
        that detects on a larger copy (small print on large images), if it finds more."""
        words = self._read(image, self.detection_side, self.min_side)
        if self.retry_side and not find_quantities([w.text for w in words]):
            retry = self._read(image, self.retry_side, self.retry_side)
            if find_quantities([w.text for w in retry]):
                return retry
        return words

    def _read(self, image, detection_side: int, min_side: int) -> tuple:
        if detection_side:
            limit_detection_side(self.engine, detection_side)
        else:
            self.engine.text_det.__dict__.pop('get_preprocess', None)  # RapidOCR's own sizes
        enlarged = upscale_small(image, min_side)
        result, _ = self.engine(enlarged)
        scale = image.shape[0] / enlarged.shape[0]
        if scale != 1.0 and result:
            result = [([[x * scale, y * scale] for x, y in corners], text, score)
                      for corners, text, score in result]
        return words_from_rapidocr(result)


ENGINES = ('tesseract', 'rapidocr', 'both', 'none')  # none: no text read (fetch and decode only)


def make_readers(engine: str, psm: int = 11, detection_side: int = 960, min_side: int = 1000,
                 retry_side: int = 1600) -> tuple:
    """The readers behind --ocr_engine."""
    if engine not in ENGINES:
        raise ValueError(f'unknown OCR engine {engine!r}: choose one of {", ".join(ENGINES)}')
    readers = ()
    if engine in ('tesseract', 'both'):
        readers += (TesseractReader(psm),)
    if engine in ('rapidocr', 'both'):
        readers += (RapidOcrReader(detection_side, min_side, retry_side),)
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

    def __init__(self, engine: str = 'rapidocr', psm: int = 11, detection_side: int = 960, min_side: int = 1000,
                 retry_side: int = 1600):
        super().__init__()
        self.fn = OcrFn(make_readers(engine, psm, detection_side, min_side, retry_side))

    def expand(self, decoded):
        return decoded | 'ReadText' >> beam.ParDo(self.fn).with_outputs(FAILED, main='words')
