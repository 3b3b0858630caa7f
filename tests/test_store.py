"""The result store (transforms/files.py's Store, transforms/logic/store_*.py): entries, versions,
conditional fetches, and its faults.

Unit tests write and read entries directly; the fetch tests run the pipeline's FetchImageFn
against the loopback server, whose /img/ answers carry an ETag; the slow tests run whole jobs:
a warmed store gives the same outputs as a fresh run, a corrupt entry is read again, a run
killed with SIGKILL resumes from its store, and two runs share one store at once.
"""
import dataclasses
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.options import default_options, job_config
from pipeline.run import main
from pipeline.run_folder import clear_earlier_outputs
from tests import image_server
from transforms.embed import EmbedConfig
from transforms.files import Store, StoreConfig, model_hash
from transforms.logic.lite0 import MODEL_PATH
from transforms.logic.store_entries import LinkRecord, link_key, sha256_of
from transforms.logic.store_version import code_hash, version_of, version_parts
from transforms.preprocess import PreprocessConfig
from transforms.read_text import OcrConfig
from transforms.records import EMBEDDING, FACTS, OCR, Embedding, FetchedImage, ImageFacts, OcrResult, OcrWord

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHA = 'ab' + '0' * 62
WORDS = (OcrWord('Net', 10, 20, 30, 12, 97.5, 0, 'ppocrv6'),
         OcrWord('500g', 45, 20, 40, 12, 88.25, 0, 'ppocrv6', vertical=True, angle=90.0, line_beside=True))
VECTOR = tuple(np.linspace(-1, 1, 1280, dtype=np.float32).tolist())


def save_reading(store: Store, sha256: str = SHA) -> None:
    store.save(FACTS, sha256, ImageFacts('http://x/a.jpg', 'cache', 640, 480, 0.1, 0.2, sha256))
    store.save(OCR, sha256, OcrResult(WORDS, 1.5, sha256))
    store.save(EMBEDDING, sha256, Embedding(VECTOR, 0.3, sha256))


@pytest.fixture
def store(tmp_path):
    return Store(StoreConfig(str(tmp_path / 'store'), 'v0123456789abcdef'))


def test_a_reading_comes_back_exactly_as_it_was_saved(store):
    save_reading(store)
    reading, corrupt = store.recall(SHA)
    assert corrupt == 0
    assert (reading.width, reading.height) == (640, 480)
    assert reading.words == WORDS  # every field, the floats exact
    assert reading.vector == VECTOR  # float32 in base64: bit for bit
    assert os.path.exists(store.entry_path(SHA, OCR))
    assert store.entry_path(SHA, OCR).endswith(f'v0123456789abcdef/ab/{SHA}.ocr.json')


def test_an_image_is_only_recalled_whole(store):
    store.save(FACTS, SHA, ImageFacts('http://x/a.jpg', 'cache', 640, 480, 0.1, 0.2, SHA))
    store.save(OCR, SHA, OcrResult(WORDS, 1.5, SHA))
    assert store.recall(SHA) == (None, 0)  # no embedding yet: read it again


def test_another_version_does_not_see_the_entries(store):
    save_reading(store)
    other = Store(StoreConfig(store.root, 'vfedcba9876543210'))
    assert other.recall(SHA) == (None, 0)


