"""Checkpoint: each image's results saved while the job runs, so `--resume` need not redo them.

Batch runners join an image's results to its rows only after every image has been read (the
join is a GroupByKey, a barrier), so the final outputs appear at the very end and a killed
run leaves none. The costly per-image results are therefore written as they are made, one
JSON-lines file per `every` images and per kind, under `--output/checkpoint/`, each through a
temporary name and a rename so that a file that exists is whole:

  facts-<id>.jsonl      (link, ImageFacts)   every fetched image, decoded or not
  ocr-<id>.jsonl        (link, OcrResult)    the words read
  embedding-<id>.jsonl  (link, Embedding)    the CNN vector, float32 in base64
  failed-<id>.jsonl     (link, Failure)      a failed decode, inference or OCR

The first line of a file lists its links, so a resuming job learns what is done by reading
one line per file. An image is done when its facts are saved and either a failure or both
its text and its vector; fetch failures are not done (the network may have recovered).
The folder is removed once the job's outputs are written.
"""
import base64
import dataclasses
import json
import time
import uuid
from typing import Dict, Optional, Set

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from transforms.records import (EMBEDDING, FACTS, FAILED, IMAGE_STREAMS, OCR, Embedding, Failure, ImageFacts,
                                OcrResult, OcrWord)
from transforms.sinks import write_file_atomically

CHECKPOINT_DIR = 'checkpoint'
KINDS = IMAGE_STREAMS
FLUSH_SECONDS = 30.0


def encode(kind: str, value) -> dict:
    """A record as JSON-ready data; a vector as base64 float32, exact and a quarter the size."""
    if kind == EMBEDDING:
        vector = np.asarray(value.vector, dtype='<f4').tobytes()
        return {'vector': base64.b64encode(vector).decode('ascii'), 'seconds': value.seconds}
    return dataclasses.asdict(value)


def decode(kind: str, data: dict):
    """The record `encode` saved, with the same type and values."""
    if kind == FACTS:
        return ImageFacts(**data)
    if kind == OCR:
        return OcrResult(tuple(OcrWord(**word) for word in data['words']), data['seconds'])
    if kind == EMBEDDING:
        vector = np.frombuffer(base64.b64decode(data['vector']), dtype='<f4')
        return Embedding(tuple(vector.tolist()), data['seconds'])
    if kind == FAILED:
        return Failure(**data)
    raise ValueError(f'unknown checkpoint kind {kind!r}')


def write_file(path: str, links_and_values) -> None:
    """One checkpoint file: the list of links, then a line per record; whole or absent."""
    lines = [json.dumps({'links': [link for link, _ in links_and_values]})]
    lines += [json.dumps({'link': link, 'value': value}) for link, value in links_and_values]
    write_file_atomically(path, '\n'.join(lines) + '\n')


def kind_of(path: str) -> str:
    return path.rsplit('/', 1)[-1].split('-', 1)[0]


