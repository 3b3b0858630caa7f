"""The job on real product images from ../shared/data/dev (a slice, to keep the suite short).

The full dev measurement is a command in the README, not a test; this checks that on real
images every row comes out and that our F1 equals the reference scorer's.
"""
import csv
import json
import os
import subprocess
import sys

import pytest

from pipeline.evaluate import evaluate, read_labels, read_predictions
from pipeline.run import run
from tests.conftest import SHARED_DATA

DEV = os.path.join(SHARED_DATA, 'dev')
ROWS = 40

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(DEV, 'labels.csv')),
                                reason='../shared/data is not here')


def head(path, rows, out):
    with open(path, newline='') as handle:
        lines = list(csv.reader(handle))[:rows + 1]
    with open(out, 'w', newline='') as handle:
        csv.writer(handle, lineterminator='\n').writerows(lines)
    return str(out)


@pytest.mark.slow
def test_real_images_every_row_and_same_f1_as_reference(tmp_path, model_path):
    input_path = head(os.path.join(DEV, 'input.csv'), ROWS, tmp_path / 'input.csv')
    labels_path = head(os.path.join(DEV, 'labels.csv'), ROWS, tmp_path / 'labels.csv')
    output = tmp_path / 'out'
    summary = run([f'--input={input_path}', f'--images_dir={os.path.join(DEV, "images")}',
                   f'--output={output}', f'--model_path={model_path}'])
    assert summary['rows_in'] == ROWS and summary['failures_by_stage'] == {}
    predictions = read_predictions(str(output / 'predictions.csv'))
    labels = read_labels(labels_path)
    assert list(predictions) == [row['index'] for row in labels]

    ours = evaluate(labels, predictions)
    reference = json.loads(subprocess.run(
        [sys.executable, os.path.join(SHARED_DATA, '..', 'tools', 'score.py'), labels_path,
         str(output / 'predictions.csv'), '--json'], capture_output=True, text=True, check=True).stdout)
    assert ours['numeric'] == reference['numeric'] and ours['exact'] == reference['exact']
    assert ours['format_errors'] == 0
    assert ours['numeric']['f1'] > 0.2  # real text is being read, not only parsed
