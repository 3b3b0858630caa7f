"""Sinks and records: output order, failure lines, and the Parquet schema derived from RowResult."""
import dataclasses
import json
import pickle

import pyarrow as pa
import pytest

from transforms.records import RECORD_SCHEMA, Candidate, ImageFacts, OcrResult, OcrWord, RowResult
from transforms.write_outputs import confidence_csv, failure_json, output_line, predictions_csv, write_whole

LINES = [(2, '30', '', '', 0.0), (0, '10', '5.0 gram', '5.0 gram', 0.93456), (1, '20', '', '1.5 litre', 0.41)]


def test_predictions_are_written_in_input_order():
    assert predictions_csv(LINES) == 'index,prediction\n10,5.0 gram\n20,\n30,\n'


def test_confidence_csv_keeps_held_back_predictions_with_four_decimals():
    # row 20 was held back by --min_confidence: blank in predictions.csv, listed here
    assert confidence_csv(LINES) == 'index,prediction,confidence\n10,5.0 gram,0.9346\n20,1.5 litre,0.4100\n30,,0.0000\n'


def test_output_line_takes_prediction_chosen_value_and_confidence():
    result = RowResult(4, '7', 'http://x/a.jpg', '1', 'voltage', '', confidence=0.3, chosen='12.0 volt')
    assert output_line(result) == (4, '7', '', '12.0 volt', 0.3)


def test_failure_line_names_stage_and_reason():
    result = RowResult(0, '9', 'http://x/a.jpg', '1', 'width', '', failure_stage='fetch',
                       failure_reason='HTTPError: 404')
    assert json.loads(failure_json(result)) == {
        'index': '9', 'image_link': 'http://x/a.jpg', 'entity_name': 'width', 'stage': 'fetch',
        'reason': 'HTTPError: 404'}


def test_schema_has_every_record_field_and_round_trips():
    assert RECORD_SCHEMA.names == [f.name for f in dataclasses.fields(RowResult)]
    assert RECORD_SCHEMA.field('embedding').type == pa.list_(pa.float32())
    result = RowResult(
        3, '3', 'http://x/a.jpg', '1', 'item_weight', '500.0 gram', image_source='cache',
        ocr_words=(OcrWord('500g', 1, 2, 3, 4, 91.0, 1),),
        candidates=(Candidate(500.0, 'gram', '500g', 1, 2, 3, 4, True, 1.0),),
        embedding=(0.5, 0.25))
    table = pa.Table.from_pylist([result.to_record()], schema=RECORD_SCHEMA)
    back = table.to_pylist()[0]
    assert back['candidates'][0]['unit'] == 'gram'
    assert back['ocr_words'][0]['text'] == '500g'
    assert back['embedding'] == [0.5, 0.25]


def test_a_whole_file_write_replaces_the_old_one_and_a_failed_one_leaves_no_temporary(tmp_path):
    write_whole(str(tmp_path / 'a.csv'), b'one')
    write_whole(str(tmp_path / 'a.csv'), b'two')
    assert (tmp_path / 'a.csv').read_bytes() == b'two'
    (tmp_path / 'taken').mkdir()
    (tmp_path / 'taken' / 'x').write_text('a folder cannot be replaced by a file')
    with pytest.raises(OSError):
        write_whole(str(tmp_path / 'taken'), b'three')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['a.csv', 'taken']


def test_records_pickle_by_position_and_come_back_equal():
    # Beam holds records between stages as pickles: field names in every one would cost memory per row
    words = (OcrWord('500g', 1, 2, 3, 4, 91.0, 1, engine='ppocrv6', angle=90.0),)
    sha = 'ab' * 32
    for record in (ImageFacts('http://x/a.jpg', 'cache', 640, 480, 0.1, 0.2, sha, from_store=True),
                   OcrResult(words, 0.5, sha),
                   RowResult(3, '3', 'http://x/a.jpg', '1', 'item_weight', '500.0 gram', image_sha256=sha,
                             ocr_words=words, candidates=(Candidate(500.0, 'gram', '500g', 1, 2, 3, 4, True, 1.0),))):
        data = pickle.dumps(record)
        assert pickle.loads(data) == record
        assert b'image_sha256' not in data and b'engine' not in data
