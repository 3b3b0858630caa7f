"""The `specscan` command: its subcommands, the entry point setup.py declares, and a quiet console."""
import fnmatch
import importlib
import logging
import os
import runpy
import sys

import pytest

from pipeline import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_help_lists_each_subcommand_on_one_line(capsys):
    assert cli.main(['--help']) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in ('run', 'evaluate', 'report', 'errors', 'train', 'store'):
        assert sum(line.split()[:1] == [name] for line in lines) == 1, name


@pytest.mark.parametrize('argv', [[], ['frobnicate']], ids=['none', 'unknown'])
def test_no_or_an_unknown_subcommand_exits_2(capsys, argv):
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    if argv:
        assert error.count('\n') == 1 and "'frobnicate'" in error and 'run, evaluate, report, errors, train, store' in error


def test_each_subcommand_hands_the_rest_of_its_arguments_to_its_modules_main(monkeypatch):
    seen = []
    for name, (module, _) in cli.COMMANDS.items():
        monkeypatch.setattr(importlib.import_module(module), 'main', lambda argv, name=name: seen.append((name, argv)) or 7)
    for name in cli.COMMANDS:
        assert cli.main([name, '--x', '1']) == 7
    assert seen == [(name, ['--x', '1']) for name in ('run', 'evaluate', 'report', 'errors', 'train', 'store')]


def test_run_help_is_the_jobs_help(capsys, monkeypatch):
    assert cli.main(['run', '--help']) == 0
    out = capsys.readouterr().out
    assert '--input' in out and '--ocr_engine' in out and '--skip_cnn' in out
    assert out.startswith('usage: python -m pipeline.run')
    from pipeline import run
    monkeypatch.setattr(run, 'exit_without_teardown', lambda code: None)
    monkeypatch.setattr(sys, 'argv', ['specscan', 'run', '--help'])  # as the console script gets it
    cli.main()
    assert capsys.readouterr().out.startswith('usage: specscan run')


def test_evaluate_through_the_command(tmp_path, capsys):
    (tmp_path / 'labels.csv').write_text('index,entity_name,entity_value\n1,item_weight,500.0 gram\n2,voltage,12.0 volt\n')
    (tmp_path / 'predictions.csv').write_text('index,prediction\n1,500 gram\n2,\n')
    assert cli.main(['evaluate', '--labels', str(tmp_path / 'labels.csv'),
                     '--predictions', str(tmp_path / 'predictions.csv')]) == 0
    assert 'F1 0.6667' in capsys.readouterr().out.splitlines()[-1]  # P 1, R 1/2


def test_run_from_the_console_ends_as_python_m_pipeline_run_does(monkeypatch):
    """The console script leaves through run.exit_without_teardown (see there why); a caller passing argv
    gets the exit code back instead."""
    from pipeline import run
    ended = []
    monkeypatch.setattr(run, 'exit_without_teardown', ended.append)
    monkeypatch.setattr(run, 'main', lambda argv: 3)
    assert cli.main(['run']) == 3 and ended == []
    monkeypatch.setattr(sys, 'argv', ['/usr/bin/specscan', 'run'])
    cli.main()
    assert ended == [3] and sys.argv[0] == 'specscan run'  # argparse's usage lines say 'specscan run'


def setup_kwargs(monkeypatch):
    """What setup.py hands to setuptools.setup(), read without installing anything."""
    import setuptools
    given = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kwargs: given.update(kwargs))
    runpy.run_path(os.path.join(ROOT, 'setup.py'))
    return given


def test_setup_declares_the_specscan_command(monkeypatch):
    scripts = setup_kwargs(monkeypatch)['entry_points']['console_scripts']
    name, target = (part.strip() for part in scripts[0].split('='))
    module, function = target.split(':')
    assert len(scripts) == 1 and name == 'specscan'
    assert getattr(importlib.import_module(module), function) is cli.main


def test_setup_ships_the_report_templates(monkeypatch):
    patterns = setup_kwargs(monkeypatch)['package_data']['pipeline']
    folder = os.path.join(ROOT, 'pipeline', 'report_templates')
    names = [f'report_templates/{name}' for name in os.listdir(folder)]
    assert names and all(any(fnmatch.fnmatch(name, p) for p in patterns) for name in names)


@pytest.mark.slow
def test_workers_do_not_warn_about_specscan_flags(caplog):
    """A 2-process DirectRunner job with specscan's flags: each worker parses them before it imports
    specscan, and used to log 'Discarding unparseable args' with all of them."""
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.options import quiet_workers
    options = PipelineOptions(['--input=in.csv', '--output=out', '--ocr_engine=none', '--skip_cnn',
                               '--direct_num_workers=2', '--direct_running_mode=multi_processing'])
    quiet_workers(options)
    caplog.set_level(logging.INFO)
    with beam.Pipeline(options=options) as pipeline:
        pipeline | beam.Create([1, 2, 3]) | beam.Map(lambda x: x + 1)
    from_workers = [r.getMessage() for r in caplog.records if 'Worker:' in r.getMessage()]
    assert from_workers  # the workers' log reaches this process: a warning would be seen
    assert not [message for message in from_workers if 'Discarding unparseable args' in message]


