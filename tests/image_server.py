"""A real HTTP server on 127.0.0.1 that serves generated images and every fault a fetcher meets.

Used by the fetch and pipeline tests and by the benchmarks under bench/; `run_fetch_bundle`
drives the pipeline's fetch step against it. The path says what
to serve, so one server covers every case (NAME is any file name; images are drawn from it):

  /img/NAME                 a JPEG with the product text "Net Wt <n> g" (n from NAME), with an ETag
                            and a Last-Modified; If-None-Match / If-Modified-Since get a 304 while
                            it is unchanged (`server.edits[NAME] = k` serves the k-th edit of it)
  /status/CODE/NAME         answers CODE, always
  /flaky/N/NAME             503 for the first N requests of this path, then the image
  /retry-after/S/NAME       429 with Retry-After: S the first time, then the image
  /slow/S/NAME              waits S seconds before answering
  /drip/NAME                announces 100 kB, then sends a byte every 0.2 s
  /reset/NAME               announces the whole JPEG, sends half, then resets the connection
  /big/NAME                 a body of 3 MB with no Content-Length (streamed past any small cap)
  /big-declared/NAME        Content-Length: 3 MB (refused before reading)
  /html/NAME                an HTML page served as image/jpeg
  /truncated/NAME           the first half of a JPEG
  /empty/NAME               zero bytes, 200
  /bomb/NAME                a 20000x20000 one-bit PNG of about 50 kB (400 M pixels when decoded)
  /cmyk/NAME, /gray16/NAME, /palette/NAME, /animated/NAME   valid images in unusual modes
  /redirect/NAME?to=URL     302 to URL
  /tiny/NAME                the same small JPEG (100x80) for every name
  /tiny-unique/NAME         that JPEG with NAME in a comment segment: the same pixels, other bytes per name
  /body/NAME                whatever bytes `server.bodies[NAME]` holds (for property tests)

`server.latency` adds seconds to every answer (the fetch benchmark sets 0.05); `server.hits`
lists every path requested, in order; `server.conditional` the paths asked for with a validator
and `server.not_modified` those answered 304; `server.max_in_flight` is the most requests it was
answering at once.
"""
import contextlib
import email.utils
import hashlib
import http.server
import io
import socket
import struct
import threading
import time
import zlib
from functools import lru_cache
from urllib.parse import parse_qs, urlparse

from PIL import Image, ImageDraw

from tests.images import encode, label_image


@lru_cache(maxsize=4096)
def product_jpeg(name: str) -> bytes:
    """A label image whose weight depends on the name, so every image reads differently."""
    return encode(label_image(['Rolled Oats', f'Net Wt {grams_in(name)} g']), 'JPEG', quality=90)


def grams_in(name: str) -> int:
    return 100 + sum(name.encode()) % 900


@lru_cache(maxsize=1)
def tiny_jpeg() -> bytes:
    """One small JPEG (100x80) for every name: for runs that measure the job, not the images."""
    image = Image.new('RGB', (100, 80), 'white')
    ImageDraw.Draw(image).text((8, 30), '500 g', fill='black')
    return encode(image, 'JPEG', quality=80)


def with_comment(jpeg: bytes, text: str) -> bytes:
    """A JPEG with a COM segment after its start marker: decodes to the same pixels, hashes differently."""
    comment = text.encode('utf-8')[:60000]
    return jpeg[:2] + b'\xff\xfe' + struct.pack('>H', len(comment) + 2) + comment + jpeg[2:]


