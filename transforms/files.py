"""Every file and object the job reads or writes beside its outputs' sinks, in one place: local
paths and gs:// alike, through Beam's FileSystems.

- write_whole: a file readers see whole or not at all (the outputs' CSVs, the image cache, the
  result store's entries).
- sniff_image_format: what an image file is, from its first bytes.
- Store: the result store's entries and link records, read and written for one reading version
  (their format and names: transforms/logic/store_entries.py).
- file hashes, folder removal, and the newest entry of a run's own store.
"""
import functools
import hashlib
import json
import logging
import os
import posixpath
import uuid
from dataclasses import dataclass, field
from typing import Optional, Tuple

from apache_beam.io.filesystems import FileSystems

from transforms.logic import store_entries as entries
from transforms.logic.store_entries import VERSION_FILE, CorruptEntry, LinkRecord, Reading
from transforms.records import READING

_MAGIC = (
    (b'\xff\xd8\xff', 'jpeg'),
    (b'\x89PNG\r\n\x1a\n', 'png'),
    (b'GIF87a', 'gif'),
    (b'GIF89a', 'gif'),
    (b'BM', 'bmp'),
    (b'II*\x00', 'tiff'),
    (b'MM\x00*', 'tiff'),
)


def sniff_image_format(data: bytes) -> Optional[str]:
    """The image format the magic bytes announce, or None: the body, not a header, decides."""
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return 'webp'
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def write_whole(path: str, data: bytes) -> None:
    """Write a file that readers see whole or not at all, also while another writer writes the
    same path: an object store (gs://) commits an object whole when it is closed; a local file
    is written under a temporary name of its own and atomically put in place (a failed write
    leaves no temporary behind)."""
    if '://' in path:
        with FileSystems.create(path) as handle:
            handle.write(data)
        return
    temporary = f'{path}.tmp-{uuid.uuid4().hex}'
    try:
        with FileSystems.create(temporary) as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def read_bytes(path: str) -> bytes:
    with FileSystems.open(path) as handle:
        return handle.read()


def read_json(path: str) -> Optional[dict]:
    """A store file's JSON, None when there is no such file; CorruptEntry when it does not parse."""
    try:
        text = read_bytes(path)
    except FileNotFoundError:
        return None
    except Exception:  # an object store says "no such object" in its own words
        if not FileSystems.exists(path):
            return None
        # another run sharing the store wrote it between the failed open and the check: it is whole now
        text = read_bytes(path)
    try:
        data = json.loads(text)
    except ValueError as error:
        raise CorruptEntry(f'{path}: not JSON ({error})') from None
    if not isinstance(data, dict):
        raise CorruptEntry(f'{path}: not a JSON object')
    return data


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


def model_exists(path: str) -> bool:
    """Whether --model_path holds a model: a `.keras` file, or a SavedModel folder (local or on an
    object store, where a folder is only a prefix) with its saved_model.pb."""
    return FileSystems.exists(path if path.endswith('.keras') else FileSystems.join(path, 'saved_model.pb'))


def model_hash(path: str) -> str:
    """The CNN's sha256: of its `.keras` file, or of its SavedModel folder's files (their names
    and hashes); 'missing' when there is none (such a run stops at its argument check)."""
    if not model_exists(path):
        return 'missing'
    if path.endswith('.keras'):
        return file_hash(path)
    folder = path.rstrip('/') + '/'
    files = sorted(m.path for m in FileSystems.match([folder + '**'])[0].metadata_list)
    digest = hashlib.sha256()
    for name in files:
        digest.update(f'{name[len(folder):]} {file_hash(name)}\n'.encode())
    return digest.hexdigest()


def delete_folder(path: str) -> None:
    """A folder and everything under it (on an object store: every object under the prefix)."""
    FileSystems.delete([path + '/' if '://' in path else path])


def newest_entry_time(root: str) -> Optional[float]:
    """When the newest entry under a (small, run-local) store was written, or None."""
    matches = FileSystems.match([FileSystems.join(root, 'v*', '*', '*.json')])[0].metadata_list
    return max((m.last_updated_in_seconds for m in matches), default=None)


@dataclass(frozen=True)
class StoreConfig:
    """--store (or --output/store/ for --resume), the reading version and what it is made of
    (transforms/logic/store_version.py: computed once, in pipeline.options.job_config), and since
    when (epoch seconds) a link's last fetch is trusted without asking its server again: links the
    run being resumed fetched (None: every link is checked)."""
    root: str
    version: str
    trust_links_since: Optional[float] = None
    version_parts: dict = field(default_factory=dict, compare=False, repr=False)


class Store:
    """Reads and writes one store's entries for one reading version; safe to share between threads."""

    def __init__(self, config: StoreConfig):
        self.root = config.root
        self.version = config.version
        self.trust_links_since = config.trust_links_since
        self.version_parts = config.version_parts

    def entry_path(self, sha256: str, kind: str) -> str:
        return entries.entry_path(self.root, self.version, sha256, kind)

    def link_path(self, link: str) -> str:
        return entries.link_path(self.root, link)

    def save(self, kind: str, sha256: str, record) -> None:
        write_whole(self.entry_path(sha256, kind), json.dumps(entries.entry(self.version, sha256, kind, record))
                    .encode('utf-8'))

    def _value(self, sha256: str, kind: str) -> Optional[dict]:
        path = self.entry_path(sha256, kind)
        data = read_json(path)
        return None if data is None else entries.entry_value(data, self.version, sha256, kind, path)

    def recall(self, sha256: str) -> Tuple[Optional[Reading], int]:
        """The image's Reading when the store holds all of it, and how many of its entries were corrupt
        (it stops at the first entry missing or corrupt: the image is read again either way)."""
        values = {}
        for kind in READING:
            try:
                value = self._value(sha256, kind)
                values[kind] = None if value is None else entries.decode(kind, value)
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
            return (None, 0) if data is None else (entries.link_record(data, link, path), 0)
        except (CorruptEntry, KeyError, TypeError, ValueError) as error:
            logging.warning('specscan: ignored a corrupt link record, the link is fetched again: %s', str(error)[:300])
            return None, 1

    def save_fetch(self, record: LinkRecord) -> None:
        write_whole(self.link_path(record.link), json.dumps(entries.link_file(record)).encode())

    def trusted(self, record: Optional[LinkRecord]) -> bool:
        """Is this link's last fetch recent enough to be used without asking its server (--resume)?"""
        return entries.trusted(record, self.trust_links_since)

    def fetched_links(self) -> Optional[frozenset]:
        """Every link with a record, as link_keys, from one listing; None when this version holds
        no reading yet (a new OCR engine or CNN: every image is read again)."""
        version_entries = FileSystems.join(self.root, self.version, '*', '*.json')
        if not FileSystems.match([version_entries], limits=[1])[0].metadata_list:
            return None
        records = FileSystems.match([FileSystems.join(self.root, entries.LINKS_DIR, '*', '*.json')])[0].metadata_list
        return frozenset(entries.name_key(posixpath.basename(m.path)) for m in records)

    def write_version_file(self) -> None:
        """VERSION.json: what this version is made of, for people (written once per version)."""
        path = FileSystems.join(self.root, self.version, VERSION_FILE)
        if not FileSystems.exists(path):
            write_whole(path, json.dumps(self.version_parts, indent=1, sort_keys=True).encode('utf-8'))
