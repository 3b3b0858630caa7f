"""WriteOutputs: sharded Parquet of every RowResult, failures as JSON lines, predictions.csv and
confidence.csv.

predictions.csv (the challenge's index,prediction) and confidence.csv (index,prediction,
confidence: the chooser's value before --min_confidence and its calibrated confidence) must
list every input index in input order, so one small line per row is gathered in one place and
both files are written from it: for the 131k-row challenge CSV that is a few megabytes. Each is
written under a temporary name and renamed, so a reader never sees half a file.
"""
import csv
import io
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.files import write_whole
from transforms.records import RECORD_SCHEMA, RowResult

PREDICTIONS_FILE = 'predictions.csv'
CONFIDENCE_FILE = 'confidence.csv'
RECORDS_DIR = 'records'
FAILURES_DIR = 'failures'


def output_line(result: RowResult) -> tuple:
    """What the two CSVs need of a row: (ordinal, index, prediction, chosen, confidence)."""
    return result.ordinal, result.index, result.prediction, result.chosen, result.confidence


def predictions_csv(lines) -> str:
    """output_line tuples -> predictions.csv's text, in input order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(('index', 'prediction'))
    for _, index, prediction, *_ in sorted(lines):
        writer.writerow((index, prediction))
    return out.getvalue()


def confidence_csv(lines) -> str:
    """output_line tuples -> confidence.csv's text, in input order: every prediction the chooser
    made (also those --min_confidence held back) with its confidence, 4 decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(('index', 'prediction', 'confidence'))
    for _, index, _, chosen, confidence in sorted(lines):
        writer.writerow((index, chosen, f'{confidence if chosen else 0.0:.4f}'))
    return out.getvalue()


def failure_json(result: RowResult) -> str:
    return json.dumps({'index': result.index, 'image_link': result.image_link,
                       'entity_name': result.entity_name, 'stage': result.failure_stage,
                       'reason': result.failure_reason}, ensure_ascii=False)


class WritePredictionsFn(beam.DoFn):
    """The gathered output_line list -> predictions.csv and confidence.csv in `output`; yields
    their paths."""

    def __init__(self, output: str):
        self.output = output
        self.rows_written = beam.metrics.Metrics.counter('WriteOutputs', 'prediction_rows_written')

    def process(self, lines):
        for name, render in ((PREDICTIONS_FILE, predictions_csv), (CONFIDENCE_FILE, confidence_csv)):
            path = FileSystems.join(self.output, name)
            write_whole(path, render(lines).encode('utf-8'))
            yield path
        self.rows_written.inc(len(lines))


class WriteOutputs(beam.PTransform):
    """PCollection[RowResult] -> records/*.parquet, failures/*.jsonl, predictions.csv and confidence.csv."""

    def __init__(self, output: str, num_shards: int):
        super().__init__()
        self.output = output
        self.num_shards = num_shards

    def expand(self, results):
        records = (results
                   | 'ToRecord' >> beam.Map(RowResult.to_record)
                   | 'WriteRecords' >> beam.io.WriteToParquet(
                       FileSystems.join(self.output, RECORDS_DIR, 'part'), RECORD_SCHEMA,
                       file_name_suffix='.parquet', num_shards=self.num_shards))
        failures = (results
                    | 'KeepFailures' >> beam.Filter(lambda result: bool(result.failure_stage))
                    | 'FailureToJson' >> beam.Map(failure_json)
                    | 'WriteFailures' >> beam.io.WriteToText(
                        FileSystems.join(self.output, FAILURES_DIR, 'part'), file_name_suffix='.jsonl',
                        num_shards=self.num_shards))
        predictions = (results
                       | 'PredictionLine' >> beam.Map(output_line)
                       | 'GatherPredictions' >> beam.combiners.ToList()
                       | 'WritePredictions' >> beam.ParDo(WritePredictionsFn(self.output)))
        return {'records': records, 'failures': failures, 'predictions': predictions}
