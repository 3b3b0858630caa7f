"""Peak memory as the input grows: the fetch and decode path over the 131,187-row test CSV.

    .venv/bin/python bench/memory_scale.py [--rows 10000 50000 0] [--workers 2] [--store]

Rewrites ../shared/data/test.csv so that every image_link points at a loopback server
(tests/image_server.py) that answers each name with the same small generated JPEG (with the
name in a comment segment, so that each image has its own bytes and its own store entry), then runs
`pipeline.run` on the first N rows (0: all) with --ocr_engine none --skip_cnn (fetch, decode,
join, choose, write; no OCR and no CNN, which would take hours on CPU) and samples the
resident memory of the whole process tree every 0.2 s. Prints rows, distinct images, wall
time, peak memory and peak memory per row, so growth with the row count shows. With --store,
each size runs twice with a result store (transforms/files.py's Store): first into an empty store
(cold: every link fetched, hashed and saved), then again on it (warm: every image's reading
comes from the store), so that what the store adds per row shows beside the run without it.
"""
import argparse
import csv
import os
import posixpath
import sys
import tempfile
from urllib.parse import urlparse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from bench.pipeline_bench import run_job  # noqa: E402
from tests import image_server  # noqa: E402

TEST_CSV = os.path.join(ROOT, '..', 'shared', 'data', 'test.csv')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--rows', type=int, nargs='+', default=[10000, 50000, 0])
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--store', action='store_true', help='run each size cold and warm with a --store')
    args = parser.parse_args(argv)
    with open(TEST_CSV, newline='') as handle:
        header, *rows = list(csv.reader(handle))
    server = image_server.start()
    work = tempfile.mkdtemp(prefix='specscan-memory-')
    results = []
    try:
        for count in args.rows:
            chosen = rows[:count] if count else rows
            input_path = os.path.join(work, f'input-{len(chosen)}.csv')
            with open(input_path, 'w', newline='') as handle:
                writer = csv.writer(handle, lineterminator='\n')
                writer.writerow(header)
                for index, link, group, entity in chosen:
                    writer.writerow((index, server.url('/tiny-unique/' + posixpath.basename(urlparse(link).path)), group, entity))
            images = len({row[1] for row in chosen})
            store = [f'--store={os.path.join(work, f"store-{len(chosen)}")}'] if args.store else []
            for run in (('cold', 'warm') if args.store else ('no store',)):
                summary = run_job(input_path, os.path.join(work, f'out-{len(chosen)}-{run}'), args.workers,
                                  ['--ocr_engine=none', '--skip_cnn', '--allow_private_networks', '--images_dir=',
                                   *store])
                results.append((len(chosen), images, run, summary))
                print(f'{len(chosen)} rows, {run}: peak {summary["peak_bytes"] / 2 ** 30:.2f} GiB, '
                      f'{summary["wall_seconds"]:.0f} s', file=sys.stderr)
    finally:
        server.shutdown()
        server.server_close()
    print(f'\nfetch and decode path (--ocr_engine none --skip_cnn), {args.workers} worker processes, '
          f'images from a loopback server, {os.cpu_count()} cores')
    print('| rows | distinct images | store | images reused | wall s | rows/s | peak memory, process tree | launcher | '
          'largest worker |')
    print('|---|---|---|---|---|---|---|---|---|')
    gib = 2 ** 30
    for count, images, run, summary in results:
        print(f'| {count} | {images} | {run} | {summary.get("images_from_store", 0)} | {summary["wall_seconds"]:.0f} | '
              f'{count / summary["wall_seconds"]:.0f} | {summary["peak_bytes"] / gib:.2f} GiB | '
              f'{summary["peak_launcher_bytes"] / gib:.2f} GiB | {summary["peak_worker_bytes"] / gib:.2f} GiB |')
    for run in dict.fromkeys(run for _, _, run, _ in results):
        sizes = [(count, summary) for count, _, kind, summary in results if kind == run]
        if len(sizes) > 1:
            (rows_a, first), (rows_b, last) = sizes[0], sizes[-1]
            growth = (last['peak_bytes'] - first['peak_bytes']) / (rows_b - rows_a)
            print(f'growth from {rows_a} to {rows_b} rows, {run}: {growth / 1024:.1f} kB of peak memory per row')


if __name__ == '__main__':
    main()
