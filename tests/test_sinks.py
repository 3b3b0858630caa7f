"""Sinks and records: output order, failure lines, and the Parquet schema derived from RowResult."""
import dataclasses
import json

import pyarrow as pa

from transforms.records import RECORD_SCHEMA, Candidate, OcrWord, RowResult
from transforms.sinks import failure_json, predictions_csv


def test_predictions_are_written_in_input_order():
    text = predictions_csv([(2, '30', ''), (0, '10', '5.0 gram'), (1, '20', '1.5 litre')])
    assert text == 'index,prediction\n10,5.0 gram\n20,1.5 litre\n30,\n'


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
