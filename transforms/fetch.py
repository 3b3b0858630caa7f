"""FetchImages: the bytes of each distinct image link, from the cache folder or over HTTP(S).

The cache (`--images_dir`, local or gs://) holds images named by the last path part of the
link, as challenge downloaders leave them. An image found there is not fetched; one fetched
over the network is written back when the cache is writable, through a temporary name and a
rename so that a killed run never leaves half an image that a later run would trust.
"""
import posixpath
import time
import uuid
from typing import Optional
from urllib.parse import urlparse

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.records import Failure, FetchedImage
from transforms.preprocess import sniff_image_format

FAILED = 'failed'


def cache_name(link: str) -> str:
    """The file name an image has in the cache: the last part of the link's path."""
    return posixpath.basename(urlparse(link).path)


class FetchImageFn(beam.DoFn):
    """link -> FetchedImage, or (link, Failure) on the FAILED output. One HTTP session per DoFn."""

    def __init__(self, images_dir: Optional[str], timeout: float, retries: int, max_bytes: int):
        self.images_dir = images_dir
        self.timeout = timeout
        self.retries = retries
        self.max_bytes = max_bytes
        self.from_cache = beam.metrics.Metrics.counter('FetchImages', 'images_from_cache')
        self.from_network = beam.metrics.Metrics.counter('FetchImages', 'images_from_network')
        self.failures = beam.metrics.Metrics.counter('FetchImages', 'fetch_failures')

    def setup(self):
        import requests
        from requests.adapters import HTTPAdapter
        from urllib3.util.retry import Retry
        retry = Retry(total=self.retries, connect=self.retries, read=self.retries, backoff_factor=0.5,
                      status_forcelist=(429, 500, 502, 503, 504), respect_retry_after_header=True,
                      allowed_methods=('GET',))
        self.session = requests.Session()
        self.session.headers['User-Agent'] = 'specscan/0.1 (+https://github.com/specscan)'
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount('http://', adapter)
        self.session.mount('https://', adapter)

    def teardown(self):
        self.session.close()

    def process(self, link: str):
        started = time.perf_counter()
        try:
            data, source = self._read_cached(link), 'cache'
            if data is None:
                data, source = self._download(link), 'network'
            _check_body(data, self.max_bytes)
            if source == 'network':  # only a checked image is cached
                self._write_cache(link, data)
        except Exception as error:  # one bad link never fails the job
            self.failures.inc()
            yield beam.pvalue.TaggedOutput(FAILED, (link, Failure.from_error('fetch', error)))
            return
        (self.from_cache if source == 'cache' else self.from_network).inc()
        yield FetchedImage(link, data, source, time.perf_counter() - started)

    def _cache_path(self, link: str) -> Optional[str]:
        name = cache_name(link)
        if not self.images_dir or not name:
            return None
        return FileSystems.join(self.images_dir, name)

    def _read_cached(self, link: str) -> Optional[bytes]:
        path = self._cache_path(link)
        if path is None or not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as handle:
            return handle.read(self.max_bytes + 1)

    def _download(self, link: str) -> bytes:
        scheme = urlparse(link).scheme.lower()
        if scheme == 'gs':
            with FileSystems.open(link) as handle:
                return handle.read(self.max_bytes + 1)
        if scheme not in ('http', 'https'):
            raise ValueError(f'unsupported scheme {scheme!r}; expected http, https or gs')
        with self.session.get(link, timeout=(min(self.timeout, 10.0), self.timeout), stream=True) as response:
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body.extend(chunk)
                if len(body) > self.max_bytes:
                    break
        return bytes(body)

    def _write_cache(self, link: str, data: bytes) -> None:
        """Best effort: a read-only cache only means the next run fetches again."""
        path = self._cache_path(link)
        if path is None:
            return
        temporary = f'{path}.tmp-{uuid.uuid4().hex}'
        try:
            with FileSystems.create(temporary) as handle:
                handle.write(data)
            FileSystems.rename([temporary], [path])
        except Exception:
            try:
                FileSystems.delete([temporary])
            except Exception:
                pass


def _check_body(data: bytes, max_bytes: int) -> bytes:
    if len(data) > max_bytes:
        raise ValueError(f'image larger than {max_bytes} bytes')
    if not data:
        raise ValueError('empty body')
    if sniff_image_format(data) is None:
        raise ValueError(f'not an image (starts with {data[:16]!r})')
    return data


class FetchImages(beam.PTransform):
    """PCollection[link] -> FetchedImage (main) and (link, Failure) (tag FAILED)."""

    def __init__(self, images_dir, timeout=20.0, retries=3, max_bytes=50 * 1024 * 1024):
        super().__init__()
        self.fn = FetchImageFn(images_dir, timeout, retries, max_bytes)

    def expand(self, links):
        return links | 'Fetch' >> beam.ParDo(self.fn).with_outputs(FAILED, main='images')
