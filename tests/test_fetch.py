"""FetchImages: the cache, HTTP from a real server on 127.0.0.1, and failures as data."""
import http.server
import os
import threading

import apache_beam as beam
import pytest

from tests.images import encode, noise_image
from transforms.fetch import FAILED, FetchImageFn, cache_name
from transforms.records import FetchedImage

JPEG = encode(noise_image(32, 32))


class Handler(http.server.BaseHTTPRequestHandler):
    routes = {
        '/img/a.jpg': (200, 'image/jpeg', JPEG),
        '/img/page.jpg': (200, 'image/jpeg', b'<html>not an image</html>'),
    }

    def do_GET(self):
        status, kind, body = self.routes.get(self.path, (404, 'text/plain', b'missing'))
        self.server.hits.append(self.path)
        self.send_response(status)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.hits = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def fetch(link, images_dir=None, retries=0):
    fn = FetchImageFn(images_dir, timeout=5.0, retries=retries, max_bytes=1_000_000)
    fn.setup()
    try:
        return list(fn.process(link))
    finally:
        fn.teardown()


def url(server, path):
    return f'http://127.0.0.1:{server.server_address[1]}{path}'


def test_cache_name_is_last_path_part():
    assert cache_name('https://m.media-amazon.com/images/I/71x+Y.jpg?x=1') == '71x+Y.jpg'


def test_cached_image_is_not_fetched(server, tmp_path):
    (tmp_path / 'a.jpg').write_bytes(JPEG)
    [image] = fetch(url(server, '/img/a.jpg'), str(tmp_path))
    assert isinstance(image, FetchedImage) and image.source == 'cache' and image.data == JPEG
    assert server.hits == []


def test_network_image_is_fetched_and_cached_without_temp_files(server, tmp_path):
    [image] = fetch(url(server, '/img/a.jpg'), str(tmp_path))
    assert image.source == 'network' and image.data == JPEG
    assert os.listdir(tmp_path) == ['a.jpg']
    assert (tmp_path / 'a.jpg').read_bytes() == JPEG


@pytest.mark.parametrize('path, reason', [('/img/gone.jpg', '404'), ('/img/page.jpg', 'not an image')])
def test_bad_links_become_fetch_failures(server, tmp_path, path, reason):
    [output] = fetch(url(server, path), str(tmp_path))
    assert isinstance(output, beam.pvalue.TaggedOutput) and output.tag == FAILED
    link, failure = output.value
    assert link == url(server, path) and failure.stage == 'fetch' and reason in failure.reason
    assert os.listdir(tmp_path) == []


def test_unsupported_scheme_is_a_failure():
    [output] = fetch('ftp://example.com/a.jpg')
    assert output.tag == FAILED and 'unsupported scheme' in output.value[1].reason
