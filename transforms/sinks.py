"""Sinks: sharded Parquet of every RowResult, failures as JSON lines, and predictions.csv.

predictions.csv must list every input index in input order, so all (ordinal, index,
prediction) triples are gathered in one place and written as one file: for the 131k-row
challenge CSV that is a few megabytes. It is written under a temporary name and renamed,
so a reader never sees half a file.
"""
import csv
import io
import json

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.records import RECORD_SCHEMA, RowResult

PREDICTIONS_FILE = 'predictions.csv'
RECORDS_DIR = 'records'
FAILURES_DIR = 'failures'


def predictions_csv(rows) -> str:
    """(ordinal, index, prediction) triples -> the CSV text, in input order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(('index', 'prediction'))
    for _, index, prediction in sorted(rows):
        writer.writerow((index, prediction))
    return out.getvalue()


def failure_json(result: RowResult) -> str:
    return json.dumps({'index': result.index, 'image_link': result.image_link,
                       'entity_name': result.entity_name, 'stage': result.failure_stage,
                       'reason': result.failure_reason}, ensure_ascii=False)


def write_file_atomically(path: str, text: str) -> None:
    temporary = path + '.tmp'
    with FileSystems.create(temporary) as handle:
        handle.write(text.encode('utf-8'))
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([temporary], [path])


class WritePredictionsFn(beam.DoFn):
    """The gathered (ordinal, index, prediction) list -> predictions.csv; yields its path."""

    def __init__(self, path: str):
        self.path = path
        self.rows_written = beam.metrics.Metrics.counter('WriteOutputs', 'prediction_rows_written')

    def process(self, rows):
        write_file_atomically(self.path, predictions_csv(rows))
        self.rows_written.inc(len(rows))
        yield self.path


class WriteOutputs(beam.PTransform):
    """PCollection[RowResult] -> records/*.parquet, failures/*.jsonl and predictions.csv."""

    def __init__(self, output: str, num_shards: int = 0):
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
                       | 'PredictionLine' >> beam.Map(lambda r: (r.ordinal, r.index, r.prediction))
                       | 'GatherPredictions' >> beam.combiners.ToList()
                       | 'WritePredictions' >> beam.ParDo(
                           WritePredictionsFn(FileSystems.join(self.output, PREDICTIONS_FILE))))
        return {'records': records, 'failures': failures, 'predictions': predictions}
