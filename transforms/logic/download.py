"""Download one image over HTTP(S) from an untrusted link: guarded, capped, retried.

Pure Python (requests and urllib3, no Beam) so every fault can be tested against a real
server on loopback. What it guards against, and why:
- Server-side request forgery. A catalogue CSV is untrusted, and the job runs inside a cloud
  project: a link to 169.254.169.254 would read the metadata server, one to 10.x an internal
  service. Hosts are resolved and refused unless every address is globally routable; the
  address a connection actually reaches is checked again when the socket opens, so a
  redirect or a DNS answer that changes between the check and the connection (rebinding)
  is refused too. `allow_private_networks` lifts this for tests and on-premise mirrors.
- Unbounded bodies and slow servers: the body is streamed and dropped past `max_bytes`, a
  declared Content-Length over the cap is refused before reading, and a whole download
  (retries and waits included) must end within `deadline` seconds, so a server that drips
  a byte a second cannot hold a worker.
- Transient faults: connection errors, resets mid-body, timeouts, 429 and 5xx are retried
  with exponential backoff and jitter, honouring Retry-After up to `max_retry_after`; other
  4xx answers are final at once.
- Bodies that are not images: the first bytes must be an image's magic number, whatever
  Content-Type says, so an HTML error page is refused after its first chunk.
`fetch` also sends the validators of an earlier download (If-None-Match with its ETag,
If-Modified-Since with its Last-Modified) when it is given them: a 304 answer says the image
did not change, and the result store (transforms/files.py's Store) already holds what it says.
"""
import email.utils
import ipaddress
import random
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional
from urllib.parse import urlparse

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

USER_AGENT = 'specscan/0.1 (+https://github.com/specscan/specscan)'
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_REDIRECTS = 5
BACKOFF_SECONDS = 0.5         # the first retry's wait; each retry doubles it (with jitter)
MAX_RETRY_AFTER_SECONDS = 30.0  # a server's Retry-After is honoured up to this
CHUNK_BYTES = 64 * 1024
LIFT = '--allow_private_networks lifts this'


@dataclass(frozen=True)
class Download:
    """A download's body and the validators the server gave for it; `not_modified` (a 304 to a
    conditional request) comes with no body."""
    data: bytes
    etag: str = ''
    last_modified: str = ''
    not_modified: bool = False


class DownloadError(Exception):
    """A download that failed for good; the message starts with a short kind ('HTTP 404: ...')."""


class RefusedLink(DownloadError):
    """A link specscan will not follow: wrong scheme, or a host that is not on the public internet."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


def non_public_reason(address: str) -> Optional[str]:
    """Why an IP address must not be fetched from (None when it is a public address)."""
    ip = ipaddress.ip_address(address.split('%')[0])
    if getattr(ip, 'ipv4_mapped', None):
        ip = ip.ipv4_mapped
    for kind in ('loopback', 'link_local', 'unspecified', 'multicast', 'reserved', 'private'):
        if getattr(ip, f'is_{kind}'):
            return f'{ip} is a {kind.replace("_", "-")} address'
    if not ip.is_global:
        return f'{ip} is not a globally routable address'
    return None


def check_link(link: str, allow_private_networks: bool = False) -> None:
    """RefusedLink unless the link is http(s) and (by default) its host resolves only to public addresses."""
    parsed = urlparse(link)
    scheme = parsed.scheme.lower()
    if scheme not in ('http', 'https'):
        raise RefusedLink(f'refused: scheme {scheme or "(none)"!r} is not http or https')
    if not parsed.hostname:
        raise RefusedLink('refused: the link has no host')
    if allow_private_networks:
        return
    try:
        answers = socket.getaddrinfo(parsed.hostname, parsed.port or (443 if scheme == 'https' else 80),
                          type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise DownloadError(f'DNS: {parsed.hostname} does not resolve ({error})') from error
    for answer in answers:
        reason = non_public_reason(answer[4][0])
        if reason:
            raise RefusedLink(f'refused: {parsed.hostname} resolves to {reason} ({LIFT})')


def _checked_socket(connection, original_new_conn):
    sock = original_new_conn(connection)
    reason = non_public_reason(sock.getpeername()[0])
    if reason:
        sock.close()
        raise RefusedLink(f'refused: connection to {connection.host} reached {reason} ({LIFT})')
    return sock


class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self):
        return _checked_socket(self, HTTPConnection._new_conn)


class _PublicHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        return _checked_socket(self, HTTPSConnection._new_conn)


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    """An adapter whose sockets refuse, once connected, any peer that is not a public address."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {'http': _PublicHTTPConnectionPool,
                                                   'https': _PublicHTTPSConnectionPool}


