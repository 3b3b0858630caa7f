"""Progress: the watcher tails the workers' files; a real run logs progress lines when not on a terminal."""
import io
import os
import subprocess
import sys

import pytest

from pipeline.progress import ProgressWatcher, format_duration

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_rows_follow_the_images_marked_done(tmp_path):
    rows_per_link = {'a': 2, 'b': 1, 'c': 1}
    watcher = ProgressWatcher(str(tmp_path), rows_per_link, rows_total=5, stream=io.StringIO())
    assert watcher.rows_done == 1  # the rejected row
    (tmp_path / '2.FromStore.links').write_text('c\n')  # its reading came from the result store
    (tmp_path / '1.Read.links').write_text('a\nb')  # 'b' is still being written: not counted yet
    watcher.poll()
    assert watcher.rows_done == 4
    assert watcher.line().endswith('1 images reused from the store, 1 read anew')
    with open(tmp_path / '1.Read.links', 'a') as handle:
        handle.write('\n')
    watcher.poll()
    assert watcher.rows_done == 5 and 'rows 5/5 (100%)' in watcher.line()
    assert watcher.line().endswith('1 images reused from the store, 2 read anew')
    (tmp_path / '3.FetchFailed.links').write_text('d\n')  # not a row of this input: ignored
    watcher.poll()
    assert watcher.rows_done == 5


def test_log_mode_prints_a_line_every_n_rows(tmp_path):
    stream = io.StringIO()
    watcher = ProgressWatcher(str(tmp_path), {str(i): 1 for i in range(10)}, 10, mode='log', log_every=4,
                              stream=stream)
    for done in range(1, 11):
        (tmp_path / 'w.links').write_text(''.join(f'{i}\n' for i in range(done)))
        watcher.poll()
        watcher.show()
    lines = stream.getvalue().splitlines()
    assert [line.split(',')[0] for line in lines] == ['specscan: rows 4/10 (40%)', 'specscan: rows 8/10 (80%)']
    assert 'images/s' in lines[0] and 'left' in lines[0]


def test_bar_mode_on_a_terminal(tmp_path):
    stream = Terminal()
    watcher = ProgressWatcher(str(tmp_path), {'a': 1, 'b': 1}, 2, stream=stream, interval=0.05)
    assert watcher.mode == 'bar'
    with watcher:
        (tmp_path / 'w.links').write_text('a\n')
    assert 'rows 1/2 (50%)' in stream.getvalue()


def test_durations_read_well():
    assert [format_duration(s) for s in (5, 125, 7322)] == ['5s', '2m 05s', '2h 02m']


@pytest.mark.slow
def test_a_local_run_logs_progress_when_not_on_a_terminal(drawn_job, tmp_path, model_path):
    input_path, images_dir, truth = drawn_job
    argv = [sys.executable, '-m', 'pipeline.run', f'--input={input_path}', f'--images_dir={images_dir}',
            f'--output={tmp_path / "out"}', f'--model_path={model_path}', '--ocr_engine=tesseract',
            '--progress_every=1']
    run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stderr.splitlines() if line.startswith('specscan: rows')]
    assert lines and lines[-1].startswith(f'specscan: rows {len(truth)}/{len(truth)} (100%)')
    quiet = subprocess.run(argv + ['--quiet', f'--output={tmp_path / "quiet"}'], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert quiet.returncode == 0 and 'specscan: rows' not in quiet.stderr


@pytest.mark.slow
def test_progress_lines_of_a_real_run_count_up_to_every_row(tmp_path, model_path):
    """Images served slowly one at a time. How many lines come along the way depends on the
    machine's speed and is not asserted (the watcher's and the marks' own tests are exact); the
    lines count rows up, never past the total, and the last says every row is done."""
    from tests import image_server
    with image_server.running(latency=0.4) as server:
        lines = ['index,image_link,group_id,entity_name'] + [
            f'{i},{server.url(f"/img/p{i}.jpg")},1,item_weight' for i in range(12)]
        (tmp_path / 'input.csv').write_text('\n'.join(lines) + '\n')
        argv = [sys.executable, '-m', 'pipeline.run', f'--input={tmp_path / "input.csv"}',
                f'--output={tmp_path / "out"}', f'--model_path={model_path}', '--ocr_engine=tesseract',
                '--allow_private_networks', '--fetch_concurrency=1', '--progress_every=3']
        run = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    shares = [line.split()[2] for line in run.stderr.splitlines() if line.startswith('specscan: rows')]
    done = [int(share.split('/')[0]) for share in shares]
    assert shares[-1] == '12/12' and done == sorted(done) and all(share.endswith('/12') for share in shares)


def test_a_worker_marks_each_finished_image_within_its_flush_interval(tmp_path, monkeypatch):
    """The marks reach the file the launcher tails while the bundle is still running: at the first
    element after FLUSH_SECONDS, and at the bundle's end. The clock is a counter here."""
    from transforms import mark_progress
    now = [100.0]
    monkeypatch.setattr(mark_progress.time, 'monotonic', lambda: now[0])
    fn = mark_progress.MarkDoneFn(str(tmp_path), mark_progress.READ)
    fn.setup()
    [path] = list(tmp_path.iterdir())
    fn.process(('https://x/a.jpg', None))
    assert path.read_text() == ''  # buffered: no flush yet
    now[0] += fn.FLUSH_SECONDS + 0.01
    fn.process(('https://x/b\nc.jpg', None))
    assert path.read_text() == 'https://x/a.jpg\nhttps://x/b c.jpg\n'  # one line per link, always
    fn.process(('https://x/d.jpg', None))
    fn.finish_bundle()
    fn.teardown()
    assert path.read_text().splitlines()[-1] == 'https://x/d.jpg' and path.name.endswith('.Read.links')
