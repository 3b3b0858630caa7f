"""ReadRows: the input CSV as validated `Row`s, and every bad row as a `RejectedRow`.

The file is read by one DoFn with the csv module (not ReadFromText) so that quoted fields
with commas or newlines parse correctly and each row keeps its position: predictions.csv is
written in input order. A catalogue CSV of 131k rows is about 10 MB, which one worker reads
in a second; the rows are then reshuffled so later stages spread out.
"""
import csv
import io
from typing import Iterator, Union
from urllib.parse import urlparse

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.logic.units import ENTITY_UNITS
from transforms.records import REJECTED, ROWS, Failure, RejectedRow, Row

HEADER = ('index', 'image_link', 'group_id', 'entity_name')


def validate_row(ordinal: int, fields: list) -> Union[Row, RejectedRow]:
    """A Row when the fields are sound, else a RejectedRow that says what is wrong."""
    padded = (list(fields) + [''] * len(HEADER))[:len(HEADER)]
    index, link, group_id, entity = (f.strip() for f in padded)

    def reject(reason: str) -> RejectedRow:
        return RejectedRow(ordinal, index, link, group_id, entity, Failure('read', reason))

    if len(fields) != len(HEADER):
        return reject(f'expected {len(HEADER)} fields, found {len(fields)}')
    if not index:
        return reject('empty index')
    if not link:
        return reject('empty image_link')
    if not _looks_like_url(link):
        return reject(f'image_link is not a URL: {link[:100]!r}')
    if entity not in ENTITY_UNITS:
        return reject(f'unknown entity_name {entity[:50]!r}; expected one of {", ".join(sorted(ENTITY_UNITS))}')
    return Row(ordinal, index, link, group_id, entity)


def _looks_like_url(link: str) -> bool:
    """scheme://host/... with no blanks; which schemes and hosts may be fetched is fetch's to decide."""
    try:
        parsed = urlparse(link)
    except ValueError:  # e.g. an unbalanced '[' in the host
        return False
    return bool(parsed.scheme and parsed.netloc) and not any(c.isspace() for c in link)


def check_header(header: list) -> None:
    """ValueError unless the fields are exactly the challenge's header."""
    if tuple(h.strip() for h in header) != HEADER:
        raise ValueError(f'input CSV header must be {",".join(HEADER)}, found {",".join(header)[:200]}')


def parse_csv_text(text: str) -> Iterator[Union[Row, RejectedRow]]:
    """Every non-blank data row of the CSV text, validated; the header row is checked and skipped.

    An index seen before is rejected (its first row is kept): predictions.csv is keyed by index.
    """
    reader = csv.reader(io.StringIO(text, newline=''))
    header = next(reader, None)
    if header is None:
        return
    check_header(header)
    ordinal, first_seen = 0, {}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:  # e.g. a field over csv.field_size_limit(): that row only
            yield RejectedRow(ordinal, '', '', '', '', Failure('read', f'malformed CSV row: {error}'))
            ordinal += 1
            continue
        if not fields:
            continue
        row = validate_row(ordinal, fields)
        if isinstance(row, Row):
            if row.index in first_seen:
                row = RejectedRow(ordinal, row.index, row.image_link, row.group_id, row.entity_name,
                                  Failure('read', f'repeated index: {row.index[:50]!r} was first seen on data '
                                                  f'row {first_seen[row.index] + 1}'))
            else:
                first_seen[row.index] = ordinal
        yield row
        ordinal += 1


def read_header(path: str) -> list:
    """The first CSV row of a file (local or gs://), without reading the rest of it."""
    with FileSystems.open(path) as handle:
        first_line = handle.readline().decode('utf-8-sig', errors='replace')
    return next(csv.reader([first_line]), [])


def read_csv_file(path: str) -> str:
    """The whole input file as text (local or gs://); undecodable bytes are replaced, not fatal."""
    with FileSystems.open(path) as handle:
        return handle.read().decode('utf-8-sig', errors='replace')


class ParseCsvFn(beam.DoFn):
    """Reads one CSV path; valid rows on the main output, rejected ones tagged REJECTED."""

    def __init__(self):
        self.rows_read = beam.metrics.Metrics.counter('ReadRows', 'rows_read')
        self.rows_rejected = beam.metrics.Metrics.counter('ReadRows', 'rows_rejected')

    def process(self, path: str):
        for row in parse_csv_text(read_csv_file(path)):
            self.rows_read.inc()
            if isinstance(row, RejectedRow):
                self.rows_rejected.inc()
                yield beam.pvalue.TaggedOutput(REJECTED, row)
            else:
                yield row


class ReadRows(beam.PTransform):
    """CSV path -> PCollection[Row] (main) and PCollection[RejectedRow] (tag REJECTED)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, pbegin):
        parsed = (pbegin
                  | 'InputPath' >> beam.Create([self.path])
                  | 'ParseCsv' >> beam.ParDo(ParseCsvFn()).with_outputs(REJECTED, main=ROWS))
        rows = parsed[ROWS] | 'SpreadRows' >> beam.Reshuffle()
        return {ROWS: rows, REJECTED: parsed[REJECTED]}

