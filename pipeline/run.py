"""specscan's main job: CSV of product-image rows in; predictions, records and failures out.

    python -m pipeline.run --input rows.csv --output out/ [--images_dir images/] [beam options]

`run(argv, test_pipeline)` builds and runs the pipeline; tests pass their own TestPipeline.
"""
import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from pipeline import progress
from pipeline.graph import Specscan
from pipeline.options import REQUIRED_OPTIONS, SpecscanOptions, job_config, quiet_workers
from pipeline.summary import SUMMARY_FILE, summarize, write_summary
from transforms import checkpoint
from transforms.choose import CHOOSER_PATH
from transforms.read import check_header, parse_csv_text, read_csv_file, read_header
from transforms.sinks import CONFIDENCE_FILE, FAILURES_DIR, PREDICTIONS_FILE, RECORDS_DIR


class UsageError(Exception):
    """A problem with the job's arguments that stops it before any work: one clear line."""


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
    if not 0.0 <= options.min_confidence <= 1.0:
        raise UsageError(f'--min_confidence {options.min_confidence} is not a probability: give 0 to 1')
    if options.min_confidence > 0 and not CHOOSER_PATH.exists():
        raise UsageError(f'--min_confidence needs the confidences of the learned chooser {CHOOSER_PATH}, which is '
                         'missing: run `make train`')
    if options.chooser == 'learned' and not CHOOSER_PATH.exists():
        raise UsageError(f'the learned chooser {CHOOSER_PATH} is missing: run `make train`, or use --chooser rules')
    if not options.skip_cnn and not FileSystems.exists(options.model_path):
        raise UsageError(f'--model_path {options.model_path} does not exist: run `make model`')
    for name in ('output', 'annotate_dir'):
        folder = getattr(options, name)
        if not folder:
            continue
        probe = FileSystems.join(folder, '.write-probe')
        try:
            with FileSystems.create(probe) as handle:
                handle.write(b'ok')
            FileSystems.delete([probe])
        except Exception as error:
            raise UsageError(f'--{name} {folder} is not writable: {error}') from error


def clear_folders(output: str, folders) -> None:
    """Remove the files in these folders under `output` (shards of an earlier run would mix with this one's)."""
    for folder in folders:
        matches = FileSystems.match([FileSystems.join(output, folder, '*')])[0].metadata_list
        if matches:
            FileSystems.delete([m.path for m in matches])


def clear_earlier_outputs(output: str, resume: bool) -> None:
    """Remove what an earlier run left under `output` before this one writes there: its shards
    would mix with this run's, and its predictions.csv, confidence.csv and summary.json would pass for this
    run's while it works or if it fails. A resumed run keeps its checkpoint."""
    clear_folders(output, (RECORDS_DIR, FAILURES_DIR) if resume else
                  (RECORDS_DIR, FAILURES_DIR, checkpoint.CHECKPOINT_DIR))
    names = (PREDICTIONS_FILE, CONFIDENCE_FILE, SUMMARY_FILE)
    earlier = [path for path in (FileSystems.join(output, name) for name in names)
               if FileSystems.exists(path)]
    if earlier:
        FileSystems.delete(earlier)


def run(argv=None, test_pipeline=None) -> dict:
    """Run the job and return its summary (also printed and written as summary.json)."""
    pipeline_options = PipelineOptions(argv)
    if pipeline_options.view_as(StandardOptions).runner == 'DaskRunner':  # Beam's drops data; pipeline/dask_runner.py
        pipeline_options.view_as(StandardOptions).runner = 'pipeline.dask_runner.DaskRunner'
    options = pipeline_options.view_as(SpecscanOptions)
    quiet_workers(pipeline_options)
    check_arguments(options)
    checkpoint_dir = FileSystems.join(options.output, checkpoint.CHECKPOINT_DIR)
    saved = checkpoint.scan(checkpoint_dir) if options.resume else None
    clear_earlier_outputs(options.output, options.resume)
    started = time.time()
    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options)
    runner = pipeline_options.view_as(StandardOptions).runner
    watched = test_pipeline is None and runner in (None, 'DirectRunner', 'direct') and not options.quiet
    with tempfile.TemporaryDirectory(prefix='specscan-progress-') as progress_folder:
        pipeline | 'Specscan' >> Specscan(job_config(options), saved, progress_folder if watched else None)
        with watch_progress(options, progress_folder, saved, enabled=watched):
            result = pipeline.run()
            state = result.wait_until_finish()
    # A Flex Template launcher only writes the job graph (template_location; no job yet), and other
    # runners may submit and return: the outputs appear when the job ends, `pipeline.summary` reads them
    only_submitted = (pipeline_options.view_as(GoogleCloudOptions).template_location
                      or getattr(result, 'has_job', True) is False)
    if only_submitted or state not in (None, PipelineState.DONE):
        return {'state': str(state), 'text': f'specscan: job submitted ({state}); when it is done, '
                                             f'python -m pipeline.summary --output {options.output}'}
    finished = time.time()
    last_image = checkpoint.last_saved(checkpoint_dir)
    clear_folders(options.output, (checkpoint.CHECKPOINT_DIR,))  # the outputs now hold it all
    summary = summarize(options.output, wall_seconds=finished - started,
                        images_resumed=len(saved.done) if saved else 0,
                        seconds_after_last_image=finished - last_image if last_image else None, options=options)
    write_summary(options.output, summary)
    return summary


def watch_progress(options: SpecscanOptions, folder: str, saved, enabled: bool):
    """A progress watcher for a local run (a do-nothing context otherwise)."""
    if not enabled:
        return contextlib.nullcontext()
    rows = list(parse_csv_text(read_csv_file(options.input)))
    return progress.ProgressWatcher(folder, progress.rows_per_link(rows), len(rows),
                                    already_done=saved.done if saved else (), log_every=options.progress_every)


def print_help() -> None:
    parser = argparse.ArgumentParser(
        prog=sys.argv[0] if sys.argv[0].startswith('specscan') else 'python -m pipeline.run',
        description=__doc__.split('\n\n')[0],
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


def exit_without_teardown(exit_code: int) -> None:
    """The end of `python -m pipeline.run` and `specscan run`, once every output is written and closed.

    With --direct_running_mode multi_processing the runner's gRPC threads sometimes abort the
    interpreter's shutdown ("terminate called without an active exception", exit code 134, about
    1 run in 7 on a busy 2-core machine), which would turn a finished job into a failed one for
    schedulers: leave without that teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


if __name__ == '__main__':
    exit_without_teardown(main())
