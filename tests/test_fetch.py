"""FetchImages and the downloader against a real server on 127.0.0.1 that serves every fault."""
import os
import re
import socket
import time
import types

import apache_beam as beam
import pytest

from tests import image_server
from transforms.fetch_images import FAILED, cache_name
from transforms.logic import download
from transforms.logic.download import RefusedLink, check_link, non_public_reason, retry_after_seconds
from transforms.records import FetchedImage


@pytest.fixture
def server():
    with image_server.running() as httpd:
        yield httpd


@pytest.fixture
def waits(monkeypatch):
    """The downloader's sleeps, recorded instead of slept: a test checks what it waited, not its own time."""
    asked = []
    monkeypatch.setattr(download, 'time', types.SimpleNamespace(monotonic=time.monotonic, time=time.time,
                                                                sleep=asked.append))
    return asked


def fetch_one(link, images_dir=None, **settings):
    [output] = image_server.run_fetch_bundle([link], images_dir, **settings)
    return output


def failure_of(output):
    assert isinstance(output, beam.pvalue.TaggedOutput) and output.tag == FAILED, output
    link, failure = output.value
    assert failure.stage == 'fetch'
    return failure.reason


# -- the address guard, as pure functions

@pytest.mark.parametrize('address, kind', [
    ('127.0.0.1', 'loopback'), ('::1', 'loopback'), ('10.1.2.3', 'private'), ('192.168.0.10', 'private'),
    ('172.16.5.4', 'private'), ('169.254.169.254', 'link-local'), ('fe80::1', 'link-local'),
    ('0.0.0.0', 'unspecified'), ('240.0.0.1', 'reserved'), ('::ffff:127.0.0.1', 'loopback'),
    ('100.64.0.1', 'not a globally routable'), ('224.0.0.1', 'multicast')])
def test_non_public_addresses_are_named(address, kind):
    assert kind in non_public_reason(address)


@pytest.mark.parametrize('address', ['93.184.216.34', '8.8.8.8', '2606:2800:220:1:248:1893:25c8:1946'])
def test_public_addresses_pass(address):
    assert non_public_reason(address) is None


