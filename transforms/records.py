"""The typed records that cross each stage boundary, and the Parquet schema derived from them.

One dataclass per boundary keeps steps honest about what they hand on (no `x[0]` indexing
across steps); `RowResult` is the only record that becomes a dict, at the sinks, through
`arrow_schema`, so the Parquet layout can never drift from the record type.
"""
import dataclasses
import typing
from typing import Tuple

import pyarrow as pa


def record(cls):
    """A frozen dataclass that pickles its field values by position, without their names.

    Beam's local runner and Dataflow's shuffle hold every (link, record) between stages as the
    record's pickle (FastPrimitivesCoder falls back to pickle for classes it does not know), and
    a dataclass pickles a dict of field names and values: for an ImageFacts the names were a
    quarter of its bytes, for a RowResult a half. Held for every row of a catalogue in the join,
    that is memory (bench/memory_scale.py)."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    names = tuple(field.name for field in dataclasses.fields(cls))
    cls.__reduce__ = lambda self: (cls, tuple(getattr(self, name) for name in names))
    return cls


# Stages a failure can come from, in pipeline order.
STAGES = ('read', 'fetch', 'decode', 'inference', 'ocr', 'choose')

# What is learned about each image travels as (link, record) on one of these streams, named
# once: every stage puts its failures on FAILED as (link, Failure), Preprocess its ImageFacts on
# FACTS, ReadText its OcrResult on OCR, Embed its Embedding on EMBEDDING. The result store
# (Recall, Remember) keeps the first three as READING and hands them back by the same names;
# Candidates joins them to their rows by them.
FACTS, OCR, EMBEDDING, FAILED = 'facts', 'ocr', 'embedding', 'failed'
READING = (FACTS, OCR, EMBEDDING)
IMAGE_STREAMS = READING + (FAILED,)
# The main outputs: ReadRows' Rows, FetchImages' FetchedImages, Preprocess' DecodedImages.
ROWS, IMAGES, DECODED = 'rows', 'images', 'decoded'
# ReadRows' rows that are no Row (a malformed line, an unknown entity: RejectedRow); the links
# SpreadNewLinks deals out evenly; the RowResults Annotate draws.
REJECTED, NEW_LINKS, RESULTS = 'rejected', 'new_links', 'results'


@record
class Row:
    """One validated input row. `ordinal` is its position among the CSV's data rows: output order."""
    ordinal: int
    index: str
    image_link: str
    group_id: str
    entity_name: str


@record
class Failure:
    """Why a row or an image got no prediction; rows with a failure still reach predictions.csv."""
    stage: str
    reason: str

    @classmethod
    def from_error(cls, stage: str, error: BaseException) -> 'Failure':
        """The exception's type and message on one line, short enough for a record."""
        return cls(stage, f'{type(error).__name__}: {error}'.replace('\n', ' ')[:500])


@record
class RejectedRow:
    """A CSV row that failed validation: kept so that it still appears in every output."""
    ordinal: int
    index: str
    image_link: str
    group_id: str
    entity_name: str
    failure: Failure


@record
class FetchedImage:
    link: str
    data: bytes          # empty when the bytes were not needed: a 304, or a link --resume trusts
    source: str          # 'cache', 'network', or 'store' (--resume: not fetched again)
    seconds: float
    sha256: str = ''     # of the bytes: the image's key in the result store
    reading_from_store: typing.Any = None  # its Reading from the result store (logic/store_entries.py), if there


@record
class ImageFacts:
    """What the rows of an image need to know about it besides OCR and the embedding."""
    link: str
    source: str
    width: int
    height: int
    fetch_seconds: float
    decode_seconds: float
    image_sha256: str = ''   # of its bytes: its key in the result store
    from_store: bool = False  # its reading came from the result store, not from decoding it now


@record
class DecodedImage:
    """An image ready for both branches: the CNN tensor and the OCR-ready grey image."""
    facts: ImageFacts
    cnn_input: typing.Any    # np.ndarray (size, size, 3) float32, RGB 0..255
    ocr_image: typing.Any    # np.ndarray (H, W) uint8, full resolution up to --ocr_max_side


@record
class Embedding:
    vector: Tuple[float, ...]
    seconds: float           # the image's share of its inference batch
    image_sha256: str = ''   # of the bytes it was computed from: its key in the result store


