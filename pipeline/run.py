"""specscan's main job: CSV of product-image rows in; predictions, records and failures out.

    python -m pipeline.run --input rows.csv --output out/ [--images_dir images/] [beam options]

`run(argv, test_pipeline)` builds and runs the pipeline; tests pass their own TestPipeline.
"""
import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, GoogleCloudOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from pipeline import progress
from pipeline.graph import Specscan
from pipeline.options import RUN_STORE_DIR, REQUIRED_OPTIONS, SpecscanOptions, job_config, quiet_workers
from pipeline.summary import SUMMARY_FILE, summarize, write_summary
from transforms import worker_exit
from transforms.choose import CHOOSER_PATH
from transforms.read import check_header, parse_csv_text, read_csv_file, read_header
from transforms.sinks import CONFIDENCE_FILE, FAILURES_DIR, PREDICTIONS_FILE, RECORDS_DIR
from transforms.sinks import write_whole
from transforms.store import Store, delete_folder, newest_entry_time, version_parts

# Written when a run starts and removed when it ends: when the run that --resume goes on from started.
RUN_STARTED_FILE = 'run-started.json'
CLOCK_SLACK_SECONDS = 60.0  # workers' clocks may lag the launcher's a little


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
    if options.store and options.store.rstrip('/') == FileSystems.join(options.output, RUN_STORE_DIR).rstrip('/'):
        raise UsageError(f'--store {options.store} is the run\'s own store, which each run clears: keep a --store '
                         'outside --output')
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


def remove_run_store(output: str) -> None:
    """Remove the run's own store under --output (not a --store: that one is kept across runs)."""
    folder = FileSystems.join(output, RUN_STORE_DIR)
    if FileSystems.exists(folder):
        delete_folder(folder)


def clear_earlier_outputs(output: str, resume: bool) -> None:
    """Remove what an earlier run left under `output` before this one writes there: its shards
    would mix with this run's, and its predictions.csv, confidence.csv and summary.json would pass for this
    run's while it works or if it fails. A resumed run keeps the store of the run it goes on from."""
    clear_folders(output, (RECORDS_DIR, FAILURES_DIR))
    names = (PREDICTIONS_FILE, CONFIDENCE_FILE, SUMMARY_FILE) + (() if resume else (RUN_STARTED_FILE,))
    earlier = [path for path in (FileSystems.join(output, name) for name in names)
               if FileSystems.exists(path)]
    if earlier:
        FileSystems.delete(earlier)
    if not resume:
        remove_run_store(output)


def start_run(output: str, resume: bool) -> Optional[float]:
    """Note when this run started, or keep the note of the run it resumes; -> since when the links
    the store says were fetched are trusted without asking their servers (None: not resuming)."""
    path = FileSystems.join(output, RUN_STARTED_FILE)
    if resume and FileSystems.exists(path):
        with FileSystems.open(path) as handle:
            return json.loads(handle.read())['started'] - CLOCK_SLACK_SECONDS
    write_whole(path, json.dumps({'started': time.time()}).encode('utf-8'))
    return None


def run(argv=None, test_pipeline=None) -> dict:
    """Run the job and return its summary (also printed and written as summary.json)."""
    pipeline_options = PipelineOptions(argv)
    if pipeline_options.view_as(StandardOptions).runner == 'DaskRunner':  # Beam's drops data; pipeline/dask_runner.py
        pipeline_options.view_as(StandardOptions).runner = 'pipeline.dask_runner.DaskRunner'
    options = pipeline_options.view_as(SpecscanOptions)
    quiet_workers(pipeline_options)
    check_arguments(options)
    clear_earlier_outputs(options.output, options.resume)
    config = job_config(options, trust_links_since=start_run(options.output, options.resume))
    Store(config.store).write_version_file(version_parts(config.ocr, config.preprocess, config.embed))
    started = time.time()
    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options)
    runner = pipeline_options.view_as(StandardOptions).runner
    local = test_pipeline is None and runner in (None, 'DirectRunner', 'direct')
    watched = local and not options.quiet
    multi_processing = local and pipeline_options.view_as(DirectOptions).direct_running_mode == 'multi_processing'
    with tempfile.TemporaryDirectory(prefix='specscan-progress-') as progress_folder:
        pipeline | 'Specscan' >> Specscan(config, progress_folder if watched else None)
        with watch_progress(options, progress_folder, enabled=watched), \
                worker_exit.for_local_workers(direct_multi_processing=multi_processing):
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
    # the newest entry of the run's own store is about when the last image was read (a --store is
    # too large to list for it)
    last_image = None if options.store else newest_entry_time(config.store.root)
    if not options.store:
        remove_run_store(options.output)  # the outputs now hold it all
    FileSystems.delete([FileSystems.join(options.output, RUN_STARTED_FILE)])
    summary = summarize(options.output, wall_seconds=finished - started, corrupt_entries=corrupt_entries(result),
                        seconds_after_last_image=finished - last_image if last_image else None, options=options)
    write_summary(options.output, summary)
    return summary


def corrupt_entries(result) -> Optional[int]:
    """Store entries the run found corrupt and ignored, from the runner's counters (None where it keeps none)."""
    try:
        from apache_beam.metrics.metric import MetricsFilter
        counters = result.metrics().query(MetricsFilter().with_name('corrupt_entries_ignored'))['counters']
    except Exception:
        return None
    return sum(counter.committed or 0 for counter in counters)


def watch_progress(options: SpecscanOptions, folder: str, enabled: bool):
    """A progress watcher for a local run (a do-nothing context otherwise)."""
    if not enabled:
        return contextlib.nullcontext()
    rows = list(parse_csv_text(read_csv_file(options.input)))
    return progress.ProgressWatcher(folder, progress.rows_per_link(rows), len(rows), log_every=options.progress_every)


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
