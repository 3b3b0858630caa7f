"""The result store's entries: what an image's reading is kept as, and what each file is named.

Nightly runs over a catalogue meet mostly the images they read the night before. The store
keeps what reading an image cost (its size, the OCR words, the CNN vector) under the sha256 of
its bytes, in a folder named by the *reading version* (transforms/logic/store_version.py). An
image whose bytes and version are found skips decode, CNN and OCR; its rows are chosen again.
For http(s) links the store also keeps each link's last sha256, ETag and Last-Modified, so a
fetch can be a conditional request.

Layout under the store path (a local folder or any Beam FileSystems path, gs://...):

  <version>/VERSION.json                 what the version is made of, for people
  <version>/<sha[:2]>/<sha>.<kind>.json  one entry per image and kind: facts, ocr, embedding
  links/<h[:2]>/<h>.json                 a link's last fetch (h: the sha256 of the link)

Each entry names its format, version, sha256 and kind: one that does not parse or names another
(corrupt, or copied from elsewhere) is a CorruptEntry, and its image is read again. This module
only encodes, decodes and names entries; transforms/files.py reads and writes them.
"""
import base64
import dataclasses
import hashlib
import posixpath
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from transforms.records import EMBEDDING, FACTS, OCR, OcrWord

FORMAT = 1
LINKS_DIR = 'links'
VERSION_FILE = 'VERSION.json'


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


def entry_path(root: str, version: str, sha256: str, kind: str) -> str:
    return posixpath.join(root, version, sha256[:2], f'{sha256}.{kind}.json')


def link_path(root: str, link: str) -> str:
    name = link_name(link)
    return posixpath.join(root, LINKS_DIR, name[:2], f'{name}.json')


def encode(kind: str, record) -> dict:
    """What the store keeps of a record: no link, source or timing (those belong to a run)."""
    if kind == FACTS:
        return {'width': record.width, 'height': record.height}
    if kind == OCR:
        return {'words': [dataclasses.asdict(word) for word in record.words]}
    if kind == EMBEDDING:  # float32 in base64: exact, and a quarter of the size of JSON numbers
        return {'vector': base64.b64encode(np.asarray(record.vector, dtype='<f4').tobytes()).decode('ascii')}
    raise ValueError(f'the store keeps no {kind!r}')


def decode(kind: str, value: dict):
    """The stored value of an entry as the store hands it back (facts as a dict)."""
    if kind == FACTS:
        return {'width': int(value['width']), 'height': int(value['height'])}
    if kind == OCR:
        return tuple(OcrWord(**word) for word in value['words'])
    if kind == EMBEDDING:
        return tuple(np.frombuffer(base64.b64decode(value['vector'], validate=True), dtype='<f4').tolist())
    raise ValueError(f'the store keeps no {kind!r}')


def entry(version: str, sha256: str, kind: str, record) -> dict:
    """The JSON object an entry file holds."""
    return {'format': FORMAT, 'version': version, 'sha256': sha256, 'kind': kind, 'value': encode(kind, record)}


def entry_value(data: dict, version: str, sha256: str, kind: str, path: str) -> dict:
    """An entry file's value; CorruptEntry when it holds another entry."""
    expected = {'format': FORMAT, 'version': version, 'sha256': sha256, 'kind': kind}
    if any(data.get(key) != value for key, value in expected.items()) or 'value' not in data:
        raise CorruptEntry(f'{path}: holds another entry ({ {k: data.get(k) for k in expected} })')
    return data['value']


def link_file(record: LinkRecord) -> dict:
    """The JSON object a link record file holds."""
    return {'format': FORMAT, **dataclasses.asdict(record)}


def link_record(data: dict, link: str, path: str) -> LinkRecord:
    """A link record file's record; CorruptEntry when it holds another link or format."""
    if data.get('format') != FORMAT or data.get('link') != link:
        raise CorruptEntry(f'{path}: holds another link')
    return LinkRecord(data['link'], data['sha256'], data.get('etag', ''), data.get('last_modified', ''),
                      float(data.get('checked', 0.0)))


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def link_name(link: str) -> str:
    """The name of a link's record: the sha256 of the link."""
    return sha256_of(link.encode('utf-8'))


def name_key(name: str) -> int:
    """A record name (or file name) cut to its first 64 bits."""
    return int(name[:16], 16)


def link_key(link: str) -> int:
    """A link's record name cut to 64 bits: a worker holds one small int per link it lists."""
    return name_key(link_name(link))


def trusted(record: Optional[LinkRecord], since: Optional[float]) -> bool:
    """Is this link's last fetch recent enough to be used without asking its server (--resume)?"""
    return record is not None and since is not None and record.checked >= since
