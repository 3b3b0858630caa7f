"""The whole job end to end on drawn images: TestPipeline with assert_that, then run()'s outputs."""
import csv
import glob
import json

import apache_beam as beam
import pytest
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline.graph import Specscan
from pipeline.options import SpecscanOptions, job_config
from pipeline.run import run


def argv(input_path, images_dir, output, model_path):
    return [f'--input={input_path}', f'--images_dir={images_dir}', f'--output={output}',
            f'--model_path={model_path}', '--runner=DirectRunner']


@pytest.mark.slow
def test_predictions_for_every_row(drawn_job, tmp_path, model_path):
    input_path, images_dir, truth = drawn_job
    options = PipelineOptions(argv(input_path, images_dir, str(tmp_path / 'out'), model_path))
    pipeline = TestPipeline(options=options)
    results = pipeline | Specscan(job_config(options.view_as(SpecscanOptions)))
    assert_that(results | 'IndexAndPrediction' >> beam.Map(lambda r: (r.index, r.prediction)),
                equal_to(list(truth.items())))
    pipeline.run().wait_until_finish()


@pytest.mark.slow
@pytest.mark.parametrize('blank', [False, True])
def test_blank_when_unread_leaves_the_row_with_nothing_read_blank(drawn_job, tmp_path, model_path, blank):
    """The rule chooser guesses the group's usual voltage for a.jpg, which prints none, unless
    --blank_when_unread (the learned chooser abstains there anyway: truth['103'] is blank)."""
    input_path, images_dir, truth = drawn_job
    assert truth['103'] == ''
    value, unit = 12.0, 'volt'  # group 7's usual voltage: the first of its usual values in priors.json
    expected = dict(truth, **{'103': '' if blank else (value, unit)})
    options = PipelineOptions(argv(input_path, images_dir, str(tmp_path / 'out'), model_path)
                              + ['--chooser=rules'] + (['--blank_when_unread'] if blank else []))
    pipeline = TestPipeline(options=options)
    results = pipeline | Specscan(job_config(options.view_as(SpecscanOptions)))

    def as_read(result):  # the usual value is compared as a number, however the group writes it
        if result.index == '103' and result.prediction:
            number, unit = result.prediction.split(' ', 1)
            return result.index, (float(number), unit)
        return result.index, result.prediction
    assert_that(results | 'IndexAndPrediction' >> beam.Map(as_read), equal_to(list(expected.items())))
    pipeline.run().wait_until_finish()


