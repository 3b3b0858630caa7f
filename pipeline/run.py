"""specscan's main job: CSV of product-image rows in; predictions, records and failures out.

    python -m pipeline.run --input rows.csv --output out/ [--images_dir images/] [beam options]

`run(argv, test_pipeline)` builds and runs the pipeline; tests pass their own TestPipeline.
"""
import argparse
import logging
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.options import REQUIRED_OPTIONS, SpecscanOptions
from pipeline.summary import summarize, write_summary
from transforms import features, fetch, ocr, preprocess
from transforms.choose import CHOOSER_PATH
from transforms.predict import EMBEDDING, FACTS, FAILURES, OCR, ROWS, PredictRows, rejected_result
from transforms.read import REJECTED, ReadRows, check_header, read_header
from transforms.sinks import FAILURES_DIR, RECORDS_DIR, WriteOutputs


class UsageError(Exception):
    """A problem with the job's arguments that stops it before any work: one clear line."""


def build(pipeline: beam.Pipeline, options: SpecscanOptions) -> beam.PCollection:
    """Connect the named stages (the work is in the transforms' DoFns); returns every RowResult."""
    read = pipeline | 'ReadRows' >> ReadRows(options.input)
    keyed_rows = read['rows'] | 'KeyRowsByLink' >> beam.Map(lambda row: (row.image_link, row))
    links = keyed_rows | 'Links' >> beam.Keys() | 'DistinctLinks' >> beam.Distinct()
    fetched = links | 'FetchImages' >> fetch.FetchImages(
        options.images_dir, options.fetch_timeout, options.fetch_retries, options.max_image_bytes)
    decoded = fetched.images | 'Preprocess' >> preprocess.Preprocess(
        options.preprocess_batch_size, options.max_image_pixels, options.ocr_max_side)
    cnn = decoded.decoded | 'CnnFeatures' >> features.CnnFeatures(
        options.model_path, options.inference_min_batch_size, options.inference_max_batch_size)
    words = decoded.decoded | 'Ocr' >> ocr.Ocr(
        options.ocr_engine, options.ocr_psm, options.rapidocr_detection_side, options.rapidocr_min_side,
        options.rapidocr_retry_side)
    image_failures = ((fetched[fetch.FAILED], decoded[preprocess.FAILED], cnn[features.FAILED],
                       words[ocr.FAILED])
                      | 'ImageFailures' >> beam.Flatten())
    per_link = {ROWS: keyed_rows, FACTS: decoded[preprocess.FACTS], OCR: words.words,
                EMBEDDING: cnn[features.EMBEDDINGS], FAILURES: image_failures}
    predicted = per_link | 'PredictRows' >> PredictRows(options.chooser)
    rejected = read[REJECTED] | 'RejectedRows' >> beam.Map(rejected_result)
    results = (predicted, rejected) | 'AllRows' >> beam.Flatten()
    results | 'WriteOutputs' >> WriteOutputs(options.output, options.num_shards)
    return results


def check_arguments(options: SpecscanOptions) -> None:
    """Fail before starting on what would otherwise fail deep inside the job."""
    for name in REQUIRED_OPTIONS:
        if not getattr(options, name):
            raise UsageError(f'--{name} is required (python -m pipeline.run --help lists every option)')
    if not FileSystems.exists(options.input):
        raise UsageError(f'--input {options.input} does not exist')
    try:
        header = read_header(options.input)
    except Exception as error:
        raise UsageError(f'--input {options.input} cannot be read: {error}') from error
    try:
        check_header(header)
    except ValueError as error:
        raise UsageError(f'--input {options.input}: {error}') from error
    if options.chooser == 'learned' and not CHOOSER_PATH.exists():
        raise UsageError(f'the learned chooser {CHOOSER_PATH} is missing: run `make train`, or use --chooser rules')
    if not FileSystems.exists(options.model_path):
        raise UsageError(f'--model_path {options.model_path} does not exist: run `make model`')
    probe = FileSystems.join(options.output, '.write-probe')
    try:
        with FileSystems.create(probe) as handle:
            handle.write(b'ok')
        FileSystems.delete([probe])
    except Exception as error:
        raise UsageError(f'--output {options.output} is not writable: {error}') from error


def clear_earlier_outputs(output: str) -> None:
    """Shards of an earlier run would mix with this run's: remove them."""
    for folder in (RECORDS_DIR, FAILURES_DIR):
        matches = FileSystems.match([FileSystems.join(output, folder, '*')])[0].metadata_list
        if matches:
            FileSystems.delete([m.path for m in matches])


def run(argv=None, test_pipeline=None) -> dict:
    """Run the job and return its summary (also printed and written as summary.json)."""
    pipeline_options = PipelineOptions(argv)
    options = pipeline_options.view_as(SpecscanOptions)
    check_arguments(options)
    clear_earlier_outputs(options.output)
    started = time.time()
    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options)
    build(pipeline, options)
    pipeline.run().wait_until_finish()
    summary = summarize(options.output, wall_seconds=time.time() - started)
    write_summary(options.output, summary)
    return summary


def print_help() -> None:
    parser = argparse.ArgumentParser(
        prog='python -m pipeline.run', description=__doc__.split('\n\n')[0],
        epilog='Beam\'s own options (--runner, --direct_num_workers, --direct_running_mode, '
               'Dataflow\'s --project, --region, --temp_location, ...) are accepted too.')
    SpecscanOptions._add_argparse_args(parser)
    parser.print_help()


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if '-h' in argv or '--help' in argv:
        print_help()
        return 0
    logging.getLogger().setLevel(logging.WARNING)
    try:
        summary = run(argv)
    except UsageError as error:
        print(f'specscan: {error}', file=sys.stderr)
        return 2
    print(summary['text'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
