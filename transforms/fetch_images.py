"""FetchImages: the bytes of each distinct image link, from the cache folder or over HTTP(S).

The cache (`--images_dir`, local or gs://) holds images named by the last path part of the
link, as challenge downloaders leave them. An image found there is not fetched; one fetched
over the network is written back when the cache is writable, through a temporary name and a
rename so that a killed run never leaves half an image that a later run would trust.

Fetching waits on the network, not the CPU, so each DoFn instance keeps up to `concurrency`
downloads in flight on a thread pool (opened in setup(), like the HTTP session) and hands on
each image as soon as it arrives; the last ones are drained in finish_bundle(). How a single
download is guarded, capped and retried is `transforms.logic.download`.

With a result store (transforms/files.py's Store), each image's bytes are hashed and its reading looked
up there on the same threads (a store on gs:// answers slowly, so the lookups run in parallel
like the downloads). A link fetched before from the network is asked for with its validators,
and a 304 answer reuses the stored reading without the bytes; a link in the cache folder is
read and hashed as it is. A link the run being resumed fetched is not fetched again.
Before fetching, the links the store has no record of are dealt out evenly between the workers
(SpreadNewLinks), so that a night's few new images are not left to one of them by chance.
"""
import logging
import posixpath
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlparse

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils.windowed_value import WindowedValue

from transforms import worker_exit
from transforms.files import Store, StoreConfig, sniff_image_format, write_whole
from transforms.logic.download import (BACKOFF_SECONDS, LIFT, MAX_RETRY_AFTER_SECONDS, Download, Downloader,
                                       DownloadError, RefusedLink)
from transforms.logic.store_entries import LinkRecord, link_key, sha256_of
from transforms.records import FAILED, IMAGES, NEW_LINKS, Failure, FetchedImage


@dataclass(frozen=True)
class FetchConfig:
    """How images are fetched: the --images_dir and --fetch_* options (pipeline/options.py owns the defaults)."""
    images_dir: Optional[str]
    timeout: float
    retries: int
    max_bytes: int
    concurrency: int
    deadline: float
    allow_private_networks: bool


def cache_name(link: str) -> str:
    """The file name an image has in the cache: the last part of the link's path ('' if none)."""
    name = posixpath.basename(urlparse(link).path)
    return '' if name in ('.', '..') else name


@dataclass
class FetchNotes:
    """What one fetch met in the store: corrupt files, a 304 answer, the readings it looked up."""
    corrupt: int = 0
    not_modified: int = 0
    readings: dict = field(default_factory=dict)


