"""Property tests: random CSV text, random bytes and random OCR text thrown at the readers and
parsers. No exception may escape, and every row or image in must be accounted for out."""
import csv
import io
import math
import re

import apache_beam as beam
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests import image_server
from tests.images import encode, noise_image
from transforms.fetch_images import FAILED
from transforms.logic.units import ENTITY_UNITS, find_quantities
from transforms.preprocess import FACTS, PreprocessBatchFn
from transforms.read_rows import HEADER, parse_csv_text
from transforms.records import DecodedImage, FetchedImage, RejectedRow, Row

ALL_UNITS = {unit for units in ENTITY_UNITS.values() for unit in units}
HEADER_LINE = ','.join(HEADER) + '\n'
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

field = st.text(alphabet=st.characters(blacklist_categories=['Cs']), max_size=30)
good_row = st.builds(lambda n, e: [f'good-{n}', f'https://cdn.example.com/{n}.jpg', '1', e],
                     st.integers(0, 10 ** 9), st.sampled_from(sorted(ENTITY_UNITS)))


def check_accounting(outputs, expected_count):
    assert len(outputs) == expected_count
    check_ordinals(outputs)


def check_ordinals(outputs):
    assert [o.ordinal for o in outputs] == list(range(len(outputs)))
    for output in outputs:
        assert isinstance(output, (Row, RejectedRow))
        if isinstance(output, RejectedRow):
            assert output.failure.stage == 'read' and output.failure.reason


@FEW
@given(st.lists(st.one_of(st.lists(field, max_size=6), good_row), max_size=25))
def test_every_csv_row_is_a_row_or_a_rejection(rows):
    out = io.StringIO()
    csv.writer(out).writerows(rows)  # '\r\n' endings: a lone '\r' in a field gets quoted
    outputs = list(parse_csv_text(HEADER_LINE + out.getvalue()))
    check_accounting(outputs, sum(1 for row in rows if row))  # csv skips what was written as a blank line
    seen = set()
    for row, output in zip((r for r in rows if r), outputs):
        if row[0].startswith('good-') and len(row) == 4 and row[0] not in seen:
            assert output == Row(output.ordinal, *row)
        seen.add(row[0].strip())


@FEW
@given(st.text(st.one_of(st.sampled_from(',"\r\n '), st.characters(blacklist_categories=['Cs'])), max_size=400))
def test_random_text_after_the_header_never_raises(text):
    outputs = list(parse_csv_text(HEADER_LINE + text))
    lines = [line for line in re.split(r'\r\n|\r|\n', text) if line]
    if '"' in text:  # a quoted field may join lines, never split one
        assert len(outputs) <= len(lines)
        check_ordinals(outputs)
    else:  # without quotes, every line with anything on it is one row or one rejection
        check_accounting(outputs, len(lines))


JPEG = encode(noise_image(40, 30))
PNG = encode(noise_image(40, 30), 'PNG')
image_bytes = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from([b'\xff\xd8\xff', b'\x89PNG\r\n\x1a\n', b'GIF89a', b'BM', b'II*\x00',
                               b'RIFF\x00\x00\x00\x00WEBP']), st.binary(max_size=300)).map(b''.join),
    st.tuples(st.sampled_from([JPEG, PNG]), st.integers(0, len(PNG))).map(lambda t: t[0][:t[1]]),
    st.tuples(st.sampled_from([JPEG, PNG]), st.integers(20, len(JPEG) - 1), st.integers(0, 255)).map(
        lambda t: t[0][:t[1]] + bytes([t[2]]) + t[0][t[1] + 1:]),
)


@FEW
@given(st.lists(image_bytes, min_size=1, max_size=4))
def test_random_bytes_decode_or_fail_one_output_each(datas):
    batch = [FetchedImage(f'http://x/{i}.jpg', data, 'network', 0.0) for i, data in enumerate(datas)]
    outputs = list(PreprocessBatchFn(max_pixels=4_000_000, ocr_max_side=1000).process(batch))
    facts = [o.value[0] for o in outputs if getattr(o, 'tag', None) == FACTS]
    failed = [o.value[0] for o in outputs if getattr(o, 'tag', None) == FAILED]
    decoded = [o.facts.link for o in outputs if isinstance(o, DecodedImage)]
    links = [image.link for image in batch]
    assert sorted(facts) == links and sorted(failed + decoded) == links


@pytest.fixture(scope='module')
def server():
    with image_server.running() as httpd:
        yield httpd


@FEW
@given(body=image_bytes)
def test_random_bodies_from_a_server_give_one_output(server, body):
    server.bodies['fuzz.jpg'] = body
    [output] = image_server.run_fetch_bundle([server.url('/body/fuzz.jpg')], max_bytes=50 * 1024 * 1024)
    if isinstance(output, beam.pvalue.TaggedOutput):
        assert output.tag == FAILED and output.value[1].reason
    else:
        assert output.data == body


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=12))
def test_unit_parser_takes_any_words(words):
    for quantity in find_quantities(words):
        assert quantity.unit in ALL_UNITS and math.isfinite(quantity.value)
        assert 0 <= quantity.first_word <= quantity.last_word < len(words)