@pytest.mark.slow
def test_run_writes_every_output(drawn_job, tmp_path, model_path):
    input_path, images_dir, truth = drawn_job
    output = tmp_path / 'out'
    summary = run(argv(input_path, images_dir, str(output), model_path))

    with open(output / 'predictions.csv', newline='') as handle:
        predictions = list(csv.DictReader(handle))
    assert [p['index'] for p in predictions] == list(truth)  # every row, input order
    assert {p['index']: p['prediction'] for p in predictions} == truth
    with open(output / 'confidence.csv', newline='') as handle:
        assert handle.readline() == 'index,prediction,confidence\n'
        handle.seek(0)
        confidence = list(csv.DictReader(handle))
    assert [c['index'] for c in confidence] == list(truth)
    assert {c['index']: c['prediction'] for c in confidence} == truth  # --min_confidence 0 holds nothing back
    for row in confidence:  # 4 decimals in [0, 1]; 0 exactly where nothing was predicted
        assert len(row['confidence'].split('.')[1]) == 4
        assert (0 < float(row['confidence']) <= 1) if row['prediction'] else row['confidence'] == '0.0000'

    records = pq.read_table(sorted(glob.glob(str(output / 'records' / '*.parquet')))).to_pylist()
    assert sorted(r['index'] for r in records) == sorted(truth)
    by_index = {r['index']: r for r in records}
    assert len(by_index['100']['embedding']) == 1280
    assert by_index['100']['embedding'] == by_index['103']['embedding']  # one image, read once
    assert any(c['unit'] == 'gram' and c['allowed'] for c in by_index['100']['candidates'])
    assert 'Net Wt' in by_index['100']['ocr_text']
    assert by_index['100']['ocr_seconds'] > 0 and by_index['100']['inference_seconds'] > 0
    assert {c['index']: float(c['confidence']) for c in confidence} == {i: r['confidence'] for i, r in by_index.items()}

    failures = [json.loads(line) for path in glob.glob(str(output / 'failures' / '*'))
                for line in open(path)]
    assert {(f['index'], f['stage']) for f in failures} == {('104', 'decode'), ('105', 'read')}

    assert summary['rows_in'] == len(truth)
    assert summary['predictions_made'] == 3 and summary['predictions_held_back'] == 0
    assert summary['failures_by_stage'] == {'decode': 1, 'read': 1}
    assert summary['images_by_source'] == {'cache': 4} and summary['images'] == 4
    assert 0 <= summary['seconds_after_last_image'] < summary['wall_seconds']  # the join, choose and write
    with open(output / 'summary.json') as handle:
        written = json.load(handle)
    assert written['rows_in'] == len(truth)
    assert (written['input'], written['images_dir']) == (input_path, images_dir)  # what `report --run` reads
    assert (written['confidence_truth'], written['min_confidence']) == ('catalogue', 0.0)
    from pipeline import summary as summary_command
    assert summary_command.main(['--output', str(output)]) == 0  # read back later, e.g. after Dataflow
    assert summary_command.main(['--output', str(tmp_path / 'nothing')]) == 2


def test_unreadable_input_stops_with_one_line(tmp_path, capsys):
    from pipeline.run import main
    code = main([f'--input={tmp_path}/missing.csv', f'--output={tmp_path}/out'])
    assert code == 2
    assert 'missing.csv does not exist' in capsys.readouterr().err


def test_a_model_folder_without_its_saved_model_stops_with_one_line(drawn_job, tmp_path, capsys):
    from pipeline.run import main
    input_path, images_dir, _ = drawn_job
    (tmp_path / 'half_model' / 'variables').mkdir(parents=True)  # e.g. a copy that stopped early
    assert main(argv(input_path, images_dir, str(tmp_path / 'out'), str(tmp_path / 'half_model'))) == 2
    assert 'half_model does not exist: run `make model`' in capsys.readouterr().err


def test_help_lists_every_option(capsys):
    from pipeline.run import main
    from tools.write_metadata import option_actions
    assert main(['--help']) == 0
    shown = capsys.readouterr().out
    assert all(f'--{action.dest}' in shown for action in option_actions())


@pytest.mark.parametrize('value', ['1.5', '-0.1'])
def test_min_confidence_outside_0_to_1_stops_with_one_line(drawn_job, tmp_path, model_path, capsys, value):
    from pipeline.run import main
    input_path, images_dir, _ = drawn_job
    assert main(argv(input_path, images_dir, str(tmp_path / 'out'), model_path) + [f'--min_confidence={value}']) == 2
    assert '--min_confidence' in capsys.readouterr().err


def test_a_store_inside_the_runs_own_store_folder_stops_with_one_line(drawn_job, tmp_path, model_path, capsys):
    """--output/store/ is cleared by each run: a --store there would be lost every night."""
    from pipeline.run import main
    input_path, images_dir, _ = drawn_job
    output = tmp_path / 'out'
    assert main(argv(input_path, images_dir, str(output), model_path) + [f'--store={output}/store/']) == 2
    assert 'keep a --store outside --output' in capsys.readouterr().err


def test_wrong_header_stops_with_one_line(tmp_path, capsys):
    from pipeline.run import main
    (tmp_path / 'in.csv').write_text('id,url\n1,http://x/a.jpg\n')
    assert main([f'--input={tmp_path}/in.csv', f'--output={tmp_path}/out']) == 2
    assert 'header must be index,image_link,group_id,entity_name' in capsys.readouterr().err


