"""ReadRows: validation as pure functions, then the DoFn on a real file."""
import apache_beam as beam
import pytest

from transforms.read_rows import REJECTED, ParseCsvFn, check_header, parse_csv_text, read_header, validate_row
from transforms.records import RejectedRow, Row

LINK = 'https://m.media-amazon.com/images/I/abc.jpg'


def test_valid_row_keeps_fields_and_ordinal():
    row = validate_row(7, ['12', LINK, '3456', 'item_weight'])
    assert row == Row(7, '12', LINK, '3456', 'item_weight')


@pytest.mark.parametrize('fields, reason', [
    (['1', LINK, '2'], 'expected 4 fields, found 3'),
    (['1', LINK, '2', 'width', 'extra'], 'expected 4 fields, found 5'),
    (['', LINK, '2', 'width'], 'empty index'),
    (['1', '', '2', 'width'], 'empty image_link'),
    (['1', 'not a url', '2', 'width'], 'not a URL'),
    (['1', LINK, '2', 'colour'], "unknown entity_name 'colour'"),
])
def test_bad_rows_are_rejected_with_their_reason(fields, reason):
    rejected = validate_row(0, fields)
    assert isinstance(rejected, RejectedRow)
    assert rejected.failure.stage == 'read'
    assert reason in rejected.failure.reason
    assert rejected.index == fields[0]


def test_csv_text_keeps_order_quotes_and_skips_blank_lines():
    text = ('index,image_link,group_id,entity_name\n'
            f'5,{LINK},1,width\n'
            '\n'
            f'"6","{LINK}","1,2",height\n'
            f'7,{LINK},1\n')
    rows = list(parse_csv_text(text))
    assert [r.ordinal for r in rows] == [0, 1, 2]
    assert [r.index for r in rows] == ['5', '6', '7']
    assert rows[1].group_id == '1,2'
    assert isinstance(rows[2], RejectedRow)


def test_wrong_header_is_an_error():
    with pytest.raises(ValueError, match='header'):
        list(parse_csv_text('a,b,c,d\n1,2,3,4\n'))


def test_dofn_tags_rejected_rows(tmp_path):
    path = tmp_path / 'in.csv'
    path.write_text(f'index,image_link,group_id,entity_name\n1,{LINK},1,width\n2,{LINK},1,shoe_size\n')
    outputs = list(ParseCsvFn().process(str(path)))
    assert isinstance(outputs[0], Row)
    assert isinstance(outputs[1], beam.pvalue.TaggedOutput) and outputs[1].tag == REJECTED
    assert outputs[1].value.index == '2'


def test_header_is_read_alone_and_checked(tmp_path):
    path = tmp_path / 'in.csv'
    path.write_bytes(b'\xef\xbb\xbfindex,image_link,group_id,entity_name\n1,x,1,width\n')
    header = read_header(str(path))
    assert header == ['index', 'image_link', 'group_id', 'entity_name']
    check_header(header)
    with pytest.raises(ValueError, match='header must be'):
        check_header(['index', 'link'])
