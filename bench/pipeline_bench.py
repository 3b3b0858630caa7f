"""The whole job on real images, 1 worker process against 2: rows/s, seconds per stage, peak memory.

    .venv/bin/python bench/pipeline_bench.py [--rows 200] [--runs 3] [--workers 1 2] [-- extra job options]

Runs `python -m pipeline.run` on the first `--rows` rows of ../shared/data/dev (images from
its cache folder) with `--direct_running_mode multi_processing` and 1 or 2 worker processes,
`--runs` times each, the settings interleaved so that machine noise falls on both alike. For
each setting it prints the median rows per second (over the job's own wall time, workers'
start included), the median seconds per image of each stage (from summary.json), the median
seconds the join, choose and write take after the last image (from the newest entry of
the run's own result store), the median peak memory of the whole process tree (launcher and
workers, sampled from /proc every 0.2 s), and the ratio of the medians of rows per second against the first setting.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEV = os.path.join(ROOT, '..', 'shared', 'data', 'dev')
STAGES = ('fetch', 'decode', 'inference', 'ocr', 'choose')


def tree_rss_bytes(root: int) -> tuple:
    """Resident memory of a process and all its descendants, from /proc:
    (all together, the process itself, its largest descendant)."""
    parents, rss = {}, {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open(f'/proc/{name}/stat') as handle:
                parents[int(name)] = int(handle.read().rsplit(')', 1)[1].split()[1])
            with open(f'/proc/{name}/statm') as handle:
                rss[int(name)] = int(handle.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        except (OSError, ValueError, IndexError):
            continue
    tree, grown = {root}, True
    while grown:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        grown = bool(children)
        tree |= children
    others = [rss.get(pid, 0) for pid in tree - {root}]
    return sum(rss.get(pid, 0) for pid in tree), rss.get(root, 0), max(others, default=0)


def measured_job(argv: list, cwd: str, output: str) -> dict:
    """Run a job command; its summary.json plus the CPU seconds of its whole process tree (user +
    system, from wait4), its wall seconds from start to exit, and its peak resident memory: of
    the whole tree, of the launcher and of the largest worker (sampled from /proc)."""
    started = time.monotonic()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = [0, 0, 0]

    def sample():
        while process.poll() is None:
            peak[:] = [max(old, new) for old, new in zip(peak, tree_rss_bytes(process.pid))]
            time.sleep(0.2)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    sampler.join()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f'the job failed ({os.waitstatus_to_exitcode(status)}): '
                         f'{errors.decode(errors="replace")[-2000:]}')
    with open(os.path.join(output, 'summary.json')) as handle:
        summary = json.load(handle)
    summary.update(cpu_seconds=usage.ru_utime + usage.ru_stime, process_wall_seconds=wall)
    summary['peak_bytes'], summary['peak_launcher_bytes'], summary['peak_worker_bytes'] = peak
    return summary


def run_job(input_path: str, output: str, workers: int, extra, images_dir: str = os.path.join(DEV, 'images'),
            checkout: str = ROOT) -> dict:
    """The job (of `checkout`, run with this Python) on `workers` local worker processes, measured."""
    argv = [sys.executable, '-m', 'pipeline.run', f'--input={input_path}', f'--images_dir={images_dir}',
            f'--output={output}', '--quiet', f'--direct_num_workers={workers}',
            '--direct_running_mode=multi_processing', *extra]
    return measured_job(argv, checkout, output)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', type=int, default=200, help='first rows of dev/input.csv (0: all 776)')
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    parser.add_argument('extra', nargs='*', help='more options for pipeline.run, after --')
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix='specscan-bench-')
    with open(os.path.join(DEV, 'input.csv'), newline='') as handle:
        rows = list(csv.reader(handle))
    rows = rows[:args.rows + 1] if args.rows else rows
    input_path = os.path.join(work, 'input.csv')
    with open(input_path, 'w', newline='') as handle:
        csv.writer(handle, lineterminator='\n').writerows(rows)
    results = {w: [] for w in args.workers}
    for run in range(args.runs):
        for workers in args.workers:
            summary = run_job(input_path, os.path.join(work, f'w{workers}-r{run}'), workers, args.extra)
            results[workers].append(summary)
            print(f'run {run + 1}/{args.runs}, {workers} worker(s): {summary["rows_in"] / summary["wall_seconds"]:.2f} '
                  f'rows/s, peak {summary["peak_bytes"] / 2 ** 30:.2f} GiB', file=sys.stderr)
    base = statistics.median(s['rows_in'] / s['wall_seconds'] for s in results[args.workers[0]])
    print(f'\npipeline on {len(rows) - 1} dev rows, {args.runs} runs per setting, {os.cpu_count()} cores, '
          f'extra options: {" ".join(args.extra) or "none"}')
    print('| workers | rows/s (median) | runs | ' + ' | '.join(f'{s} s/image' for s in STAGES)
          + f' | join+choose+write s | peak memory | vs {args.workers[0]} worker(s) |')
    print('|---' * (len(STAGES) + 6) + '|')
    for workers, summaries in results.items():
        rates = [s['rows_in'] / s['wall_seconds'] for s in summaries]
        stages = [statistics.median(s['stage_seconds'][stage] / max(s['images'], 1) for s in summaries)
                  for stage in STAGES]
        peak = statistics.median(s['peak_bytes'] for s in summaries) / 2 ** 30
        tail = statistics.median(s['seconds_after_last_image'] or 0.0 for s in summaries)
        print(f'| {workers} | {statistics.median(rates):.2f} | {", ".join(f"{r:.2f}" for r in rates)} | '
              + ' | '.join(f'{v:.3f}' for v in stages)
              + f' | {tail:.1f} | {peak:.2f} GiB | {statistics.median(rates) / base:.2f}x |')
    print(f'\noutputs under {work}')


if __name__ == '__main__':
    main()