@pytest.mark.parametrize('damage', ['garbage', 'truncated', 'empty', 'foreign', 'other version', 'bad vector'])
def test_a_corrupt_or_foreign_entry_is_ignored_and_counted(store, damage, caplog):
    save_reading(store)
    other = 'cd' + '1' * 62
    save_reading(store, other)
    path = store.entry_path(SHA, OCR)
    text = open(path).read()
    if damage == 'garbage':
        open(path, 'wb').write(os.urandom(200))
    elif damage == 'truncated':
        open(path, 'w').write(text[:len(text) // 2])
    elif damage == 'empty':
        open(path, 'w').write('')
    elif damage == 'foreign':  # another image's entry copied over this one
        open(path, 'w').write(open(store.entry_path(other, OCR)).read())
    elif damage == 'other version':
        open(path, 'w').write(text.replace(store.version, 'v' + 'e' * 16))
    elif damage == 'bad vector':
        path = store.entry_path(SHA, EMBEDDING)
        entry = json.load(open(path))
        entry['value']['vector'] = '***not base64***'
        open(path, 'w').write(json.dumps(entry))
    reading, corrupt = store.recall(SHA)
    assert reading is None and corrupt == 1
    assert 'ignored a corrupt store entry' in caplog.text
    assert store.recall(other)[0] is not None  # the others are untouched
    save_reading(store)  # reading the image again writes the entry anew
    reading, corrupt = store.recall(SHA)
    assert reading is not None and corrupt == 0


def test_a_half_written_file_of_a_killed_run_is_never_read(store):
    """A run killed mid-write leaves only a temporary name (writes go through a rename)."""
    save_reading(store)
    path = store.entry_path(SHA, OCR)
    os.remove(path)
    with open(f'{path}.tmp-0123', 'w') as handle:
        handle.write('{"format": 1, "version": ')  # cut off
    assert store.recall(SHA) == (None, 0)  # not there, and not corrupt: simply read again


def test_a_reader_in_the_middle_of_a_write_sees_the_entry_whole_or_not_at_all(store, monkeypatch):
    """Two runs sharing a store write the same entries. A reader looks at the worst moment of each
    write (its temporary file whole, not yet renamed into place): it finds the reading as it was
    before the write (none at first, the whole one after), never a half-made one."""
    looks = []
    rename = os.replace

    def look_then_rename(source, target):
        looks.append(store.recall(SHA))
        rename(source, target)
    monkeypatch.setattr(os, 'replace', look_then_rename)
    save_reading(store)  # facts, OCR and embedding, each renamed after a look
    assert looks == [(None, 0)] * 3
    first, _ = store.recall(SHA)
    save_reading(store)  # written again, as a second run sharing the store does
    assert looks[3:] == [(first, 0)] * 3 and first.words == WORDS


@pytest.mark.parametrize('missing', [FileNotFoundError, OSError])
def test_an_entry_another_run_writes_while_it_is_looked_up_is_no_error(store, monkeypatch, missing):
    """Two runs share a store: one's open finds no file, the other then writes it, and the check
    that follows finds it there. Locally (FileNotFoundError) the entry was simply not there yet; an
    object store's own 'no such object' error is checked, and the entry, whole by now, is read."""
    from apache_beam.io.filesystems import FileSystems
    real_open = FileSystems.open
    written = []

    def open_as_the_other_run_writes(path, *args, **kwargs):
        if not written:
            written.append(path)
            save_reading(store)
            raise missing(f'no such object: {path}')
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(FileSystems, 'open', open_as_the_other_run_writes)
    reading, corrupt = store.recall(SHA)
    assert corrupt == 0 and written
    assert (reading is None) if missing is FileNotFoundError else (reading.words == WORDS)


def test_link_records_round_trip_and_a_foreign_one_is_ignored(store):
    record = LinkRecord('https://cdn.example.com/a.jpg', SHA, '"e1"', 'Tue, 14 Nov 2023 22:13:20 GMT', 100.0)
    store.save_fetch(record)
    assert store.last_fetch(record.link) == (record, 0)
    assert store.last_fetch('https://cdn.example.com/b.jpg') == (None, 0)
    foreign = store.link_path('https://cdn.example.com/b.jpg')
    os.makedirs(os.path.dirname(foreign))
    os.replace(store.link_path(record.link), foreign)
    assert store.last_fetch('https://cdn.example.com/b.jpg') == (None, 1)


def test_only_links_fetched_since_the_resumed_run_started_are_trusted(tmp_path):
    record = LinkRecord('https://cdn.example.com/a.jpg', SHA, checked=1000.0)
    assert not Store(StoreConfig(str(tmp_path), 'v1')).trusted(record)  # not resuming: always checked
    assert Store(StoreConfig(str(tmp_path), 'v1', trust_links_since=999.0)).trusted(record)
    assert not Store(StoreConfig(str(tmp_path), 'v1', trust_links_since=1001.0)).trusted(record)


def test_the_links_fetched_before_are_listed_once_and_only_for_a_version_with_readings(store):
    assert store.fetched_links() is None  # nothing read with this version yet
    store.save_fetch(LinkRecord('https://cdn.example.com/a.jpg', SHA))
    assert store.fetched_links() is None  # a link record alone: the version may be new (another OCR)
    save_reading(store)
    assert store.fetched_links() == {link_key('https://cdn.example.com/a.jpg')}
    assert link_key('https://cdn.example.com/a.jpg') == int(os.path.basename(
        store.link_path('https://cdn.example.com/a.jpg'))[:16], 16)  # the record's name, cut to 64 bits


def sort_links(config, links):
    """(output, link) for each link, sorted against one listing of the store as a job's workers see it."""
    from apache_beam.pvalue import TaggedOutput
    from transforms.fetch_images import list_fetched_links, sort_link
    known = list_fetched_links(config)
    return [(o.tag, o.value) if isinstance(o, TaggedOutput) else ('others', o)
            for link in links for o in sort_link(link, known)]


def test_links_the_store_has_fetched_are_known_and_the_rest_new(store):
    from transforms.records import NEW_LINKS
    known, new = 'https://cdn.example.com/a.jpg', 'https://cdn.example.com/new.jpg'
    save_reading(store)
    store.save_fetch(LinkRecord(known, SHA))
    config = StoreConfig(store.root, store.version)
    assert sort_links(config, [known, new]) == [('others', known), (NEW_LINKS, new)]
    other_version = StoreConfig(store.root, 'v' + 'f' * 16)  # a new OCR engine: all new, none spread
    assert sort_links(other_version, [known, new]) == [('others', known), ('others', new)]


def test_a_store_that_cannot_be_listed_only_loses_the_even_split(store, monkeypatch, caplog):
    def refuse(self):
        raise OSError('403 listing denied')
    monkeypatch.setattr(Store, 'fetched_links', refuse)
    assert sort_links(StoreConfig(store.root, store.version), ['https://cdn.example.com/a.jpg']) == \
        [('others', 'https://cdn.example.com/a.jpg')]  # the runner's own split
    assert "could not list the store's links: 403 listing denied" in caplog.text


class NotePid:
    """Appends each link to a file named by the worker process that handled it."""

    def __init__(self, folder):
        self.folder = folder

    def __call__(self, link):
        with open(os.path.join(self.folder, str(os.getpid())), 'a') as handle:
            handle.write(link + '\n')
        return link


@pytest.mark.slow
def test_the_new_links_of_a_night_are_dealt_evenly_between_two_local_workers(store, tmp_path):
    """Left to the runner's chance, 69 new images were once split 31 against 38."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.util import assert_that, equal_to
    from transforms.fetch_images import SpreadNewLinks
    save_reading(store)
    known = [f'https://cdn.example.com/{i}.jpg' for i in range(360)]
    new = [f'https://cdn.example.com/new-{i}.jpg' for i in range(40)]
    for link in known:
        store.save_fetch(LinkRecord(link, SHA))
    folder = tmp_path / 'pids'
    folder.mkdir()
    options = PipelineOptions(['--direct_num_workers=2', '--direct_running_mode=multi_processing'])
    with beam.Pipeline(options=options) as pipeline:
        links = (pipeline | beam.Create(random.Random(7).sample(known + new, len(known + new)))  # a catalogue's order
                 | beam.Reshuffle() | SpreadNewLinks(StoreConfig(store.root, store.version))
                 | beam.Map(NotePid(str(folder))))
        assert_that(links, equal_to(known + new))
    shares = [open(folder / name).read().split() for name in os.listdir(folder)]
    assert len(shares) == 2
    assert sorted(sum(link in new for link in share) for share in shares) == [20, 20]


def parts(**changes):
    ocr = OcrConfig('ppocrv6', 11, 960, 1000, 1600)
    preprocess = PreprocessConfig(8, 40_000_000, 4000)
    embed = EmbedConfig(MODEL_PATH, 1, 16)
    for name, value in changes.items():
        if name in ('engine', 'detection_side'):
            ocr = dataclasses.replace(ocr, **{name: value})
        elif name in ('batch_size', 'ocr_max_side'):
            preprocess = dataclasses.replace(preprocess, **{name: value})
        else:
            embed = dataclasses.replace(embed, **{name: value})
    return version_parts(ocr, preprocess, embed, model_hash(embed.model_path))


def test_the_version_changes_with_what_changes_reading_and_only_with_that(tmp_path):
    base = version_of(parts())
    assert base == version_of(parts()) and base.startswith('v') and len(base) == 17
    for change in ({'engine': 'rapidocr'}, {'detection_side': 1200}, {'ocr_max_side': 3000}, {'skip': True}):
        assert version_of(parts(**change)) != base, change
    for change in ({'batch_size': 32}, {'max_batch_size': 64}):  # batching changes no result
        assert version_of(parts(**change)) == base, change
    described = parts()
    assert set(described['ocr_models']) >= {'ppocrv6/small/det/det.onnx', 'ppocrv6/small/rec/rec.onnx'}
    assert len(described['cnn_model']) == 64 and set(described['code']) >= {'logic/units.py', 'logic/engines.py', 'preprocess.py'}


def test_the_reading_code_counts_by_what_it_does_not_by_its_comments(tmp_path):
    def hashed(name, source):
        path = tmp_path / f'{name}.py'
        path.write_text(source)
        return code_hash(str(path))
    code = 'def side(image):\n    return max(image.shape)\n'
    base = hashed('base', code)
    reworded = ('"""Sides."""\n# the longer side\n\n\n'
                'def side(image):\n    """Its longer side."""\n    return max(image.shape)  # px\n')
    assert hashed('reworded', reworded) == base
    assert hashed('changed', code.replace('max', 'min')) != base
    assert hashed('only_a_docstring', 'def side(image):\n    """Its longer side."""\n') != base


def test_another_cnn_file_is_another_version(tmp_path):
    model = tmp_path / 'model.keras'
    model.write_bytes(b'one')
    first = version_of(parts(model_path=str(model)))
    os.utime(model, (1, 1))
    model.write_bytes(b'two')
    assert version_of(parts(model_path=str(model))) != first


def test_another_saved_model_folder_is_another_version_and_one_without_its_graph_is_missing(tmp_path):
    model = tmp_path / 'model'
    (model / 'variables').mkdir(parents=True)
    (model / 'saved_model.pb').write_bytes(b'graph')
    weights = model / 'variables' / 'variables.data-00000-of-00001'
    weights.write_bytes(b'one')
    first = version_of(parts(model_path=str(model)))
    assert version_of(parts(model_path=str(model) + '/')) == first
    os.utime(weights, (1, 1))
    weights.write_bytes(b'two')  # the same graph with other weights
    assert version_of(parts(model_path=str(model))) != first
    (model / 'saved_model.pb').unlink()
    assert model_hash(str(model)) == 'missing'


def test_the_options_pick_the_store_and_its_version(tmp_path):
    own = job_config(default_options([f'--output={tmp_path}/out'])).store
    assert own.root == f'{tmp_path}/out/store' and own.trust_links_since is None
    shared = job_config(default_options([f'--output={tmp_path}/out', f'--store={tmp_path}/s'])).store
    assert shared.root == f'{tmp_path}/s' and shared.version == own.version
    assert job_config(default_options(['--output=o', '--ocr_engine=tesseract'])).store.version != own.version
    # the reading changes with the detection size, the engine's own or the flag's
    versions = {job_config(default_options(['--output=o', *flags])).store.version for flags in (
        [], ['--ppocr_detection_side=960'], ['--ocr_engine=ppocrv6'], ['--ocr_engine=ppocrv6', '--ppocr_detection_side=736'])}
    assert len(versions) == 4 and job_config(default_options(['--output=o', '--ppocr_detection_side=736'])).store.version == own.version


# --- fetching with a store ------------------------------------------------------------------------

@pytest.fixture(scope='module')
def server():
    with image_server.running() as httpd:
        yield httpd


def fetch_one(link, store_config, **settings):
    [output] = image_server.run_fetch_bundle([link], store=store_config, **settings)
    assert isinstance(output, FetchedImage), output
    return output


def test_a_link_fetched_before_is_asked_for_with_its_etag_and_a_304_reuses_the_reading(server, tmp_path):
    config = StoreConfig(str(tmp_path / 'store'), 'v1')
    link = server.url('/img/etag-a.jpg')
    first = fetch_one(link, config)
    assert first.source == 'network' and first.sha256 == sha256_of(first.data) and first.reading_from_store is None
    assert server.url('/img/etag-a.jpg') not in [server.base + p for p in server.conditional]
    last = Store(config).last_fetch(link)[0]
    assert last.sha256 == first.sha256 and last.etag.startswith('"') and last.last_modified.endswith('GMT')

    again = fetch_one(link, config)  # the store holds no reading yet: an ordinary fetch
    assert again.data == first.data and '/img/etag-a.jpg' not in server.conditional

    save_reading(Store(config), first.sha256)
    unchanged = fetch_one(link, config)
    assert server.conditional[-1] == server.not_modified[-1] == '/img/etag-a.jpg'
    assert unchanged.data == b'' and unchanged.sha256 == first.sha256 and unchanged.reading_from_store.words == WORDS

    server.edits['etag-a.jpg'] = 1  # the shop replaced the picture behind the same link
    not_modified = len(server.not_modified)
    changed = fetch_one(link, config)
    assert server.conditional[-1] == '/img/etag-a.jpg' and len(server.not_modified) == not_modified  # a 200
    assert changed.data and changed.sha256 != first.sha256 and changed.reading_from_store is None
    assert Store(config).last_fetch(link)[0].sha256 == changed.sha256


def test_a_cached_image_is_hashed_as_it_is(server, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    data = image_server.product_jpeg('cached.jpg')
    (images / 'cached.jpg').write_bytes(data)
    config = StoreConfig(str(tmp_path / 'store'), 'v1')
    save_reading(Store(config), sha256_of(data))
    hits = len(server.hits)
    fetched = fetch_one('https://cdn.example.com/p/cached.jpg', config, images_dir=str(images))
    assert fetched.source == 'cache' and fetched.sha256 == sha256_of(data) and fetched.reading_from_store is not None
    (images / 'cached.jpg').write_bytes(image_server.product_jpeg('another.jpg'))  # changed in the cache
    changed = fetch_one('https://cdn.example.com/p/cached.jpg', config, images_dir=str(images))
    assert changed.reading_from_store is None and changed.sha256 != fetched.sha256
    assert len(server.hits) == hits


def test_a_resumed_run_does_not_fetch_what_the_stopped_run_fetched(server, tmp_path):
    config = StoreConfig(str(tmp_path / 'store'), 'v1')
    link = server.url('/img/resumed.jpg')
    first = fetch_one(link, config)
    save_reading(Store(config), first.sha256)
    hits = len(server.hits)
    resumed = fetch_one(link, dataclasses.replace(config, trust_links_since=time.time() - 60))
    assert len(server.hits) == hits  # not asked at all
    assert resumed.source == 'store' and resumed.reading_from_store is not None and resumed.sha256 == first.sha256
    later = fetch_one(link, dataclasses.replace(config, trust_links_since=time.time() + 60))
    assert len(server.hits) == hits + 1 and later.reading_from_store is not None  # an older fetch is checked: a 304


def test_a_store_that_cannot_be_read_costs_a_fetch_not_the_row(server, tmp_path, monkeypatch, caplog):
    def unreadable(*args):
        raise PermissionError('403 Forbidden')

    monkeypatch.setattr(Store, 'last_fetch', unreadable)
    monkeypatch.setattr(Store, 'recall', unreadable)
    fetched = fetch_one(server.url('/img/unreadable.jpg'), StoreConfig(str(tmp_path / 'store'), 'v1'))
    assert fetched.source == 'network' and fetched.reading_from_store is None and fetched.data
    assert "could not read the store's record of" in caplog.text
    assert "could not read the store's reading of" in caplog.text


def test_a_failed_fetch_leaves_no_link_record(server, tmp_path):
    config = StoreConfig(str(tmp_path / 'store'), 'v1')
    [output] = image_server.run_fetch_bundle([server.url('/status/404/gone.jpg')], store=config)
    assert output.value[1].stage == 'fetch'
    assert Store(config).last_fetch(server.url('/status/404/gone.jpg')) == (None, 0)


# --- whole jobs ---------------------------------------------------------------------------------

IMAGES = 24
TIMINGS = ('fetch_seconds', 'decode_seconds', 'inference_seconds', 'ocr_seconds', 'choose_seconds')


@pytest.fixture(scope='module')
def slow_server():
    with image_server.running(latency=0.15) as httpd:
        yield httpd


@pytest.fixture(scope='module')
def job(slow_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp('store-job')
    lines = ['index,image_link,group_id,entity_name']
    for i in range(IMAGES):  # names whose images differ (the drawn weight comes from the name)
        lines.append(f'{i},{slow_server.url(f"/img/{chr(97 + i)}.jpg")},1,item_weight')
    lines.append(f'{IMAGES},{slow_server.url("/img/a.jpg")},1,voltage')  # a second row on one image
    lines.append(f'{IMAGES + 1},{slow_server.url("/status/404/gone.jpg")},1,item_weight')
    (folder / 'input.csv').write_text('\n'.join(lines) + '\n')
    return folder


def job_argv(folder, output, model_path, *extra):
    return [f'--input={folder / "input.csv"}', f'--output={output}', f'--model_path={model_path}',
            '--ocr_engine=tesseract', '--allow_private_networks', '--fetch_retries=0', *extra]


def records(output):
    table = pq.read_table(str(output / 'records')).drop_columns(list(TIMINGS) + ['from_store', 'image_source'])
    return sorted(table.to_pylist(), key=lambda record: record['ordinal'])


def assert_same_records(got, expected):
    assert [{**r, 'embedding': None} for r in got] == [{**r, 'embedding': None} for r in expected]
    for record, other in zip(got, expected):
        assert np.allclose(record['embedding'] or [], other['embedding'] or [], atol=1e-5)


def summary(output):
    return json.load(open(output / 'summary.json'))


@pytest.fixture(scope='module')
def fresh(job, model_path):
    """A run with no --store: the outputs every store run must give too."""
    output = job / 'fresh'
    assert main(job_argv(job, output, model_path)) == 0
    assert not (output / 'store').exists()  # its own store is removed at the end
    assert not (output / 'run-started.json').exists()
    return output


@pytest.mark.slow
def test_a_warm_store_gives_the_same_outputs_and_reads_nothing_again(job, fresh, slow_server, model_path):
    store = job / 'nightly-store'
    first, second = job / 'night1', job / 'night2'
    assert main(job_argv(job, first, model_path, f'--store={store}')) == 0
    assert summary(first)['images_from_store'] == 0 and summary(first)['images_read'] == IMAGES
    assert len(glob.glob(str(store / 'v*' / '*' / '*.ocr.json'))) == IMAGES
    assert glob.glob(str(store / 'v*' / 'VERSION.json'))

    not_modified = len(slow_server.not_modified)
    assert main(job_argv(job, second, model_path, f'--store={store}')) == 0
    expected = (fresh / 'predictions.csv').read_bytes()
    assert (first / 'predictions.csv').read_bytes() == expected
    assert (second / 'predictions.csv').read_bytes() == expected
    assert (second / 'confidence.csv').read_bytes() == (fresh / 'confidence.csv').read_bytes()
    # every field but the timings and where the reading came from: exactly as the run that stored it
    # read them, and as a fresh run, up to the CNN's last bits (they vary with how images are batched)
    assert records(second) == records(first)
    assert_same_records(records(second), records(fresh))
    night = summary(second)
    assert (night['images_from_store'], night['images_read'], night['rows_rechosen']) == (IMAGES, 0, IMAGES + 1)
    assert len(slow_server.not_modified) - not_modified == IMAGES  # each asked with its ETag, each a 304
    assert night['store_entries_corrupt'] == 0
    assert store.exists()  # a --store is kept


@pytest.mark.slow
def test_new_rows_are_read_and_a_corrupt_entry_is_read_again(job, fresh, model_path, tmp_path):
    store = tmp_path / 'store'
    assert main(job_argv(job, tmp_path / 'warm', model_path, f'--store={store}')) == 0
    [damaged] = [path for path in glob.glob(str(store / 'v*' / '*' / '*.ocr.json'))
                 if json.load(open(path))['sha256'] == records(fresh)[3]['image_sha256']]
    open(damaged, 'w').write('{"format": 1, "vers')
    bigger = tmp_path / 'bigger.csv'
    lines = (job / 'input.csv').read_text().splitlines()
    link = lines[1].split(',')[1]
    bigger.write_text('\n'.join(lines + [f'90,{link.replace("/a.jpg", "/new-1.jpg")},1,item_weight',
                                         f'91,{link.replace("/a.jpg", "/new-2.jpg")},1,item_weight']) + '\n')
    argv = [a for a in job_argv(job, tmp_path / 'next', model_path, f'--store={store}') if not a.startswith('--input')]
    assert main([f'--input={bigger}', *argv]) == 0
    night = summary(tmp_path / 'next')
    assert (night['images_from_store'], night['images_read'], night['store_entries_corrupt']) == (IMAGES - 1, 3, 1)
    assert (tmp_path / 'next' / 'predictions.csv').read_text().startswith((fresh / 'predictions.csv').read_text())
    assert json.load(open(damaged))['kind'] == 'ocr'  # written whole again


def run_and_kill(argv, store_dir, timeout=240):
    """Start the job in its own process group; SIGKILL it once it has stored a whole image."""
    process = subprocess.Popen([sys.executable, '-m', 'pipeline.run', *map(str, argv), '--fetch_concurrency=1'],
                               cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ends = time.monotonic() + timeout
    try:
        while time.monotonic() < ends:
            if process.poll() is not None:
                pytest.fail(f'the job ended before it could be killed: {process.stderr.read()[-2000:]}')
            if stored_images(store_dir):
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return
            time.sleep(0.2)
        pytest.fail('nothing stored within the time limit')
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.stderr.close()


def stored_images(store_dir) -> set:
    """The sha256 of every image whose whole reading is in the store."""
    kinds = {}
    for path in glob.glob(os.path.join(str(store_dir), 'v*', '*', '*.json')):
        sha256, kind = os.path.basename(path).split('.')[:2]
        kinds.setdefault(sha256, set()).add(kind)
    return {sha256 for sha256, found in kinds.items() if found == {FACTS, OCR, EMBEDDING}}


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_store_to_the_same_predictions(job, fresh, slow_server, model_path):
    """Killed once it has stored an image: how many more it stored before the kill landed depends on
    the machine and is not asserted; whatever it stored, the resumed run reads only the rest and
    ends with the fresh run's predictions."""
    killed = job / 'killed'
    run_and_kill(job_argv(job, killed, model_path), killed / 'store')
    assert not (killed / 'predictions.csv').exists()
    done = stored_images(killed / 'store')
    assert done

    hits_before = len(slow_server.hits)
    assert main(job_argv(job, killed, model_path, '--resume')) == 0
    fetched_again = {slow_server.base + path for path in slow_server.hits[hits_before:]}
    assert len(fetched_again) == IMAGES + 1 - summary(killed)['images_from_store']  # the 404 too
    assert summary(killed)['images_from_store'] >= len(done)
    assert (killed / 'predictions.csv').read_bytes() == (fresh / 'predictions.csv').read_bytes()
    assert not (killed / 'store').exists()  # removed once the outputs are whole


@pytest.mark.slow
def test_a_killed_run_leaves_a_store_the_next_run_uses(job, fresh, model_path, tmp_path):
    store = tmp_path / 'store'
    run_and_kill(job_argv(job, tmp_path / 'killed', model_path, f'--store={store}'), store)
    done = stored_images(store)
    assert main(job_argv(job, tmp_path / 'next', model_path, f'--store={store}')) == 0
    assert summary(tmp_path / 'next')['images_from_store'] >= len(done) > 0
    assert summary(tmp_path / 'next')['store_entries_corrupt'] == 0
    assert (tmp_path / 'next' / 'predictions.csv').read_bytes() == (fresh / 'predictions.csv').read_bytes()


@pytest.mark.slow
def test_two_runs_sharing_a_store_at_once_both_finish_with_the_same_outputs(job, fresh, model_path, tmp_path):
    store = tmp_path / 'shared'
    processes = [subprocess.Popen([sys.executable, '-m', 'pipeline.run',
                                   *job_argv(job, tmp_path / name, model_path, f'--store={store}', '--quiet')],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for name in ('a', 'b')]
    for process in processes:
        _, errors = process.communicate(timeout=600)
        assert process.returncode == 0, errors[-2000:]
    for name in ('a', 'b'):
        assert (tmp_path / name / 'predictions.csv').read_bytes() == (fresh / 'predictions.csv').read_bytes()
    assert len(stored_images(store)) == IMAGES
    assert main(job_argv(job, tmp_path / 'c', model_path, f'--store={store}')) == 0  # and it reads back whole
    assert summary(tmp_path / 'c')['images_from_store'] == IMAGES
    assert summary(tmp_path / 'c')['store_entries_corrupt'] == 0


@pytest.mark.slow
def test_resume_without_a_store_runs_everything(job, model_path, tmp_path):
    assert main(job_argv(job, tmp_path / 'fresh', model_path, '--resume')) == 0
    assert (tmp_path / 'fresh' / 'predictions.csv').read_bytes().count(b'\n') == IMAGES + 3
    assert summary(tmp_path / 'fresh')['images_from_store'] == 0


@pytest.mark.parametrize('resume', [False, True])
def test_an_earlier_runs_outputs_are_removed_before_a_run_writes(tmp_path, resume):
    earlier = ['predictions.csv', 'summary.json', 'records/part-00002-of-00003.parquet',
               'failures/part-00000-of-00001.jsonl', 'store/v1/ab/ab12.ocr.json', 'run-started.json', 'notes.txt']
    for name in earlier:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('from an earlier run')
    clear_earlier_outputs(str(tmp_path), resume)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob('*') if p.is_file())
    assert left == ['notes.txt'] + (['run-started.json', 'store/v1/ab/ab12.ocr.json'] if resume else [])


def test_the_store_command_lists_versions_and_prunes_all_but_the_current_one(tmp_path, capsys):
    from pipeline import store_tool
    root = str(tmp_path / 'store')
    current = job_config(default_options(['--output=o', '--ocr_engine=tesseract'])).store.version
    save_reading(Store(StoreConfig(root, current)))
    save_reading(Store(StoreConfig(root, 'v00000000000000aa')), 'cd' + '1' * 62)
    save_reading(Store(StoreConfig(root, 'v00000000000000aa')))
    Store(StoreConfig(root, current)).save_fetch(LinkRecord('https://x/a.jpg', SHA))
    leftover = Store(StoreConfig(root, current)).entry_path(SHA, OCR) + '.tmp-dead'
    open(leftover, 'w').write('{"half')

    assert store_tool.main(['--store', root, '--ocr_engine=tesseract']) == 0
    out = capsys.readouterr().out
    assert f'read version {current}' in out
    assert f'| {current} | 1 | 4 |' in out and out.count('current |') == 1
    assert '| v00000000000000aa | 2 | 6 |' in out
    assert os.path.exists(os.path.join(root, 'v00000000000000aa'))  # listing deletes nothing

    assert store_tool.main(['--store', root, '--ocr_engine=tesseract', '--prune']) == 0
    assert 'pruned 1 old versions and 1 leftover temporary files' in capsys.readouterr().out
    assert sorted(os.listdir(root)) == sorted([current, 'links'])
    assert Store(StoreConfig(root, current)).recall(SHA)[0] is not None
    assert store_tool.main(['--store', str(tmp_path / 'none')]) == 2


def test_the_summary_says_what_the_store_gave():
    from pipeline.summary import format_summary
    summary = {'output': 'out', 'rows_in': 8, 'predictions_made': 6, 'failures_by_stage': {}, 'failures_by_kind': {},
               'images': 7, 'images_by_source': {'cache': 7}, 'stage_seconds': {}, 'wall_seconds': 1.0,
               'images_from_store': 5, 'images_read': 2, 'rows_rechosen': 6, 'store_entries_corrupt': 1}
    first_line = format_summary(summary).splitlines()[0]
    assert first_line.endswith('; 5 images reused from the store (6 rows chosen again), 2 read anew; '
                               '1 corrupt store entries ignored')
    assert 'store' not in format_summary(dict(summary, images_from_store=0, store_entries_corrupt=0)).splitlines()[0]


def test_the_servers_unique_tiny_images_differ_in_bytes_not_pixels(server):
    """bench/memory_scale.py needs distinct images (a store keys them by their bytes) that cost the same to decode."""
    import io

    import requests
    from PIL import Image
    bodies = [requests.get(server.url(f'/tiny-unique/{name}.jpg'), timeout=5).content for name in ('a', 'b')]
    assert sha256_of(bodies[0]) != sha256_of(bodies[1])
    pixels = [np.asarray(Image.open(io.BytesIO(body))) for body in bodies + [image_server.tiny_jpeg()]]
    assert pixels[0].shape == (80, 100, 3) and (pixels[0] == pixels[1]).all() and (pixels[0] == pixels[2]).all()
