"""Candidates: each row with what was learned about its image, and the quantities read there for its entity.

Images are fetched, decoded, embedded and read once per link; this stage joins those results
back to every row that names the link (CoGroupByKey on the link) and finds, for the row's
entity, every quantity in the words read (transforms/logic/features.py). An image that failed
anywhere gives each of its rows that failure.
"""
import dataclasses
import time
from dataclasses import dataclass
from typing import Optional, Tuple

import apache_beam as beam

from transforms.logic.features import Scored, find_candidates
from transforms.logic.priors import load_priors
from transforms.records import EMBEDDING, FACTS, FAILED, IMAGE_STREAMS, OCR, ROWS, STAGES, Failure, RowResult


@dataclass(frozen=True)
class RowCandidates:
    """A row's record so far (no prediction yet) and its scored candidates; `scored` is None when
    there is nothing to choose from: its image was not read, or finding the candidates failed."""
    result: RowResult
    scored: Optional[Tuple[Scored, ...]]
    seconds: float = 0.0


def first_failure(failures) -> Failure:
    """The earliest stage's failure: what the row's record reports."""
    return min(failures, key=lambda f: STAGES.index(f.stage))


def image_fields(joined: dict) -> dict:
    """The RowResult fields every row of an image shares, from its joined per-image streams."""
    facts = next(iter(joined[FACTS]), None)
    ocr = next(iter(joined[OCR]), None)
    embedding = next(iter(joined[EMBEDDING]), None)
    failures = list(joined[FAILED])
    fields = {}
    if facts:
        fields.update(image_source=facts.source, image_sha256=facts.image_sha256, from_store=facts.from_store,
                      image_width=facts.width, image_height=facts.height,
                      fetch_seconds=facts.fetch_seconds, decode_seconds=facts.decode_seconds)
    if ocr:
        fields.update(ocr_text=ocr.text, ocr_words=ocr.words, ocr_seconds=ocr.seconds)
    if embedding:
        fields.update(embedding=embedding.vector, inference_seconds=embedding.seconds)
    if failures:
        failure = first_failure(failures)
        fields.update(failure_stage=failure.stage, failure_reason=failure.reason)
    return fields


class FindCandidatesFn(beam.DoFn):
    """(link, {ROWS, FACTS, OCR, EMBEDDING, FAILED}) -> RowCandidates for each row of the link."""

    def __init__(self):
        self.failed = beam.metrics.Metrics.counter('Candidates', 'rows_failed')

    def setup(self):
        self.priors = load_priors()

    def process(self, element):
        _, joined = element
        fields = image_fields(joined)
        ocr = next(iter(joined[OCR]), None)
        for row in joined[ROWS]:
            result = RowResult(ordinal=row.ordinal, index=row.index, image_link=row.image_link,
                               group_id=row.group_id, entity_name=row.entity_name, prediction='', **fields)
            if ocr is None:
                self.failed.inc()
                yield RowCandidates(result, None)
                continue
            started = time.perf_counter()
            try:
                scored = find_candidates(ocr.words, row.entity_name, row.group_id, result.image_width,
                                         result.image_height, self.priors)
            except Exception as error:  # a parser bug costs one row, not the job
                self.failed.inc()
                failure = Failure.from_error('choose', error)
                yield RowCandidates(dataclasses.replace(result, failure_stage=failure.stage,
                                                        failure_reason=failure.reason), None)
                continue
            yield RowCandidates(result, tuple(scored), time.perf_counter() - started)


def merge_parts(link, joined: dict):
    """(link, {(kind, i): values}) -> (link, {kind: values of all its parts})."""
    merged = {}
    for (kind, _), values in joined.items():
        merged.setdefault(kind, []).extend(values)
    return link, merged


class Candidates(beam.PTransform):
    """{ROWS: Row, FACTS, OCR, EMBEDDING, FAILED: (link, record)} -> RowCandidates, one per row.

    A kind may come as a tuple of PCollections (what the result store held and what this run
    read): each part joins as its own input of the CoGroupByKey. A Flatten first would make the
    local runner hold a second copy of every image's reading in memory (it stores what a Flatten
    hands to a ParDo, while a CoGroupByKey's inputs go straight into its grouping)."""

    def expand(self, streams):
        keyed = {(ROWS, 0): streams[ROWS] | 'KeyRowsByLink' >> beam.Map(lambda row: (row.image_link, row))}
        for kind in IMAGE_STREAMS:
            parts = streams[kind] if isinstance(streams[kind], tuple) else (streams[kind],)
            keyed.update({(kind, i): part for i, part in enumerate(parts)})
        return (keyed
                | 'JoinByLink' >> beam.CoGroupByKey()
                | 'MergeParts' >> beam.MapTuple(merge_parts)
                | 'Find' >> beam.ParDo(FindCandidatesFn()))