class FetchImageFn(beam.DoFn):
    """link -> FetchedImage, or (link, Failure) on the FAILED output, many links in flight at once."""

    def __init__(self, config: FetchConfig, store: Optional[StoreConfig] = None, backoff: float = BACKOFF_SECONDS,
                 max_retry_after: float = MAX_RETRY_AFTER_SECONDS):
        self.config = config
        self.store_config = store
        self.concurrency = max(1, config.concurrency)
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.from_cache = beam.metrics.Metrics.counter('FetchImages', 'images_from_cache')
        self.from_network = beam.metrics.Metrics.counter('FetchImages', 'images_from_network')
        self.failures = beam.metrics.Metrics.counter('FetchImages', 'fetch_failures')
        self.not_modified = beam.metrics.Metrics.counter('FetchImages', 'images_not_modified')
        self.corrupt = beam.metrics.Metrics.counter('Store', 'corrupt_entries_ignored')

    def setup(self):
        worker_exit.exit_fast_when_done()
        config = self.config
        self.downloader = Downloader(
            config.timeout, config.retries, config.max_bytes, config.deadline, config.allow_private_networks,
            pool_size=self.concurrency, backoff=self.backoff, max_retry_after=self.max_retry_after,
            is_image=lambda head: sniff_image_format(head) is not None)
        self.pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix='fetch')
        self.in_flight = {}
        self.store = Store(self.store_config) if self.store_config else None

    def teardown(self):
        self.pool.shutdown(wait=True, cancel_futures=True)
        self.downloader.close()

    def start_bundle(self):
        self.in_flight = {}

    def process(self, link: str, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        self.in_flight[self.pool.submit(self.fetch, link)] = (timestamp, window)
        done = self._wait(block=len(self.in_flight) >= self.concurrency)
        yield from self._outputs(done)

    def finish_bundle(self):
        while self.in_flight:
            yield from self._outputs(self._wait(block=True))

    def _wait(self, block: bool):
        done, _ = wait(list(self.in_flight), timeout=None if block else 0, return_when=FIRST_COMPLETED)
        return [(future.result(), *self.in_flight.pop(future)) for future in done]

    def _outputs(self, done):
        for (output, notes), timestamp, window in done:
            self.corrupt.inc(notes.corrupt)  # counted here: Beam's counters only count on the bundle's thread
            self.not_modified.inc(notes.not_modified)
            if isinstance(output, FetchedImage):
                if output.source != 'store':
                    (self.from_cache if output.source == 'cache' else self.from_network).inc()
                yield WindowedValue(output, timestamp, [window])
            else:
                self.failures.inc()
                yield beam.pvalue.TaggedOutput(FAILED, WindowedValue(output, timestamp, [window]))

    def fetch(self, link: str):
        """(FetchedImage or (link, Failure), its FetchNotes): runs on the pool's threads and never raises."""
        notes = FetchNotes()
        return self._fetch(link, notes), notes

    def _fetch(self, link: str, notes: 'FetchNotes'):
        started = time.perf_counter()
        try:
            last = self._last_fetch(link, notes)
            if self.store and self.store.trusted(last):  # --resume: the stopped run fetched it
                reading = self._recall(last.sha256, notes)
                if reading is not None:
                    return FetchedImage(link, b'', 'store', time.perf_counter() - started, last.sha256, reading)
            data, source = self._read_cached(link), 'cache'
            download = Download(data)
            if data is None:
                known = self._recall(last.sha256, notes) if last and (last.etag or last.last_modified) else None
                download, source = self._download(link, last if known else None), 'network'
                if download.not_modified:
                    notes.not_modified += 1
                    self._remember_fetch(link, last.sha256, last.etag, last.last_modified)
                    return FetchedImage(link, b'', source, time.perf_counter() - started, last.sha256, known)
            data = _check_body(download.data, self.config.max_bytes)
            if source == 'network':  # only a checked image is cached
                self._write_cache(link, data)
            sha256 = sha256_of(data)
            reading = None
            if self.store:
                self._remember_fetch(link, sha256, download.etag, download.last_modified)
                reading = self._recall(sha256, notes)
        except DownloadError as error:
            return link, Failure('fetch', str(error)[:500])
        except Exception as error:  # one bad link never fails the job
            return link, Failure.from_error('fetch', error)
        return FetchedImage(link, data, source, time.perf_counter() - started, sha256, reading)

    def _last_fetch(self, link: str, notes: 'FetchNotes') -> Optional[LinkRecord]:
        """Best effort, like the cache: a store that cannot be read costs a full fetch, not the row."""
        if not self.store:
            return None
        try:
            last, corrupt = self.store.last_fetch(link)
        except Exception as error:
            logging.warning('specscan: could not read the store\'s record of %s, it is fetched: %s', link,
                            str(error)[:300])
            return None
        notes.corrupt += corrupt
        return last

    def _recall(self, sha256: str, notes: 'FetchNotes'):
        """The image's stored reading, looked up once per fetch (a corrupt entry is counted once);
        None when the store cannot be read: the image is read again."""
        if sha256 not in notes.readings:
            try:
                notes.readings[sha256], corrupt = self.store.recall(sha256)
            except Exception as error:
                logging.warning('specscan: could not read the store\'s reading of %s, it is read again: %s',
                                sha256, str(error)[:300])
                notes.readings[sha256], corrupt = None, 0
            notes.corrupt += corrupt
        return notes.readings[sha256]

    def _remember_fetch(self, link: str, sha256: str, etag: str, last_modified: str) -> None:
        """Best effort, like the cache: a link record that cannot be written costs a full fetch next time."""
        try:
            self.store.save_fetch(LinkRecord(link, sha256, etag, last_modified, time.time()))
        except Exception as error:
            logging.warning('specscan: could not save the fetch of %s to the store: %s', link, str(error)[:300])

    def _cache_path(self, link: str) -> Optional[str]:
        name = cache_name(link)
        if not self.config.images_dir or not name:
            return None
        return FileSystems.join(self.config.images_dir, name)

    def _read_cached(self, link: str) -> Optional[bytes]:
        path = self._cache_path(link)
        if path is None or not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as handle:
            return handle.read(self.config.max_bytes + 1)

    def _download(self, link: str, last: Optional[LinkRecord]) -> Download:
        """The link's bytes; with `last` (whose reading the store holds) a conditional request."""
        if urlparse(link).scheme.lower() == 'gs':
            if not self.config.allow_private_networks:
                raise RefusedLink(f'refused: gs:// links read the job\'s own buckets ({LIFT})')
            with FileSystems.open(link) as handle:
                return Download(handle.read(self.config.max_bytes + 1))
        if last is None:
            return self.downloader.fetch(link)
        return self.downloader.fetch(link, last.etag, last.last_modified)

    def _write_cache(self, link: str, data: bytes) -> None:
        """Best effort: a read-only cache only means the next run fetches again."""
        path = self._cache_path(link)
        if path is None:
            return
        try:
            write_whole(path, data)
        except Exception:
            pass


def _check_body(data: bytes, max_bytes: int) -> bytes:
    """The bytes, if they can be an image: the magic number decides, not a header or a file name."""
    if len(data) > max_bytes:
        raise DownloadError(f'too large: over the cap of {max_bytes} bytes')
    if not data:
        raise DownloadError('empty: zero bytes')
    if sniff_image_format(data) is None:
        raise DownloadError(f'not an image: starts with {data[:16]!r}')
    return data


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
    if known is None or link_key(link) in known:
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


class FetchImages(beam.PTransform):
    """PCollection[Row] -> FetchedImage (main) and (link, Failure) (tag FAILED), once per distinct link;
    with a `store`, each FetchedImage carries its stored reading when the store holds it."""

    def __init__(self, config: FetchConfig, store: Optional[StoreConfig] = None):
        super().__init__()
        self.fn = FetchImageFn(config, store)

    def expand(self, rows):
        links = (rows
                 | 'Links' >> beam.Map(lambda row: row.image_link)
                 | 'DistinctLinks' >> beam.Distinct())
        if self.fn.store_config:
            links = links | 'SpreadNewLinks' >> SpreadNewLinks(self.fn.store_config)
        return links | 'Fetch' >> beam.ParDo(self.fn).with_outputs(FAILED, main=IMAGES)
