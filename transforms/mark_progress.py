"""MarkProgress: each worker marks the images it has finished, for a local run's progress line.

Rows are joined to their image's results only after every image has been read, so progress is
counted in images: each worker process (also with --direct_running_mode multi_processing)
appends the links it has finished to its own file in a local folder, which the launching
process tails (pipeline/progress.py). On Dataflow the step counters are the progress instead.
"""
import os
import time
import uuid

import apache_beam as beam

# The marks of images read by this run and of images whose reading the result store held; other
# streams (failures) are marked under their own names and count as done.
READ, FROM_STORE = 'Read', 'FromStore'


class MarkDoneFn(beam.DoFn):
    """(link, anything) -> the link appended to this process's file for `name` in `folder` (a local path)."""

    FLUSH_SECONDS = 0.5

    def __init__(self, folder: str, name: str = READ):
        self.folder = folder
        self.name = name

    def setup(self):
        self.handle = open(os.path.join(self.folder, f'{os.getpid()}-{uuid.uuid4().hex}.{self.name}.links'), 'a')
        self.last_flush = time.monotonic()

    def process(self, element):
        self.handle.write(element[0].replace('\n', ' ') + '\n')
        if time.monotonic() - self.last_flush > self.FLUSH_SECONDS:
            self.handle.flush()
            self.last_flush = time.monotonic()

    def finish_bundle(self):
        self.handle.flush()

    def teardown(self):
        self.handle.close()


class MarkProgress(beam.PTransform):
    """Streams of (link, anything) -> each link marked done in `folder` (a local path).

    Each stream is marked where it is made: a Flatten first would wait for all of them."""

    def __init__(self, folder: str):
        super().__init__()
        self.folder = folder

    def expand(self, streams):
        return [stream | f'Mark{name}' >> beam.ParDo(MarkDoneFn(self.folder, name))
                for name, stream in streams.items()]
