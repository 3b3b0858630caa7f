"""The bad-input table: the whole job over a CSV of every bad input, served by a loopback server.

    .venv/bin/python bench/bad_input.py [--ocr_engine tesseract]

Writes the CSV of tests/image_server.BAD_INPUT_CASES, runs `pipeline.run` on it (DirectRunner,
--allow_private_networks since the server is on 127.0.0.1), and prints for each case the
stage and reason recorded and the prediction, then rows in against rows out and the exit code.
"""
import argparse
import csv
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import transforms  # noqa: E402,F401  (first: it quiets TensorFlow's and Google's start-up warnings)
import pyarrow.parquet as pq  # noqa: E402

from pipeline.run import main as run_job  # noqa: E402
from tests import image_server  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--ocr_engine', default='tesseract')
    args = parser.parse_args(argv)
    server = image_server.start()
    folder = tempfile.mkdtemp(prefix='specscan-bad-input-')
    try:
        expected = list(image_server.write_bad_input_csv(server, os.path.join(folder, 'input.csv')).values())
        code = run_job([f'--input={folder}/input.csv', f'--output={folder}/out', f'--ocr_engine={args.ocr_engine}',
                        '--allow_private_networks', *image_server.BAD_INPUT_OPTIONS])
    finally:
        server.shutdown()
        server.server_close()
    records = sorted(pq.read_table(glob.glob(f'{folder}/out/records/*.parquet')).to_pylist(),
                     key=lambda r: r['ordinal'])
    with open(f'{folder}/out/predictions.csv', newline='') as handle:
        predictions = list(csv.DictReader(handle))
    print('\n| case | stage | reason (first 90 characters) | prediction |')
    print('|---|---|---|---|')
    for (case, _), record, prediction in zip(expected, records, predictions):
        reason = record['failure_reason'][:90].replace('|', '/')
        print(f"| {case} | {record['failure_stage'] or '-'} | {reason or '-'} | {prediction['prediction'] or '-'} |")
    print(f'\nrows in {len(expected)}, rows in predictions.csv {len(predictions)}, records {len(records)}, '
          f'exit code {code}; outputs under {folder}/out')
    return 0 if len(expected) == len(predictions) == len(records) and code == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