@dataclasses.dataclass
class Saved:
    """What an earlier run saved: for each file, the links to take from it; and the done images."""
    files: Dict[str, Set[str]] = dataclasses.field(default_factory=dict)
    done: Set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Where the checkpoint files go (--output/checkpoint/) and --checkpoint_every."""
    folder: str
    every: int


def scan(folder: str) -> Saved:
    """Read the first line of every checkpoint file under `folder`; each (kind, link) from one file."""
    pattern = FileSystems.join(folder, '*.jsonl')
    paths = sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)
    first_file = {kind: {} for kind in KINDS}
    for path in paths:
        kind = kind_of(path)
        if kind not in first_file:
            continue
        with FileSystems.open(path) as handle:
            header = json.loads(handle.readline())
        for link in header['links']:
            first_file[kind].setdefault(link, path)
    facts, ocr, embedding, failed = (first_file[kind] for kind in (FACTS, OCR, EMBEDDING, FAILED))
    done = {link for link in facts if link in failed or (link in ocr and link in embedding)}
    files: Dict[str, Set[str]] = {}
    for kind in KINDS:
        for link, path in first_file[kind].items():
            if link in done:
                files.setdefault(path, set()).add(link)
    return Saved(files, done)


def last_saved(folder: str) -> Optional[float]:
    """When the newest checkpoint file was written (about when the last image was done), or None."""
    matches = FileSystems.match([FileSystems.join(folder, '*.jsonl')])[0].metadata_list
    return max((m.last_updated_in_seconds for m in matches), default=None)


class WriteCheckpointFn(beam.DoFn):
    """(link, record) -> written to `folder` every `every` records, every 30 s and at bundle end."""

    def __init__(self, folder: str, kind: str, every: int):
        self.folder = folder
        self.kind = kind
        self.every = max(1, every)
        self.saved = beam.metrics.Metrics.counter('Checkpoint', f'{kind}_saved')

    def start_bundle(self):
        self.buffer, self.last_flush = [], time.monotonic()

    def process(self, element):
        link, value = element
        self.buffer.append((link, encode(self.kind, value)))
        if len(self.buffer) >= self.every or time.monotonic() - self.last_flush > FLUSH_SECONDS:
            self._flush()

    def finish_bundle(self):
        self._flush()

    def _flush(self):
        if self.buffer:
            write_file(FileSystems.join(self.folder, f'{self.kind}-{uuid.uuid4().hex}.jsonl'), self.buffer)
            self.saved.inc(len(self.buffer))
        self.buffer, self.last_flush = [], time.monotonic()


class ReadCheckpointFn(beam.DoFn):
    """A checkpoint file's path -> (link, record) for the done images it holds, tagged by kind."""

    def __init__(self, files: Dict[str, Set[str]]):
        self.files = files

    def process(self, path: str):
        kind, wanted = kind_of(path), self.files[path]
        with FileSystems.open(path) as handle:
            handle.readline()
            for line in handle:
                record = json.loads(line)
                if record['link'] in wanted:
                    yield beam.pvalue.TaggedOutput(kind, (record['link'], decode(kind, record['value'])))


class SaveCheckpoint(beam.PTransform):
    """Dict kind -> PCollection[(link, record)] -> written under `folder`."""

    def __init__(self, folder: str, every: int):
        super().__init__()
        self.folder = folder
        self.every = every

    def expand(self, streams):
        return [streams[kind] | f'Save{kind.capitalize()}' >> beam.ParDo(
                    WriteCheckpointFn(self.folder, kind, self.every)) for kind in KINDS]


class ReadCheckpoint(beam.PTransform):
    """PBegin -> dict kind -> PCollection[(link, record)] of the done images an earlier run saved."""

    def __init__(self, saved: Saved):
        super().__init__()
        self.saved = saved

    def expand(self, pbegin):
        read = (pbegin
                | 'CheckpointFiles' >> beam.Create(sorted(self.saved.files))
                | 'ReadFiles' >> beam.ParDo(ReadCheckpointFn(self.saved.files)).with_outputs(*KINDS))
        return {kind: read[kind] for kind in KINDS}


class Checkpoint(beam.PTransform):
    """Dict kind -> PCollection[(link, record)] -> the same streams, saved under the folder as they
    pass, with what an earlier run saved (`saved`) added. Fetch failures are not saved: a resumed
    run tries those links again."""

    def __init__(self, config: CheckpointConfig, saved: Saved):
        super().__init__()
        self.config = config
        self.saved = saved

    def expand(self, streams):
        to_save = dict(streams, **{FAILED: streams[FAILED] | 'KeepImageFailures' >> beam.Filter(
            lambda failed: failed[1].stage != 'fetch')})
        to_save | 'Save' >> SaveCheckpoint(self.config.folder, self.config.every)
        if not self.saved.done:
            return streams
        earlier = streams[FACTS].pipeline | 'Read' >> ReadCheckpoint(self.saved)
        return {kind: (streams[kind], earlier[kind]) | f'WithSaved{kind.capitalize()}' >> beam.Flatten()
                for kind in KINDS}