def test_worker_processes_inherit_a_filter_for_google_api_cores_python_warning(monkeypatch):
    """What a local worker prints on start-up: importing Beam's GCP extras in a fresh process gives
    google-api-core's FutureWarning about Python 3.11 without the filter, none with it."""
    import subprocess
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.options import quiet_workers
    monkeypatch.setenv('PYTHONWARNINGS', 'default::DeprecationWarning')
    quiet_workers(PipelineOptions([]))
    quiet_workers(PipelineOptions([]))  # twice: one filter, the user's own kept
    filters = os.environ['PYTHONWARNINGS'].split(',')
    assert filters == ['default::DeprecationWarning', 'ignore::FutureWarning:google.api_core._python_version_support']
    probe = [sys.executable, '-c', 'import google.cloud.bigquery']
    quiet = subprocess.run(probe, capture_output=True, text=True, env=os.environ)
    assert 'FutureWarning' not in quiet.stderr
    noisy = subprocess.run(probe, capture_output=True, text=True, env=dict(os.environ, PYTHONWARNINGS=''))
    if 'FutureWarning' not in noisy.stderr:
        pytest.skip('this google-api-core does not warn about the Python version')


def test_setup_ships_every_package(monkeypatch):
    packages = setup_kwargs(monkeypatch)['packages']
    found = sorted(os.path.relpath(folder, ROOT).replace(os.sep, '.') for top in ('pipeline', 'transforms')
                   for folder, _, files in os.walk(os.path.join(ROOT, top)) if '__init__.py' in files)
    assert sorted(packages) == found and 'transforms.logic' in packages


# --- a command line that refuses what it does not know ---

@pytest.mark.parametrize('typo, meant', [('--stor=/tmp/store', '--store'), ('--min_confidense=0.9', '--min_confidence'),
                                         ('--ocr_engin', '--ocr_engine'), ('--direct_num_worker=2',
                                                                           '--direct_num_workers')])
def test_run_refuses_an_unknown_flag_before_any_work_naming_the_nearest(tmp_path, capsys, typo, meant):
    (tmp_path / 'input.csv').write_text('index,image_link,group_id,entity_name\n')
    output = tmp_path / 'out'
    argv = [f'--input={tmp_path / "input.csv"}', f'--output={output}', typo, 'tesseract'][:4 if '=' not in typo else 3]
    assert cli.main(['run', *argv]) == 2
    error = capsys.readouterr().err
    assert error == f'specscan: unknown option {typo.split("=")[0]}; did you mean {meant}?\n'
    assert not output.exists()  # refused before anything was written


@pytest.mark.parametrize('flags', [['--runner=DirectRunner', '--direct_num_workers=2'],
                                   ['--region', 'europe-west1', '--project=p', '--temp_location=gs://b/t'],
                                   ['--experiments=use_runner_v2', '--sdk_container_image=img', '--save_main_session'],
                                   ['--dask_client_address=tcp://127.0.0.1:8786'], ['--store', '/tmp/s', '--resume']])
def test_beams_dataflows_and_dasks_own_options_pass_untouched(flags):
    from pipeline.arguments import check_pipeline_flags
    check_pipeline_flags(['--input=a.csv', '--output=o', *flags])  # raises on an unknown one


def test_an_old_option_name_still_works_for_a_release_and_names_the_new_one(capsys):
    from pipeline.options import default_options, job_config
    from pipeline.run import parse
    options = parse(['--input=a.csv', '--output=o', '--rapidocr_min_side=800']).view_as(
        type(default_options()))
    assert options.ppocr_min_side == 800 and job_config(options).ocr.min_side == 800
    assert '--rapidocr_min_side is now --ppocr_min_side' in capsys.readouterr().err
    assert default_options(['--ppocr_min_side=700']).ppocr_min_side == 700
    assert default_options().ppocr_min_side == 1000


@pytest.mark.parametrize('command, typo, meant', [('evaluate', '--label', '--labels'),
                                                  ('errors', '--example=3', '--examples'),
                                                  ('report', '--gallerie=10', '--gallery'),
                                                  ('train', '--fold=3', '--folds'),
                                                  ('store', '--ocr_engin=tesseract', '--ocr_engine')])
def test_every_subcommand_refuses_an_unknown_flag_in_one_line(tmp_path, capsys, command, typo, meant):
    given = {'evaluate': ['--predictions=p.csv'], 'errors': ['--labels=l.csv', '--records=r'],
             'report': ['--records=r', '--labels=l.csv', '--predictions=p.csv'], 'train': ['--records=r', '--labels=l'],
             'store': [f'--store={tmp_path}']}[command]
    with pytest.raises(SystemExit) as exit_info:
        code = cli.main([command, *given, typo])
        raise SystemExit(code)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].endswith(f'unknown option {typo.split("=")[0]}; did you mean {meant}?')


def test_an_abbreviated_option_is_no_option(capsys):
    with pytest.raises(SystemExit):
        cli.main(['evaluate', '--label=l.csv', '--pred=p.csv'])
    assert 'unknown option --label; did you mean --labels?' in capsys.readouterr().err
