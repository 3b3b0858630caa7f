"""The whole job over a CSV of every bad input, against a real server on 127.0.0.1.

Each bad row must become a failure with its stage and reason, still appear in
predictions.csv, and leave the job's exit code at 0; valid images in unusual modes are read.
"""
import csv
import glob
import json

import pyarrow.parquet as pq
import pytest

from pipeline.run import main
from tests import image_server


@pytest.fixture(scope='module')
def server():
    with image_server.running() as httpd:
        yield httpd


def job_argv(input_path, output, model_path, *extra):
    return [f'--input={input_path}', f'--output={output}', f'--model_path={model_path}',
            '--ocr_engine=tesseract', '--runner=DirectRunner', *extra]


@pytest.fixture(scope='module')
def bad_run(server, tmp_path_factory, model_path):
    folder = tmp_path_factory.mktemp('bad')
    expected = image_server.write_bad_input_csv(server, str(folder / 'input.csv'))
    code = main(job_argv(folder / 'input.csv', folder / 'out', model_path, '--allow_private_networks',
                         *image_server.BAD_INPUT_OPTIONS))
    records = pq.read_table(sorted(glob.glob(str(folder / 'out' / 'records' / '*.parquet')))).to_pylist()
    with open(folder / 'out' / 'predictions.csv', newline='') as handle:
        predictions = list(csv.DictReader(handle))
    failures = [json.loads(line) for path in glob.glob(str(folder / 'out' / 'failures' / '*')) for line in open(path)]
    with open(folder / 'out' / 'summary.json') as handle:
        summary = json.load(handle)
    return code, list(expected.values()), sorted(records, key=lambda r: r['ordinal']), predictions, failures, summary


@pytest.mark.slow
def test_job_ends_with_exit_code_zero(bad_run):
    assert bad_run[0] == 0


@pytest.mark.slow
def test_every_row_in_is_a_row_out_in_order(bad_run):
    _, expected, records, predictions, _, summary = bad_run
    assert len(predictions) == len(expected) == len(records) == summary['rows_in']
    assert [r['ordinal'] for r in records] == list(range(len(expected)))
    assert [p['index'] for p in predictions] == [r['index'] for r in records]


@pytest.mark.slow
@pytest.mark.parametrize('number', range(len(image_server.BAD_INPUT_CASES)))
def test_each_case_fails_at_its_stage_with_a_reason(bad_run, number):
    _, expected, records, predictions, _, _ = bad_run
    case, stage = expected[number]
    record = records[number]
    assert record['failure_stage'] == stage, (case, record['failure_reason'])
    if stage:
        assert record['failure_reason'] and predictions[number]['prediction'] == ''
    else:
        assert record['image_width'] == 640 and 'Net Wt' in record['ocr_text'], case


@pytest.mark.slow
def test_failures_output_lists_every_failed_row(bad_run):
    _, expected, records, _, failures, summary = bad_run
    failed = [r for r in records if r['failure_stage']]
    assert sorted((f['index'], f['stage']) for f in failures) == sorted((r['index'], r['failure_stage']) for r in failed)
    assert summary['failures_by_stage'] == {'decode': 2, 'fetch': 8, 'read': 6}
    assert sum(summary['failures_by_kind'].values()) == len(failed)
    assert summary['failures_by_kind']['fetch: HTTP 404'] == 1


@pytest.mark.slow
def test_reasons_say_what_went_wrong(bad_run):
    _, expected, records, _, _, _ = bad_run
    reasons = {case: record['failure_reason'] for (case, _), record in zip(expected, records)}
    assert reasons['404'].startswith('HTTP 404')
    assert reasons['500 that never recovers'].startswith('HTTP 500') and 'gave up after 3 tries' in reasons['500 that never recovers']
    assert reasons['timeout'].startswith(('timeout', 'deadline'))
    assert reasons['slow drip'].startswith('deadline')
    assert reasons['connection reset mid-body'].startswith('connection')
    assert reasons['body over the cap'].startswith('too large')
    assert reasons['HTML instead of an image'].startswith('not an image')
    assert reasons['zero-byte file'].startswith('empty')
    assert reasons['truncated JPEG'].startswith('undecodable')
    assert reasons['decompression bomb 20000x20000 PNG'].startswith('pixel limit')
    assert reasons['repeated index'].startswith('repeated index')
    assert reasons['unknown entity_name'].startswith("unknown entity_name 'shoe_size'")


@pytest.mark.slow
def test_good_label_is_read_right(bad_run):
    _, _, records, predictions, _, _ = bad_run
    grams = image_server.grams_in('good.jpg')
    assert predictions[0]['prediction'] in (f'{grams} gram', f'{grams}.0 gram')


@pytest.mark.slow
def test_private_addresses_are_refused_by_default(server, tmp_path, model_path):
    path = tmp_path / 'input.csv'
    path.write_text(f'index,image_link,group_id,entity_name\n1,{server.url("/img/secret.jpg")},1,item_weight\n'
                    '2,http://169.254.169.254/latest/meta-data/x.jpg,1,item_weight\n')
    hits_before = len(server.hits)
    assert main(job_argv(path, tmp_path / 'out', model_path)) == 0
    records = pq.read_table(glob.glob(str(tmp_path / 'out' / 'records' / '*.parquet'))).to_pylist()
    reasons = sorted(r['failure_reason'] for r in records)
    assert '127.0.0.1 is a loopback address' in reasons[0] or '127.0.0.1 is a loopback address' in reasons[1]
    assert any('169.254.169.254 is a link-local address' in r for r in reasons)
    assert len(server.hits) == hits_before  # no request reached the server


def test_unwritable_output_stops_at_once(server, tmp_path, model_path, capsys):
    path = tmp_path / 'input.csv'
    path.write_text('index,image_link,group_id,entity_name\n')
    (tmp_path / 'file').write_text('a file, not a folder')
    assert main(job_argv(path, tmp_path / 'file' / 'out', model_path)) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith('specscan: --output') and 'not writable' in error and '\n' not in error