@lru_cache(maxsize=1)
def bomb_png(side: int = 20000) -> bytes:
    """A one-bit PNG of side x side, all black: a few kB on the wire, 400 M pixels decoded."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    row = b'\x00' * (1 + (side + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b''.join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack('>IIBBBBB', side, side, 1, 0, 0, 0, 0)
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', header) + chunk(b'IDAT', body) + chunk(b'IEND', b'')


@lru_cache(maxsize=None)
def unusual_image(mode: str) -> bytes:
    """Valid images that decoders often get wrong: CMYK JPEG, 16-bit grey PNG, palette PNG, animated GIF."""
    base = Image.open(io.BytesIO(product_jpeg('unusual.jpg')))
    if mode == 'cmyk':
        return encode(base.convert('CMYK'), 'JPEG')
    if mode == 'gray16':
        return encode(base.convert('I').point(lambda v: v * 256).convert('I;16'), 'PNG')
    if mode == 'palette':
        return encode(base.convert('P', palette=Image.ADAPTIVE), 'PNG')
    if mode == 'animated':
        frames = [base.convert('P'), Image.new('P', base.size, 0)]
        return encode(frames[0], 'GIF', save_all=True, append_images=frames[1:], duration=200, loop=0)
    raise ValueError(mode)


class FaultHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.hits.append(self.path)
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        try:
            if self.server.latency:
                time.sleep(self.server.latency)
            self._answer()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a cap, a deadline): what these faults are for
        finally:
            with self.server.lock:
                self.server.in_flight -= 1

    def _answer(self):
        parsed = urlparse(self.path)
        parts = parsed.path.strip('/').split('/')
        kind, name = parts[0], parts[-1]
        with self.server.lock:
            self.server.counts[parsed.path] = count = self.server.counts.get(parsed.path, 0) + 1
        if kind == 'img':
            self._send_validated(name)
        elif kind == 'status':
            self._send(int(parts[1]), b'error page', 'text/plain')
        elif kind == 'flaky':
            if count <= int(parts[1]):
                self._send(503, b'busy', 'text/plain')
            else:
                self._send(200, product_jpeg(name))
        elif kind == 'retry-after':
            if count == 1:
                self._send(429, b'slow down', 'text/plain', {'Retry-After': parts[1]})
            else:
                self._send(200, product_jpeg(name))
        elif kind == 'slow':
            time.sleep(float(parts[1]))
            self._send(200, product_jpeg(name))
        elif kind == 'drip':
            self._drip()
        elif kind == 'reset':
            self._reset(product_jpeg(name))
        elif kind == 'big':
            self._stream_unsized(b'\xff\xd8\xff\xe0' + b'\0' * (3 * 1024 * 1024))
        elif kind == 'big-declared':
            self._send(200, b'\xff\xd8\xff\xe0' + b'\0' * (3 * 1024 * 1024))
        elif kind == 'html':
            self._send(200, b'<!doctype html><html><body>Sorry, this image moved</body></html>')
        elif kind == 'truncated':
            data = product_jpeg(name)
            self._send(200, data[:len(data) // 2])
        elif kind == 'empty':
            self._send(200, b'')
        elif kind == 'bomb':
            self._send(200, bomb_png(), 'image/png')
        elif kind in ('cmyk', 'gray16', 'palette', 'animated'):
            self._send(200, unusual_image(kind))
        elif kind == 'tiny':
            self._send(200, tiny_jpeg())
        elif kind == 'tiny-unique':
            self._send(200, with_comment(tiny_jpeg(), name))
        elif kind == 'body':
            self._send(200, self.server.bodies.get(name, b''))
        elif kind == 'redirect':
            target = parse_qs(parsed.query)['to'][0]
            self._send(302, b'', 'text/plain', {'Location': target})
        else:
            self._send(404, b'not found', 'text/plain')

    def _send(self, status, body, content_type='image/jpeg', headers=None):
        self.send_response(status)
        self.send_header('Content-Type', content_type)
        self.send_header('Content-Length', str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _send_validated(self, name):
        """The image with its ETag and Last-Modified, or 304 when the request's validator still holds."""
        edit = self.server.edits.get(name, 0)
        body = product_jpeg(f'{name}~{edit}' if edit else name)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        modified = email.utils.formatdate(1_700_000_000 + 86400 * edit, usegmt=True)
        asked_etag, asked_since = self.headers.get('If-None-Match'), self.headers.get('If-Modified-Since')
        if asked_etag or asked_since:
            with self.server.lock:
                self.server.conditional.append(self.path)
        unchanged = (asked_etag == etag) if asked_etag else (asked_since == modified if asked_since else False)
        validators = {'ETag': etag, 'Last-Modified': modified}
        if unchanged:
            with self.server.lock:
                self.server.not_modified.append(self.path)
            self.send_response(304)
            for key, value in validators.items():
                self.send_header(key, value)
            self.end_headers()
            return
        self._send(200, body, headers=validators)

    def _drip(self):
        self.send_response(200)
        self.send_header('Content-Type', 'image/jpeg')
        self.send_header('Content-Length', '100000')
        self.end_headers()
        try:
            self.wfile.write(b'\xff\xd8\xff\xe0')
            for _ in range(1000):
                self.wfile.write(b'\0')
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass
        self.close_connection = True

    def _reset(self, body):
        self.send_response(200)
        self.send_header('Content-Type', 'image/jpeg')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        # SO_LINGER 0: close() sends a TCP reset instead of a clean end of stream
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        self.connection.close()
        self.close_connection = True

    def _stream_unsized(self, body):
        self.send_response(200)
        self.send_header('Content-Type', 'image/jpeg')
        self.send_header('Connection', 'close')
        self.end_headers()
        try:
            for start in range(0, len(body), 65536):
                self.wfile.write(body[start:start + 65536])
        except OSError:
            pass
        self.close_connection = True


class ImageServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, latency: float = 0.0, host: str = '127.0.0.1'):
        super().__init__((host, 0), FaultHandler)
        self.latency = latency
        self.hits = []
        self.counts = {}
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        self.bodies = {}
        self.edits = {}
        self.conditional = []
        self.not_modified = []

    @property
    def base(self) -> str:
        return f'http://{self.server_address[0]}:{self.server_address[1]}'

    def url(self, path: str) -> str:
        return self.base + path


@contextlib.contextmanager
def running(latency: float = 0.0, host: str = '127.0.0.1'):
    """A started server for a `with` block (a test fixture's body), shut down after it."""
    server = start(latency, host)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def start(latency: float = 0.0, host: str = '127.0.0.1') -> ImageServer:
    """A running server on a free port (a daemon thread); call .shutdown() and .server_close()."""
    server = ImageServer(latency, host)
    # a 0.05 s poll: shutdown() waits one poll, and the fetch tests start a server each
    threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
    return server