def test_missing_learned_chooser_stops_with_one_line(drawn_job, tmp_path, model_path, capsys, monkeypatch):
    import pathlib

    import pipeline.run as run_module
    from pipeline.run import main
    monkeypatch.setattr(run_module, 'CHOOSER_PATH', pathlib.Path(tmp_path / 'absent.json'))
    input_path, images_dir, _ = drawn_job
    assert main(argv(input_path, images_dir, str(tmp_path / 'out'), model_path)) == 2
    assert 'make train' in capsys.readouterr().err
    # the rule chooser runs without it, but not with --min_confidence: every row would be blank
    assert main(argv(input_path, images_dir, str(tmp_path / 'out'), model_path)
                + ['--chooser=rules', '--min_confidence=0.5']) == 2
    assert '--min_confidence needs the confidences' in capsys.readouterr().err


@pytest.mark.slow
def test_annotate_dir_gets_one_image_per_row_with_the_choice_in_red(drawn_job, tmp_path, model_path):
    import io

    import numpy as np
    from PIL import Image
    input_path, images_dir, truth = drawn_job
    annotated = tmp_path / 'annotated'
    run(argv(input_path, images_dir, str(tmp_path / 'out'), model_path) + [f'--annotate_dir={annotated}'])
    names = sorted(p.name for p in annotated.iterdir())
    assert names == ['100.jpg', '101.jpg', '102.jpg', '103.jpg', '104.jpg']  # 105 never had an image
    pixels = np.asarray(Image.open(io.BytesIO((annotated / '100.jpg').read_bytes())).convert('RGB')).astype(int)
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 80) & (pixels[..., 2] < 80)
    assert red.sum() > 100  # the chosen '500 g' is boxed in red
    failed = np.asarray(Image.open(annotated / '104.jpg').convert('RGB')).astype(int)
    assert ((failed[..., 0] > 180) & (failed[..., 1] < 80) & (failed[..., 2] < 80)).sum() == 0


def test_switches_take_a_value_as_a_flex_template_passes_them():
    import pytest
    from pipeline.options import on_off
    for argv, expected in (([], False), (['--resume'], True), (['--resume=true'], True), (['--resume=False'], False)):
        assert PipelineOptions(argv).view_as(SpecscanOptions).resume is expected
    with pytest.raises(ValueError):
        on_off('maybe')


def test_a_launch_that_only_submits_writes_no_summary(drawn_job, tmp_path, model_path):
    """As a Flex Template launcher: the job graph is handed over, no outputs exist yet."""
    from apache_beam.runners.runner import PipelineState

    class Submitted:
        has_job = False

        def wait_until_finish(self):
            return PipelineState.DONE  # what Beam's Dataflow result says when it holds no job

    class LaunchOnly(beam.Pipeline):
        def run(self, test_runner_api='AUTO'):
            return Submitted()

    input_path, images_dir, _ = drawn_job
    output = tmp_path / 'out'
    summary = run(argv(input_path, images_dir, str(output), model_path), test_pipeline=LaunchOnly())
    assert summary['text'].startswith('specscan: job submitted') and 'pipeline.summary' in summary['text']
    assert not (output / 'summary.json').exists()


@pytest.mark.slow
def test_fetch_and_decode_only(drawn_job, tmp_path, model_path):
    """--ocr_engine none --skip_cnn: every row still out, images decoded, nothing read or embedded."""
    input_path, images_dir, truth = drawn_job
    output = tmp_path / 'out'
    summary = run(argv(input_path, images_dir, str(output), model_path) + ['--ocr_engine=none', '--skip_cnn'])
    records = pq.read_table(sorted(glob.glob(str(output / 'records' / '*.parquet')))).to_pylist()
    assert sorted(r['index'] for r in records) == sorted(truth)
    assert all(r['prediction'] == '' and r['embedding'] == [] and r['ocr_words'] == [] for r in records)
    assert {r['index']: r['image_width'] for r in records}['100'] > 0
    assert summary['failures_by_stage'] == {'decode': 1, 'read': 1}
