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
from typing import Optional

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import DirectOptions, GoogleCloudOptions, PipelineOptions, StandardOptions
from apache_beam.runners.runner import PipelineState

from pipeline import progress
from pipeline.arguments import UnknownOption, check_pipeline_flags
from pipeline.graph import Specscan
from pipeline.options import RENAMED, REQUIRED_OPTIONS, RUN_STORE_DIR, SpecscanOptions, quiet_workers
from pipeline.run_folder import RunFolder
from transforms import worker_exit
from transforms.files import model_exists
from transforms.logic.chooser import CHOOSER_PATH
from transforms.read_rows import check_header, parse_csv_text, read_csv_file, read_header

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
    if not options.skip_cnn and not model_exists(options.model_path):
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


def run(argv=None, test_pipeline=None) -> dict:
    """Run the job and return its summary (also printed and written as summary.json): parse and
    check the arguments, prepare the output folder, build and run the pipeline, summarise."""
    pipeline_options = parse(sys.argv[1:] if argv is None else argv)
    options = pipeline_options.view_as(SpecscanOptions)
    check_arguments(options)
    folder = RunFolder(options)
    config = folder.prepare()
    pipeline = test_pipeline or beam.Pipeline(options=pipeline_options)
    local = LocalRun(pipeline_options, in_test=test_pipeline is not None)
    with local.running(options) as progress_folder:
        pipeline | 'Specscan' >> Specscan(config, progress_folder)
        result = pipeline.run()
        state = result.wait_until_finish()
    if only_submitted(pipeline_options, result, state):
        return {'state': str(state), 'text': f'specscan: job submitted ({state}); when it is done, '
                                             f'python -m pipeline.summary --output {options.output}'}
    return folder.finish(config, corrupt_entries(result))


def parse(argv) -> PipelineOptions:
    """The job's options; UsageError on a flag no option takes. `--runner DaskRunner` is ours
    (Beam's drops data: pipeline/dask_runner.py), and workers do not warn about specscan's flags."""
    try:
        check_pipeline_flags(argv)
    except UnknownOption as error:
        raise UsageError(str(error)) from None
    for old, new in RENAMED.items():
        if any(argument.split('=', 1)[0] == f'--{old}' for argument in argv):
            print(f'specscan: --{old} is now --{new} (it governs every PP-OCR engine); the old name goes in the '
                  f'next release', file=sys.stderr)
    pipeline_options = PipelineOptions(argv)
    standard = pipeline_options.view_as(StandardOptions)
    if standard.runner == 'DaskRunner':
        standard.runner = 'pipeline.dask_runner.DaskRunner'
    quiet_workers(pipeline_options)
    return pipeline_options


def only_submitted(pipeline_options: PipelineOptions, result, state) -> bool:
    """A Flex Template launcher only writes the job graph (template_location; no job yet), and other
    runners may submit and return: the outputs appear when the job ends, `pipeline.summary` reads them."""
    return bool(pipeline_options.view_as(GoogleCloudOptions).template_location
                or getattr(result, 'has_job', True) is False or state not in (None, PipelineState.DONE))


class LocalRun:
    """What only a run on this machine does: a progress line, and worker processes that exit fast."""

    def __init__(self, pipeline_options: PipelineOptions, in_test: bool):
        runner = pipeline_options.view_as(StandardOptions).runner
        self.local = not in_test and runner in (None, 'DirectRunner', 'direct')
        self.multi_processing = (self.local and pipeline_options.view_as(DirectOptions).direct_running_mode
                                 == 'multi_processing')

    @contextlib.contextmanager
    def running(self, options: SpecscanOptions):
        """-> the folder workers mark finished images in (None when no progress is shown), while the
        watcher tails it and local workers may exit without Python's unloading."""
        watched = self.local and not options.quiet
        with tempfile.TemporaryDirectory(prefix='specscan-progress-') as progress_folder, \
                watch_progress(options, progress_folder, enabled=watched), \
                worker_exit.for_local_workers(direct_multi_processing=self.multi_processing):
            yield progress_folder if watched else None


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
