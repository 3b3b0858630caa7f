"""Choose: each row's value among its candidates (transforms/logic/chooser.py), with its confidence.

Each chosen value gets its calibrated confidence on the truth --confidence_truth names
(transforms/logic/confidence.py); one under --min_confidence is held back: blank in predictions.csv, kept as `chosen` in the record.
"""
import dataclasses
import time
from dataclasses import dataclass

import apache_beam as beam

from transforms import worker_exit
from transforms.candidates import RowCandidates
from transforms.logic.chooser import CHOOSER_PATH, choose, load_model
from transforms.logic.confidence import row_confidence
from transforms.logic.priors import load_priors
from transforms.records import Failure


@dataclass(frozen=True)
class ChooseConfig:
    """--chooser, --blank_when_unread, --min_confidence and --confidence_truth (pipeline/options.py
    owns the defaults)."""
    chooser: str
    blank_when_unread: bool
    min_confidence: float
    truth: str


class ChooseFn(beam.DoFn):
    """RowCandidates -> RowResult with its prediction, confidence and candidates."""

    def __init__(self, config: ChooseConfig):
        self.config = config
        self.predicted, self.no_candidate, self.failed, self.held_back = (
            beam.metrics.Metrics.counter('Choose', name) for name in
            ('rows_predicted', 'rows_without_candidate', 'rows_failed', 'rows_held_back_below_min_confidence'))

    def setup(self):
        worker_exit.exit_fast_when_done()
        self.priors = load_priors()
        # the learned model and its calibration give every row its confidence, whichever chooser chose
        self.confidence_model = load_model() if CHOOSER_PATH.exists() else None
        self.model = self.confidence_model if self.config.chooser == 'learned' else None

    def process(self, row: RowCandidates):
        if row.scored is None:  # not read, or its candidates could not be found: counted there
            yield row.result
            return
        result, scored = row.result, list(row.scored)
        started = time.perf_counter()
        try:
            prediction, candidates = choose(scored, result.entity_name, result.group_id, self.priors, self.model,
                                            guess_usual_value=not self.config.blank_when_unread)
        except Exception as error:  # a chooser bug costs one row, not the job
            self.failed.inc()
            failure = Failure.from_error('choose', error)
            yield dataclasses.replace(result, failure_stage=failure.stage, failure_reason=failure.reason)
            return
        confidence = row_confidence(candidates, prediction, result.entity_name, self.confidence_model, scored,
                                    rescore=self.model is None, truth=self.config.truth)
        kept = prediction if confidence >= self.config.min_confidence else ''
        (self.predicted if kept else self.held_back if prediction else self.no_candidate).inc()
        yield dataclasses.replace(result, prediction=kept, confidence=confidence, chosen=prediction,
                                  candidates=candidates,
                                  choose_seconds=row.seconds + time.perf_counter() - started)


class Choose(beam.PTransform):
    """PCollection[RowCandidates] -> RowResult."""

    def __init__(self, config: ChooseConfig):
        super().__init__()
        self.config = config

    def expand(self, rows):
        return rows | 'Choose' >> beam.ParDo(ChooseFn(self.config))
