"""RunFolder: what a run keeps in order under --output before and after its job.

Before: an earlier run's shards, predictions.csv, confidence.csv and summary.json are removed
(they would mix with this run's, or pass for them while it works or if it fails), the run notes
when it started (what --resume goes on from keeps the note of the run it resumes, and trusts
the links that run fetched), and the result store gets its VERSION.json. After: the run's own
store goes (the outputs hold it all), the start note too, and summary.json is written.
"""
import json
import time
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from pipeline.options import RUN_STORE_DIR, JobConfig, SpecscanOptions, job_config
from pipeline.summary import SUMMARY_FILE, summarize, write_summary
from transforms.files import Store, delete_folder, newest_entry_time, write_whole
from transforms.write_outputs import CONFIDENCE_FILE, FAILURES_DIR, PREDICTIONS_FILE, RECORDS_DIR

# Written when a run starts and removed when it ends: when the run that --resume goes on from started.
RUN_STARTED_FILE = 'run-started.json'
CLOCK_SLACK_SECONDS = 60.0  # workers' clocks may lag the launcher's a little


class RunFolder:
    """The --output folder of one run: `prepare()` before the job, `finish(result)` after it."""

    def __init__(self, options: SpecscanOptions, clock=time.time):
        self.options = options
        self.output = options.output
        self.clock = clock
        self.started: Optional[float] = None

    def prepare(self) -> JobConfig:
        """Clear what an earlier run left, note the start, and -> the job's config (its store's
        VERSION.json written)."""
        clear_earlier_outputs(self.output, self.options.resume)
        config = job_config(self.options, trust_links_since=self._note_start())
        Store(config.store).write_version_file()
        self.started = self.clock()
        return config

    def finish(self, config: JobConfig, corrupt_entries: Optional[int]) -> dict:
        """The run's own store and start note removed, summary.json written; -> the summary."""
        finished = self.clock()
        # the newest entry of the run's own store is about when the last image was read (a --store is
        # too large to list for it)
        last_image = None if self.options.store else newest_entry_time(config.store.root)
        if not self.options.store:
            remove_run_store(self.output)
        FileSystems.delete([FileSystems.join(self.output, RUN_STARTED_FILE)])
        summary = summarize(self.output, wall_seconds=finished - self.started, corrupt_entries=corrupt_entries,
                            seconds_after_last_image=finished - last_image if last_image else None,
                            options=self.options)
        write_summary(self.output, summary)
        return summary

    def _note_start(self) -> Optional[float]:
        """Note when this run started, or keep the note of the run it resumes; -> since when the links
        the store says were fetched are trusted without asking their servers (None: not resuming)."""
        path = FileSystems.join(self.output, RUN_STARTED_FILE)
        if self.options.resume and FileSystems.exists(path):
            with FileSystems.open(path) as handle:
                return json.loads(handle.read())['started'] - CLOCK_SLACK_SECONDS
        write_whole(path, json.dumps({'started': self.clock()}).encode('utf-8'))
        return None


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
    """Remove what an earlier run left under `output` before this one writes there. A resumed run
    keeps the store of the run it goes on from."""
    clear_folders(output, (RECORDS_DIR, FAILURES_DIR))
    names = (PREDICTIONS_FILE, CONFIDENCE_FILE, SUMMARY_FILE) + (() if resume else (RUN_STARTED_FILE,))
    earlier = [path for path in (FileSystems.join(output, name) for name in names)
               if FileSystems.exists(path)]
    if earlier:
        FileSystems.delete(earlier)
    if not resume:
        remove_run_store(output)
