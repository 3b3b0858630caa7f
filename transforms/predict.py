"""PredictRows: bring each row together with what was learned about its image, and choose.

Each chosen value gets its calibrated confidence (transforms/confidence.py); one under
--min_confidence is held back: blank in predictions.csv, kept as `chosen` in the record.

Images are fetched, decoded, embedded and read once per link; this step joins those results
back to every row that names the link (CoGroupByKey on the link) and runs the chooser for the
row's entity. An image that failed anywhere gives each of its rows that failure.
"""
import logging
import time
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.annotate import annotate, annotated_name
from transforms.candidates import find_candidates
from transforms.choose import CHOOSER_PATH, choose, load_model
from transforms.confidence import row_confidence
from transforms.priors import load_priors
from transforms.records import STAGES, Failure, RejectedRow, RowResult

ROWS, FACTS, OCR, EMBEDDING, FAILURES, IMAGE = 'rows', 'facts', 'ocr', 'embedding', 'failures', 'image'


def rejected_result(rejected: RejectedRow) -> RowResult:
    """A row that never got past ReadRows: in the outputs with its reason, no prediction."""
    return RowResult(rejected.ordinal, rejected.index, rejected.image_link, rejected.group_id,
                     rejected.entity_name, '', failure_stage=rejected.failure.stage,
                     failure_reason=rejected.failure.reason)


def _first_failure(failures) -> Failure:
    return min(failures, key=lambda f: STAGES.index(f.stage))


class PredictRowsFn(beam.DoFn):
    """(link, {rows, facts, ocr, embedding, failures}) -> RowResult for each row of the link."""

    def __init__(self, chooser: str = 'learned', annotate_dir: Optional[str] = None, ocr_max_side: int = 4000,
                 blank_when_unread: bool = False, min_confidence: float = 0.0):
        self.chooser = chooser
        self.blank_when_unread = blank_when_unread
        self.min_confidence = min_confidence
        self.annotate_dir = annotate_dir
        self.ocr_max_side = ocr_max_side
        self.annotated = beam.metrics.Metrics.counter('PredictRows', 'images_annotated')
        self.predicted = beam.metrics.Metrics.counter('PredictRows', 'rows_predicted')
        self.no_candidate = beam.metrics.Metrics.counter('PredictRows', 'rows_without_candidate')
        self.failed = beam.metrics.Metrics.counter('PredictRows', 'rows_failed')
        self.held_back = beam.metrics.Metrics.counter('PredictRows', 'rows_held_back_below_min_confidence')

    def setup(self):
        self.priors = load_priors()
        # the learned model and its calibration give every row its confidence, whichever chooser chose
        self.confidence_model = load_model() if CHOOSER_PATH.exists() else None
        self.model = self.confidence_model if self.chooser == 'learned' else None

    def process(self, element):
        link, joined = element
        facts = next(iter(joined[FACTS]), None)
        ocr = next(iter(joined[OCR]), None)
        embedding = next(iter(joined[EMBEDDING]), None)
        failures = list(joined[FAILURES])
        image = {}
        if facts:
            image.update(image_source=facts.source, image_width=facts.width, image_height=facts.height,
                         fetch_seconds=facts.fetch_seconds, decode_seconds=facts.decode_seconds)
        if ocr:
            image.update(ocr_text=ocr.text, ocr_words=ocr.words, ocr_seconds=ocr.seconds)
        if embedding:
            image.update(embedding=embedding.vector, inference_seconds=embedding.seconds)
        if failures:
            failure = _first_failure(failures)
            image.update(failure_stage=failure.stage, failure_reason=failure.reason)
        image_bytes = next(iter(joined.get(IMAGE, ())), b'')
        for row in joined[ROWS]:
            result = self._predict(row, image, ocr)
            if self.annotate_dir:
                self._annotate(image_bytes, result)
            yield result

    def _annotate(self, image_bytes: bytes, result: RowResult) -> None:
        """Best effort: a picture for people that cannot be written costs a log line, not the row."""
        try:
            with FileSystems.create(FileSystems.join(self.annotate_dir, annotated_name(result))) as handle:
                handle.write(annotate(image_bytes, result, ocr_max_side=self.ocr_max_side))
            self.annotated.inc()
        except Exception as error:
            logging.warning('specscan: no annotated image for row %s: %s', result.index, error)

    def _predict(self, row, image: dict, ocr) -> RowResult:
        fields = dict(ordinal=row.ordinal, index=row.index, image_link=row.image_link,
                      group_id=row.group_id, entity_name=row.entity_name, **image)
        if ocr is None:
            self.failed.inc()
            return RowResult(prediction='', **fields)
        started = time.perf_counter()
        try:
            scored = find_candidates(ocr.words, row.entity_name, row.group_id, image.get('image_width', 0),
                                     image.get('image_height', 0), self.priors)
            prediction, candidates = choose(scored, row.entity_name, row.group_id, self.priors, self.model,
                                            guess_usual_value=not self.blank_when_unread)
        except Exception as error:  # a parser bug costs one row, not the job
            self.failed.inc()
            failure = Failure.from_error('choose', error)
            fields.update(failure_stage=failure.stage, failure_reason=failure.reason)
            return RowResult(prediction='', **fields)
        confidence = row_confidence(candidates, prediction, row.entity_name, self.confidence_model,
                                    scored if self.model is None else ())
        kept = prediction if confidence >= self.min_confidence else ''
        (self.predicted if kept else self.held_back if prediction else self.no_candidate).inc()
        return RowResult(prediction=kept, confidence=confidence, chosen=prediction, candidates=candidates,
                         choose_seconds=time.perf_counter() - started, **fields)


class PredictRows(beam.PTransform):
    """Dict of keyed PCollections (ROWS, FACTS, OCR, EMBEDDING, FAILURES, and IMAGE bytes when
    annotating) -> RowResult; with `annotate_dir`, each row's annotated image is written there."""

    def __init__(self, chooser: str = 'learned', annotate_dir: Optional[str] = None, ocr_max_side: int = 4000,
                 blank_when_unread: bool = False, min_confidence: float = 0.0):
        super().__init__()
        self.fn = PredictRowsFn(chooser, annotate_dir, ocr_max_side, blank_when_unread, min_confidence)

    def expand(self, keyed):
        return (keyed
                | 'JoinByLink' >> beam.CoGroupByKey()
                | 'Choose' >> beam.ParDo(self.fn))