# Every bad input of a nightly job, as rows of one CSV against a running server:
# (case, CSV line after the index, expected failure stage or '' for rows that must be read).
BAD_INPUT_CASES = (
    ('good image', 'LINK/img/good.jpg,1,item_weight', ''),
    ('CMYK JPEG', 'LINK/cmyk/c.jpg,1,item_weight', ''),
    ('16-bit grey PNG', 'LINK/gray16/g.png,1,item_weight', ''),
    ('palette PNG', 'LINK/palette/p.png,1,item_weight', ''),
    ('animated GIF', 'LINK/animated/a.gif,1,item_weight', ''),
    ('503 twice, then the image', 'LINK/flaky/2/f.jpg,1,item_weight', ''),
    ('429 with Retry-After: 1', 'LINK/retry-after/1/r.jpg,1,item_weight', ''),
    ('missing field', 'LINK/img/m.jpg,1', 'read'),
    ('extra field', 'LINK/img/e.jpg,1,item_weight,surplus', 'read'),
    ('repeated index', None, 'read'),
    ('empty image_link', ',1,item_weight', 'read'),
    ('non-URL image_link', 'not a link,1,item_weight', 'read'),
    ('unknown entity_name', 'LINK/img/u.jpg,1,shoe_size', 'read'),
    ('404', 'LINK/status/404/n.jpg,1,item_weight', 'fetch'),
    ('500 that never recovers', 'LINK/status/500/s.jpg,1,item_weight', 'fetch'),
    ('timeout', 'LINK/slow/5/t.jpg,1,item_weight', 'fetch'),
    ('slow drip', 'LINK/drip/d.jpg,1,item_weight', 'fetch'),
    ('connection reset mid-body', 'LINK/reset/x.jpg,1,item_weight', 'fetch'),
    ('body over the cap', 'LINK/big/b.jpg,1,item_weight', 'fetch'),
    ('HTML instead of an image', 'LINK/html/h.jpg,1,item_weight', 'fetch'),
    ('zero-byte file', 'LINK/empty/z.jpg,1,item_weight', 'fetch'),
    ('truncated JPEG', 'LINK/truncated/tr.jpg,1,item_weight', 'decode'),
    ('decompression bomb 20000x20000 PNG', 'LINK/bomb/bomb.png,1,item_weight', 'decode'),
)
# Settings that make the slow faults quick to meet (a bigger cap than the test images need).
BAD_INPUT_OPTIONS = ('--fetch_timeout=1', '--fetch_retries=2', '--fetch_deadline=3', '--max_image_bytes=1000000')


def write_bad_input_csv(server: ImageServer, path: str) -> dict:
    """The CSV of BAD_INPUT_CASES; returns {index: (case, expected stage)} in file order."""
    lines, expected = ['index,image_link,group_id,entity_name'], {}
    for number, (case, rest, stage) in enumerate(BAD_INPUT_CASES):
        if rest is None:  # a repeat of the first row's index
            index, rest = '0', 'LINK/img/again.jpg,1,item_weight'
        else:
            index = str(number)
        lines.append(f'{index},{rest.replace("LINK", server.base)}')
        expected[f'{index}#{number}'] = (case, stage)
    with open(path, 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    return expected


def run_fetch_bundle(links, images_dir=None, store=None, **settings) -> list:
    """Every output of the pipeline's FetchImageFn for these links, as one real bundle (setup,
    process each, finish_bundle, teardown), unwrapped from its WindowedValues: FetchedImage, or
    TaggedOutput(FAILED, (link, Failure)). Defaults suit this server: loopback allowed, no retries.
    `store`: a StoreConfig to look images up in (transforms/files.py)."""
    from apache_beam.pvalue import TaggedOutput
    from apache_beam.transforms.window import GlobalWindow
    from apache_beam.utils.timestamp import MIN_TIMESTAMP

    import dataclasses

    from pipeline.options import default_options, job_config
    from transforms.fetch_images import FetchImageFn
    settings = {'timeout': 5.0, 'retries': 0, 'max_bytes': 1_000_000, 'allow_private_networks': True, **settings}
    backoff, max_retry_after = settings.pop('backoff', 0.01), settings.pop('max_retry_after', 30.0)
    config = dataclasses.replace(job_config(default_options()).fetch, images_dir=images_dir, **settings)
    fn = FetchImageFn(config, store, backoff=backoff, max_retry_after=max_retry_after)
    fn.setup()
    try:
        fn.start_bundle()
        outputs = []
        for link in links:
            outputs += fn.process(link, timestamp=MIN_TIMESTAMP, window=GlobalWindow())
        outputs += fn.finish_bundle()
    finally:
        fn.teardown()
    return [TaggedOutput(o.tag, o.value.value) if isinstance(o, TaggedOutput) else o.value for o in outputs]
