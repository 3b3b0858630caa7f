"""Local worker processes end at once (transforms/worker_exit.py): what they skip and what they keep."""
import os
import subprocess
import sys
import textwrap

import pytest

from transforms import worker_exit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_child(body: str, launcher_pid):
    """A Python process that registers a slow finaliser, then runs `body` (which may hook the fast exit)."""
    script = textwrap.dedent('''
        import atexit, sys
        from transforms import worker_exit
        atexit.register(lambda: print('finalised', flush=True))
        print('working', end='')  # unflushed: the fast exit must flush it
    ''') + textwrap.dedent(body)
    env = {k: v for k, v in os.environ.items() if k != worker_exit.LAUNCHER_ENV}
    if launcher_pid is not None:
        env[worker_exit.LAUNCHER_ENV] = str(launcher_pid)
    return subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=ROOT, env=env)


def test_a_worker_of_a_launcher_skips_the_finalisers_and_keeps_its_output():
    child = run_child('assert worker_exit.exit_fast_when_done()\n', launcher_pid=os.getpid())
    assert child.returncode == 0, child.stderr
    assert child.stdout == 'working'


def test_without_a_launcher_or_in_the_launcher_itself_python_exits_as_usual():
    for launcher in (None, 'self'):
        body = ('import os; os.environ[worker_exit.LAUNCHER_ENV] = str(os.getpid())\n' if launcher else '') + \
            'assert not worker_exit.exit_fast_when_done()\n'
        child = run_child(body, launcher_pid=None)
        assert child.returncode == 0, child.stderr
        assert child.stdout == 'workingfinalised\n'


def test_a_worker_that_dies_of_an_exception_keeps_its_exit_code_and_traceback():
    child = run_child('worker_exit.exit_fast_when_done()\nraise RuntimeError("boom")\n', launcher_pid=os.getpid())
    assert child.returncode == 1
    assert 'RuntimeError: boom' in child.stderr and child.stdout == 'workingfinalised\n'


def test_the_launcher_names_itself_only_while_a_multi_process_job_runs(monkeypatch):
    monkeypatch.delenv(worker_exit.LAUNCHER_ENV, raising=False)
    with worker_exit.for_local_workers(direct_multi_processing=True):
        assert os.environ[worker_exit.LAUNCHER_ENV] == str(os.getpid())
        assert not worker_exit.exit_fast_when_done()  # this process is the launcher
    assert worker_exit.LAUNCHER_ENV not in os.environ
    with worker_exit.for_local_workers(direct_multi_processing=False):
        assert worker_exit.LAUNCHER_ENV not in os.environ


class MarkExit:
    """A stage whose workers note, from a finaliser, that Python's normal exit ran."""

    def __init__(self, folder):
        self.folder = folder

    def __call__(self, element):
        import atexit
        import os as worker_os

        from transforms import worker_exit as hook
        if not getattr(MarkExit, 'registered', False):
            MarkExit.registered = True
            path = worker_os.path.join(self.folder, str(worker_os.getpid()))
            atexit.register(lambda: open(path, 'w').close())
            hook.exit_fast_when_done()
        return element


@pytest.mark.slow
def test_the_workers_of_a_two_process_job_exit_without_finalisation(tmp_path):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.testing.util import assert_that, equal_to

    def job(folder, fast):
        folder.mkdir()
        options = PipelineOptions(['--direct_num_workers=2', '--direct_running_mode=multi_processing'])
        with worker_exit.for_local_workers(direct_multi_processing=fast):
            with beam.Pipeline(options=options) as pipeline:
                out = pipeline | beam.Create(list(range(20))) | beam.Reshuffle() | beam.Map(MarkExit(str(folder)))
                assert_that(out, equal_to(list(range(20))))
        return os.listdir(folder)

    assert job(tmp_path / 'usual', fast=False)  # the finaliser runs: the test can see it
    assert job(tmp_path / 'fast', fast=True) == []
