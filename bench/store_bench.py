"""Nightly runs with a result store (--store): a second night against a fresh run, on dev.

    .venv/bin/python bench/store_bench.py [--repeats 3] [--workers 2] [--new_share 0.1]

Yesterday's catalogue is dev without a seeded random tenth of its images (and their rows);
today's is all of dev: the same rows plus about 10% new ones. The bench runs yesterday's CSV
once with --store to warm a store, then, `--repeats` times:
  fresh          today's CSV with no store (what every night costs today)
  second night   today's CSV with a copy of the warm store (the new rows are read, the rest reused)
  chooser change today's CSV again on that store, now warm for every image, with --chooser rules
                 (a new chooser: nothing is read again, every row is chosen again)
Each time is the wall time of the whole `python -m pipeline.run` process (start-up included),
with `--direct_running_mode multi_processing`. The ratios are taken within each repeat (the
runs of one repeat follow each other, so machine noise falls on both) and their median is
printed. It also checks that the second night's predictions.csv and confidence.csv are
byte-identical to the fresh run's and that their records are equal (timings and the store
flags aside; the CNN vectors to 1e-5, as they vary in their last bits with how images are
batched).
"""
import argparse
import csv
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import pyarrow.parquet as pq

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.pipeline_bench import DEV, run_job  # noqa: E402

TIMINGS = ('fetch_seconds', 'decode_seconds', 'inference_seconds', 'ocr_seconds', 'choose_seconds')
RUN_FLAGS = ('from_store', 'image_source')  # where this run took an image from


def write_catalogues(work: str, new_share: float, seed: int = 7) -> tuple:
    """(yesterday's CSV, today's CSV, new rows): today is all of dev, yesterday lacks a random share of its images."""
    with open(os.path.join(DEV, 'input.csv'), newline='') as handle:
        header, *rows = list(csv.reader(handle))
    links = sorted({row[1] for row in rows})
    new_links = set(random.Random(seed).sample(links, round(len(links) * new_share / (1 + new_share))))
    paths = []
    for name, kept in (('yesterday', [row for row in rows if row[1] not in new_links]), ('today', rows)):
        path = os.path.join(work, f'{name}.csv')
        with open(path, 'w', newline='') as handle:
            writer = csv.writer(handle, lineterminator='\n')
            writer.writerow(header)
            writer.writerows(kept)
        paths.append(path)
    return paths[0], paths[1], sum(1 for row in rows if row[1] in new_links)


def timed_run(input_path: str, output: str, workers: int, extra=()) -> tuple:
    started = time.monotonic()
    summary = run_job(input_path, output, workers, list(extra))
    return time.monotonic() - started, summary


def records(output: str) -> list:
    table = pq.read_table(os.path.join(output, 'records')).drop_columns(list(TIMINGS + RUN_FLAGS))
    return sorted(table.to_pylist(), key=lambda record: record['ordinal'])


def same_outputs(output: str, expected: str) -> bool:
    for name in ('predictions.csv', 'confidence.csv'):
        with open(os.path.join(output, name), 'rb') as a, open(os.path.join(expected, name), 'rb') as b:
            if a.read() != b.read():
                return False
    got, wanted = records(output), records(expected)
    if [{**r, 'embedding': None} for r in got] != [{**r, 'embedding': None} for r in wanted]:
        return False
    return all(np.allclose(r['embedding'] or [], w['embedding'] or [], atol=1e-5) for r, w in zip(got, wanted))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--new_share', type=float, default=0.1, help='new rows today, as a share of yesterday\'s')
    parser.add_argument('--work', default=None, help='folder for the runs (default: a new temporary one)')
    args = parser.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix='specscan-store-bench-')
    os.makedirs(work, exist_ok=True)
    yesterday, today, new_rows = write_catalogues(work, args.new_share)
    warm_store = os.path.join(work, 'store-yesterday')
    warm_seconds, _ = timed_run(yesterday, os.path.join(work, 'yesterday'), args.workers, [f'--store={warm_store}'])
    print(f'warmed the store with yesterday\'s CSV in {warm_seconds:.0f} s', file=sys.stderr)

    times = {'fresh': [], 'second night': [], 'chooser change': []}
    counts, identical = {}, []
    for repeat in range(args.repeats):
        store = os.path.join(work, f'store-{repeat}')
        shutil.copytree(warm_store, store)
        runs = (('fresh', []), ('second night', [f'--store={store}']),
                ('chooser change', [f'--store={store}', '--chooser=rules']))
        for name, extra in runs:
            output = os.path.join(work, f'{name.replace(" ", "-")}-{repeat}')
            seconds, summary = timed_run(today, output, args.workers, extra)
            times[name].append(seconds)
            counts[name] = (summary['images_from_store'], summary['images_read'], summary['rows_rechosen'])
            print(f'repeat {repeat + 1}: {name} {seconds:.1f} s', file=sys.stderr)
        identical.append(same_outputs(os.path.join(work, f'second-night-{repeat}'), os.path.join(work, f'fresh-{repeat}')))
        shutil.rmtree(store)

    with open(today) as handle:
        today_rows = sum(1 for _ in handle) - 1
    print(f'\ndev: today {today_rows} rows, {new_rows} of them new since yesterday; {args.workers} worker processes, '
          f'{os.cpu_count()} cores; {args.repeats} repeats')
    print('| run | wall s, median | ratio to fresh, median of the repeats\' ratios | images reused / read anew | '
          'rows chosen again |')
    print('|---|---|---|---|---|')
    for name, seconds in times.items():
        ratios = [s / f for s, f in zip(seconds, times['fresh'])]
        reused, read, rechosen = counts[name]
        print(f'| {name} | {statistics.median(seconds):.1f} | {statistics.median(ratios):.3f} '
              f'({", ".join(f"{r:.3f}" for r in ratios)}) | {reused} / {read} | {rechosen} |')
    print(f'\nsecond night\'s outputs identical to the fresh run\'s (predictions.csv, confidence.csv, records): '
          f'{sum(identical)} of {len(identical)} repeats')


if __name__ == '__main__':
    main()