@record
class OcrWord:
    text: str
    left: int
    top: int
    width: int
    height: int
    confidence: float        # 0..100 (Tesseract's scale; RapidOCR's 0..1 is scaled to it)
    line: int                # words with the same number sit on one text line
    engine: str = 'tesseract'  # 'tesseract', or the PP-OCR engine: 'rapidocr' (v4), 'ppocrv6', ...
    vertical: bool = False   # read from text that runs up or down the image
    line_beside: bool = False  # a long vertical line runs beside it (transforms/logic/lines.py)
    line_over: bool = False    # a long horizontal line runs above or below it
    angle: float = 0.0       # the direction its text runs, degrees counter-clockwise from left-to-right
                             # (90: printed bottom to top, -90: top to bottom; Tesseract's are all 0)
    line_slanted: bool = False  # a long slanted line (a perspective drawing's depth) runs within reach


@record
class OcrResult:
    words: Tuple[OcrWord, ...]
    seconds: float
    image_sha256: str = ''   # of the bytes it was read from: its key in the result store

    @property
    def text(self) -> str:
        lines = {}
        for word in self.words:
            lines.setdefault(word.line, []).append(word.text)
        return '\n'.join(' '.join(words) for _, words in sorted(lines.items()))


@record
class Candidate:
    """A quantity found in the OCR text, with where it was and how the chooser rated it."""
    value: float
    unit: str
    text: str
    left: int
    top: int
    width: int
    height: int
    allowed: bool            # is the unit allowed for the row's entity?
    score: float             # the chooser's score (learned: probability of being right)
    engine: str = ''
    confidence: float = 0.0
    vertical: bool = False
    group: str = 'single'    # 'single', 'range', 'dimensions' (see transforms/logic/units.py), 'bare' (no unit
                             # printed) or 'glued' (a unit run on into letters: '200gpack'; both see
                             # transforms/logic/features.py) or 'usual' (read nowhere: the product
                             # group's usual value, see transforms/logic/chooser.py)
    group_position: int = 0
    group_size: int = 1
    prominence: float = 0.0  # text size over the largest text size in the image
    keyword: bool = False    # an entity keyword stands next to it on its line
    repeats: int = 0         # other readings of the same value and unit in the image
    plausible: bool = True   # training labels of the entity come near this value (transforms/logic/priors.py)


@record
class RowResult:
    """Everything learned about one input row: a line of predictions.csv and a Parquet record."""
    ordinal: int
    index: str
    image_link: str
    group_id: str
    entity_name: str
    prediction: str          # as in predictions.csv: blank under --min_confidence
    confidence: float = 0.0  # calibrated probability that `chosen` is right (transforms/logic/confidence.py)
    chosen: str = ''         # the chooser's value, before --min_confidence (as in confidence.csv)
    image_source: str = ''
    image_sha256: str = ''
    from_store: bool = False  # the image's reading was taken from the result store (--store, --resume)
    image_width: int = 0
    image_height: int = 0
    ocr_text: str = ''
    ocr_words: Tuple[OcrWord, ...] = ()
    candidates: Tuple[Candidate, ...] = ()
    embedding: Tuple[float, ...] = ()
    fetch_seconds: float = 0.0
    decode_seconds: float = 0.0
    inference_seconds: float = 0.0
    ocr_seconds: float = 0.0
    choose_seconds: float = 0.0
    failure_stage: str = ''
    failure_reason: str = ''

    def to_record(self) -> dict:
        return dataclasses.asdict(self)


_SCALARS = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


def _arrow_type(hint) -> pa.DataType:
    if hint in _SCALARS:
        return _SCALARS[hint]
    if typing.get_origin(hint) in (tuple, list):
        item = typing.get_args(hint)[0]
        return pa.list_(pa.float32() if item is float else _arrow_type(item))
    if dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return pa.struct([(f.name, _arrow_type(hints[f.name])) for f in dataclasses.fields(hint)])
    raise TypeError(f'no Arrow type for {hint!r}')


def arrow_schema(record_type) -> pa.Schema:
    """The Parquet schema of a record dataclass (lists of floats are stored as float32)."""
    hints = typing.get_type_hints(record_type)
    return pa.schema([(f.name, _arrow_type(hints[f.name])) for f in dataclasses.fields(record_type)])


RECORD_SCHEMA = arrow_schema(RowResult)