def retry_after_seconds(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Retry-After as seconds from now (it is either a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class Downloader:
    """One requests.Session with pooled connections; `get(link)` -> the body's bytes or DownloadError.

    Safe to share between threads (requests' Session is used that way by the pool sizes set here).
    """

    def __init__(self, timeout: float, retries: int, max_bytes: int, deadline: float,
                 allow_private_networks: bool, pool_size: int, backoff: float = BACKOFF_SECONDS,
                 max_retry_after: float = MAX_RETRY_AFTER_SECONDS,
                 is_image: Callable[[bytes], bool] = lambda head: True):
        self.timeout = timeout
        self.retries = retries
        self.max_bytes = max_bytes
        self.deadline = deadline
        self.allow_private_networks = allow_private_networks
        self.backoff = backoff
        self.max_retry_after = max_retry_after
        self.is_image = is_image
        self.session = requests.Session()
        self.session.headers['User-Agent'] = USER_AGENT
        self.session.max_redirects = MAX_REDIRECTS
        adapter_class = HTTPAdapter if allow_private_networks else _PublicOnlyAdapter
        adapter = adapter_class(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self.session.mount('http://', adapter)
        self.session.mount('https://', adapter)

    def close(self) -> None:
        self.session.close()

    def fetch(self, link: str, etag: str = '', last_modified: str = '') -> Download:
        """The body and its validators; with `etag` or `last_modified` (from an earlier Download of
        the link) the request is conditional and may come back `not_modified`."""
        ends = time.monotonic() + self.deadline
        check_link(link, self.allow_private_networks)
        headers = {name: value for name, value in (('If-None-Match', etag), ('If-Modified-Since', last_modified))
                   if value}
        attempt = 0
        while True:
            try:
                return self._get_once(link, ends, headers)
            except _Retryable as error:
                if attempt >= self.retries:
                    tries = f'{attempt + 1} tries' if attempt else '1 try'
                    raise DownloadError(f'{error} (gave up after {tries})') from None
                if error.retry_after is not None:
                    wait = min(error.retry_after, self.max_retry_after)
                else:
                    wait = self.backoff * 2 ** attempt * random.uniform(0.5, 1.5)
                if time.monotonic() + wait >= ends:
                    raise DownloadError(f'deadline: {error}; no time left for a retry within '
                                        f'{self.deadline:g} s') from None
                time.sleep(wait)
                attempt += 1

    def _get_once(self, link: str, ends: float, headers: dict) -> Download:
        remaining = ends - time.monotonic()
        if remaining <= 0:
            raise DownloadError(f'deadline: not finished within {self.deadline:g} s')
        read_timeout = min(self.timeout, remaining)
        try:
            with self.session.get(link, stream=True, headers=headers,
                                  timeout=(min(read_timeout, 10.0), read_timeout)) as response:
                if response.status_code == 304 and headers:
                    return Download(b'', not_modified=True)
                self._check_status(response)
                return Download(self._read_body(response, ends), response.headers.get('ETag', ''),
                                response.headers.get('Last-Modified', ''))
        except RefusedLink:
            raise
        except requests.exceptions.TooManyRedirects as error:
            raise DownloadError(f'redirects: more than {MAX_REDIRECTS}') from error
        except requests.exceptions.InvalidSchema as error:
            raise RefusedLink(f'refused: redirected to a scheme other than http or https ({error})') from error
        except requests.exceptions.Timeout as error:
            raise _Retryable(f'timeout: no answer within {read_timeout:g} s') from error
        except (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            raise _Retryable(f'connection: {_root_cause(error)}') from error
        except urllib3.exceptions.ReadTimeoutError as error:  # raised by raw reads of the body
            raise _Retryable(f'timeout: the body stalled for {read_timeout:g} s') from error
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.DecodeError, OSError) as error:
            raise _Retryable(f'connection: {_root_cause(error)}') from error

    def _check_status(self, response) -> None:
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _Retryable(f'HTTP {status}: {response.reason}',
                             retry_after_seconds(response.headers.get('Retry-After')))
        if status >= 300:
            raise DownloadError(f'HTTP {status}: {response.reason} (not retried)')
        declared = response.headers.get('Content-Length', '')
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise DownloadError(f'too large: Content-Length {declared} is over the cap of {self.max_bytes} bytes')

    def _read_body(self, response, ends: float) -> bytes:
        body, sniffed = bytearray(), False
        while True:
            # read1: whatever one socket read brings, so a dripping server meets the deadline
            chunk = response.raw.read1(CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            body.extend(chunk)
            if not sniffed and len(body) >= 16:
                sniffed = True
                if not self.is_image(bytes(body[:16])):
                    raise DownloadError(f'not an image: the body starts with {bytes(body[:16])!r}')
            if len(body) > self.max_bytes:
                raise DownloadError(f'too large: the body passed the cap of {self.max_bytes} bytes')
            if time.monotonic() > ends:
                raise DownloadError(f'deadline: body still arriving after {self.deadline:g} s '
                                    f'({len(body)} bytes so far)')
        return bytes(body)


def _root_cause(error: BaseException) -> str:
    """The innermost exception's message: 'Connection reset by peer', not three wrappers of it."""
    while error.__context__ is not None or error.__cause__ is not None:
        error = error.__cause__ or error.__context__
    if error.args and isinstance(error.args[0], str):
        return f'{type(error).__name__}: {error.args[0]}'[:300]
    return f'{type(error).__name__}: {error}'[:300]