def fake_dns(monkeypatch, answers):
    """socket.getaddrinfo answering from a dict host -> list of addresses (or a callable)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        addresses = answers[host]() if callable(answers[host]) else answers[host]
        family = lambda a: socket.AF_INET6 if ':' in a else socket.AF_INET  # noqa: E731
        return [(family(a), socket.SOCK_STREAM, 6, '', (a, port)) for a in addresses]
    monkeypatch.setattr(socket, 'getaddrinfo', getaddrinfo)


def test_host_resolving_to_metadata_server_is_refused(monkeypatch):
    fake_dns(monkeypatch, {'metadata.example': ['169.254.169.254'], 'shop.example': ['93.184.216.34']})
    with pytest.raises(RefusedLink, match='169.254.169.254 is a link-local address'):
        check_link('http://metadata.example/computeMetadata/v1/')
    check_link('https://shop.example/a.jpg')  # public: no error
    check_link('http://metadata.example/x', allow_private_networks=True)


def test_one_private_answer_among_public_ones_is_refused(monkeypatch):
    fake_dns(monkeypatch, {'mixed.example': ['93.184.216.34', '10.0.0.7']})
    with pytest.raises(RefusedLink, match='10.0.0.7 is a private'):
        check_link('http://mixed.example/a.jpg')


@pytest.mark.parametrize('link', ['ftp://example.com/a.jpg', 'file:///etc/passwd', 'gopher://x/1', 'http:///a.jpg'])
def test_other_schemes_and_hostless_links_are_refused(link):
    with pytest.raises(RefusedLink):
        check_link(link, allow_private_networks=True)


def test_retry_after_is_seconds_or_an_http_date():
    assert retry_after_seconds('7') == 7.0
    assert retry_after_seconds('Wed, 21 Oct 2015 07:28:05 GMT', now=1445412480.0) == 5.0
    assert retry_after_seconds('soon') is None and retry_after_seconds(None) is None


# -- FetchImageFn on a real server

def test_cache_name_is_last_path_part():
    assert cache_name('https://m.media-amazon.com/images/I/71x+Y.jpg?x=1') == '71x+Y.jpg'
    assert cache_name('http://host/a/..') == '' and cache_name('http://host/') == ''


def test_cached_image_is_not_fetched(server, tmp_path):
    (tmp_path / 'a.jpg').write_bytes(image_server.product_jpeg('a.jpg'))
    image = fetch_one(server.url('/img/a.jpg'), str(tmp_path))
    assert isinstance(image, FetchedImage) and image.source == 'cache'
    assert image.data == image_server.product_jpeg('a.jpg') and server.hits == []


def test_network_image_is_fetched_and_cached_without_temp_files(server, tmp_path):
    image = fetch_one(server.url('/img/a.jpg'), str(tmp_path))
    assert image.source == 'network' and image.data == image_server.product_jpeg('a.jpg')
    assert os.listdir(tmp_path) == ['a.jpg']
    assert (tmp_path / 'a.jpg').read_bytes() == image.data


def test_404_is_final_at_once(server, tmp_path):
    reason = failure_of(fetch_one(server.url('/status/404/a.jpg'), str(tmp_path), retries=3))
    assert reason.startswith('HTTP 404') and 'not retried' in reason
    assert len(server.hits) == 1 and os.listdir(tmp_path) == []


def test_500_that_never_recovers_is_retried_then_recorded(server):
    reason = failure_of(fetch_one(server.url('/status/500/a.jpg'), retries=2))
    assert reason.startswith('HTTP 500') and 'gave up after 3 tries' in reason
    assert len(server.hits) == 3


def test_503_that_recovers_gives_the_image(server):
    image = fetch_one(server.url('/flaky/2/a.jpg'), retries=3)
    assert isinstance(image, FetchedImage) and len(server.hits) == 3


def test_retry_after_is_honoured(server, waits):
    image = fetch_one(server.url('/retry-after/1/a.jpg'), retries=1)
    assert isinstance(image, FetchedImage) and len(server.hits) == 2
    assert waits == [1.0]  # waited as asked, not the 0.01 s backoff


def test_retry_after_beyond_the_cap_is_cut_to_the_cap(server, waits):
    image = fetch_one(server.url('/retry-after/3600/a.jpg'), retries=1, max_retry_after=0.2, deadline=10.0)
    assert isinstance(image, FetchedImage) and waits == [0.2]


def test_retry_after_beyond_the_deadline_fails_without_waiting(server, waits):
    reason = failure_of(fetch_one(server.url('/retry-after/3600/a.jpg'), retries=1, deadline=2.0))
    assert reason.startswith('deadline') and 'HTTP 429' in reason
    assert waits == [] and len(server.hits) == 1


def test_timeout_is_recorded(server):
    reason = failure_of(fetch_one(server.url('/slow/3/a.jpg'), timeout=0.3))
    assert reason.startswith('timeout') and 'gave up after 1 try' in reason


def test_slow_drip_is_cut_at_the_deadline(server, monkeypatch):
    """A byte every 0.2 s never trips the 5 s read timeout: the 1 s deadline stops it, long before 100 kB.
    The downloader's clock is a counter that moves a quarter second each time it is read, so the
    deadline passes at the fourth chunk however busy the machine is."""
    ticks = []

    def clock():
        ticks.append(0.25 * len(ticks))
        return ticks[-1]
    monkeypatch.setattr(download, 'time', types.SimpleNamespace(monotonic=clock, time=time.time, sleep=time.sleep))
    reason = failure_of(fetch_one(server.url('/drip/a.jpg'), timeout=5.0, deadline=1.0))
    bytes_read = int(re.fullmatch(r'deadline: body still arriving after 1 s \((\d+) bytes so far\)', reason).group(1))
    # the deadline (0 + 1), the time left before the request, then one look per chunk: 0.5, 0.75, 1.0, 1.25
    assert ticks == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25]
    assert 4 <= bytes_read < 100 and len(server.hits) == 1


def test_connection_reset_mid_body_is_retried_then_recorded(server):
    reason = failure_of(fetch_one(server.url('/reset/a.jpg'), retries=1))
    assert reason.startswith('connection') and 'gave up after 2 tries' in reason
    assert len(server.hits) == 2


@pytest.mark.parametrize('path, expected', [
    ('/big/a.jpg', 'too large: the body passed the cap'),
    ('/big-declared/a.jpg', 'too large: Content-Length'),
    ('/html/a.jpg', 'not an image'),
    ('/empty/a.jpg', 'empty'),
])
def test_bad_bodies_are_recorded(server, tmp_path, path, expected):
    reason = failure_of(fetch_one(server.url(path), str(tmp_path)))
    assert reason.startswith(expected)
    assert os.listdir(tmp_path) == []  # nothing bad is cached


def test_loopback_is_refused_by_default_without_a_request(server):
    reason = failure_of(fetch_one(server.url('/img/a.jpg'), allow_private_networks=False))
    assert reason.startswith('refused') and '127.0.0.1 is a loopback address' in reason
    assert '--allow_private_networks' in reason and server.hits == []


def test_gs_links_are_refused_by_default():
    reason = failure_of(fetch_one('gs://some-bucket/a.jpg', allow_private_networks=False))
    assert reason.startswith('refused') and 'gs://' in reason


def test_redirect_to_loopback_is_refused(server, monkeypatch):
    """A 'public' server (127.0.0.2, declared public for this test) redirects to 127.0.0.1."""
    with image_server.running(host='127.0.0.2') as outside:
        real = download.non_public_reason
        monkeypatch.setattr(download, 'non_public_reason',
                            lambda address: None if address == '127.0.0.2' else real(address))
        target = server.url('/img/secret.jpg')
        reason = failure_of(fetch_one(outside.url(f'/redirect/a.jpg?to={target}'), allow_private_networks=False))
        assert reason.startswith('refused') and '127.0.0.1 is a loopback address' in reason
        assert len(outside.hits) == 1 and server.hits == []
        # the same redirect is followed when private networks are allowed
        assert isinstance(fetch_one(outside.url(f'/redirect/a.jpg?to={target}')), FetchedImage)


def test_dns_rebinding_is_caught_when_the_socket_opens(server, monkeypatch):
    """The check sees a public address, the connection then gets 127.0.0.1: refused before any request."""
    answers = iter([['93.184.216.34']])
    fake_dns(monkeypatch, {'rebind.example': lambda: next(answers, ['127.0.0.1'])})
    link = f'http://rebind.example:{server.server_address[1]}/img/a.jpg'
    reason = failure_of(fetch_one(link, allow_private_networks=False))
    assert reason.startswith('refused') and 'reached 127.0.0.1' in reason
    assert server.hits == []


def test_many_downloads_are_in_flight_at_once(server):
    server.latency = 0.3
    outputs = image_server.run_fetch_bundle([server.url(f'/img/{i}.jpg') for i in range(12)], concurrency=8)
    assert sorted(o.link for o in outputs) == sorted(server.url(f'/img/{i}.jpg') for i in range(12))
    assert all(isinstance(o, FetchedImage) for o in outputs)
    assert server.max_in_flight >= 6


def test_one_at_a_time_when_concurrency_is_one(server):
    server.latency = 0.05
    outputs = image_server.run_fetch_bundle([server.url(f'/img/{i}.jpg') for i in range(5)], concurrency=1)
    assert len(outputs) == 5 and server.max_in_flight == 1
