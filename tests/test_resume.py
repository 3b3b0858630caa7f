"""Resume and idempotence: a run killed with SIGKILL and started again with --resume gives the
same predictions.csv as a run that was never stopped, without fetching its done images again."""
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.run import main
from tests import image_server
from transforms import checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = 24


@pytest.fixture(scope='module')
def server():
    with image_server.running(latency=0.15) as httpd:
        yield httpd


@pytest.fixture(scope='module')
def job(server, tmp_path_factory):
    folder = tmp_path_factory.mktemp('resume')
    lines = ['index,image_link,group_id,entity_name']
    for i in range(IMAGES):
        lines.append(f'{i},{server.url(f"/img/r{i}.jpg")},1,item_weight')
    lines.append(f'{IMAGES},{server.url("/img/r0.jpg")},1,voltage')  # a second row on one image
    lines.append(f'{IMAGES + 1},{server.url("/status/404/gone.jpg")},1,item_weight')
    (folder / 'input.csv').write_text('\n'.join(lines) + '\n')
    return folder


def job_argv(folder, output, model_path, *extra):
    return [f'--input={folder / "input.csv"}', f'--output={output}', f'--model_path={model_path}',
            '--ocr_engine=tesseract', '--allow_private_networks', '--fetch_retries=0',
            '--checkpoint_every=2', *extra]


def run_and_kill(argv, checkpoint_dir, timeout=240):
    """Start the job in its own process group; SIGKILL it once it has saved a done image."""
    process = subprocess.Popen([sys.executable, '-m', 'pipeline.run', *map(str, argv), '--fetch_concurrency=1'],
                               cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    ends = time.monotonic() + timeout
    try:
        while time.monotonic() < ends:
            if process.poll() is not None:
                pytest.fail(f'the job ended before it could be killed: {process.stderr.read()[-2000:]}')
            if os.path.isdir(checkpoint_dir) and checkpoint.scan(str(checkpoint_dir)).done:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                return
            time.sleep(0.2)
        pytest.fail('no checkpoint within the time limit')
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.stderr.close()


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_predictions(job, server, model_path):
    whole = job / 'whole'
    assert main(job_argv(job, whole, model_path)) == 0
    expected = (whole / 'predictions.csv').read_bytes()
    assert not (whole / checkpoint.CHECKPOINT_DIR).exists() or not os.listdir(whole / checkpoint.CHECKPOINT_DIR)

    killed = job / 'killed'
    run_and_kill(job_argv(job, killed, model_path), killed / checkpoint.CHECKPOINT_DIR)
    assert not (killed / 'predictions.csv').exists()
    done = checkpoint.scan(str(killed / checkpoint.CHECKPOINT_DIR)).done
    assert 0 < len(done) < IMAGES

    hits_before = len(server.hits)
    assert main(job_argv(job, killed, model_path, '--resume')) == 0
    fetched_again = {server.base + path for path in server.hits[hits_before:]}
    assert not fetched_again & done  # done images were not fetched again
    assert len(fetched_again) == IMAGES + 1 - len(done)  # everything else was, the 404 included
    assert (killed / 'predictions.csv').read_bytes() == expected
    assert not os.listdir(killed / checkpoint.CHECKPOINT_DIR)  # removed once the outputs are whole


@pytest.mark.slow
def test_two_runs_give_byte_identical_predictions(job, model_path):
    for name in ('first', 'second'):
        assert main(job_argv(job, job / name, model_path, '--fetch_concurrency=8')) == 0
    first = (job / 'first' / 'predictions.csv').read_bytes()
    assert first == (job / 'second' / 'predictions.csv').read_bytes()
    assert first.count(b'\n') == IMAGES + 3  # header and every row
    assert first.count(b' gram\n') >= IMAGES - 2  # the labels were read, not just blanks compared


@pytest.mark.slow
def test_resume_without_a_checkpoint_runs_everything(job, model_path, tmp_path):
    assert main(job_argv(job, tmp_path / 'fresh', model_path, '--resume')) == 0
    assert (tmp_path / 'fresh' / 'predictions.csv').read_bytes().count(b'\n') == IMAGES + 3


@pytest.mark.parametrize('resume', [False, True])
def test_an_earlier_runs_outputs_are_removed_before_a_run_writes(tmp_path, resume):
    from pipeline.run import clear_earlier_outputs
    earlier = ['predictions.csv', 'summary.json', 'records/part-00002-of-00003.parquet',
               'failures/part-00000-of-00001.jsonl', 'checkpoint/embedding-1.jsonl', 'notes.txt']
    for name in earlier:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text('from an earlier run')
    clear_earlier_outputs(str(tmp_path), resume)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob('*') if p.is_file())
    assert left == (['checkpoint/embedding-1.jsonl'] if resume else []) + ['notes.txt']
