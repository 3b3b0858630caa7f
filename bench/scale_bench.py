"""Figures to plan a run with: CPU per image, images per second with 1 and 2 local workers, memory
per worker, and the projected cost of the 131,187-row official test CSV on Dataflow.

    .venv/bin/python bench/scale_bench.py [--set mix] [--rows 120] [--runs 3] [--workers 1 2] \
        [--setting NAME=OPTIONS ...] [--baseline DIR] [--dataflow_workers 10 50] [--machine n1-standard-4]

Each setting is a name and the job options it adds ('default=' for none, 'tiny=--ocr_engine
ppocrv6-tiny'); `--baseline DIR` adds the job as another checkout has it (e.g. `git worktree add
/tmp/f8e3702 f8e3702`, with this one's models/ linked in), run with this checkout's Python. Every
(setting, workers) pair runs `--runs` times on the first `--rows` rows of ../shared/data/<set>
(images from its cache folder), the pairs interleaved run by run so that the machine's noise
falls on all alike. Measured per job:
- CPU seconds of the whole process tree (user + system, start-up included, from wait4), per image;
- wall seconds of the whole command, start to exit (what a user waits), and images per second;
- peak resident memory of the whole tree and of its largest worker process (from /proc).
It prints the medians, the ratio of 2 workers' images per second to 1 worker's in each run and
their median, and the ratio of each setting's CPU per image to the first setting's.

The projection: the official test CSV's distinct images (counted in ../shared/data/test.csv) times
each setting's CPU per image with 2 workers (the most amortised start-up measured here) gives
the CPU-hours; on N Dataflow workers of `--machine` (one SDK process per vCPU, as Dataflow runs
Python), the wall time is those CPU-hours spread over N x vCPUs, plus `--startup_minutes` for the
workers to boot. Dataflow's own costs (shuffle, the join) are not in it.
"""
import argparse
import csv
import os
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = os.path.join(ROOT, '..', 'shared', 'data')
VCPUS = {'n1-standard-2': 2, 'n1-standard-4': 4, 'n1-standard-8': 8, 'n2-standard-4': 4, 'n2-standard-8': 8,
         'e2-standard-4': 4, 'c2-standard-8': 8}

from bench.pipeline_bench import run_job  # noqa: E402


def first_rows(set_name: str, rows: int, work: str) -> str:
    with open(os.path.join(DATA, set_name, 'input.csv'), newline='') as handle:
        table = list(csv.reader(handle))
    path = os.path.join(work, 'input.csv')
    with open(path, 'w', newline='') as handle:
        csv.writer(handle, lineterminator='\n').writerows(table[:rows + 1] if rows else table)
    return path


def test_csv_images() -> int:
    """Distinct image links of the official test CSV."""
    with open(os.path.join(DATA, 'test.csv'), newline='') as handle:
        return len({row['image_link'] for row in csv.DictReader(handle)})


def projection(cpu_per_image: float, images: int, workers: int, vcpus: int, startup_minutes: float) -> tuple:
    """(CPU-hours, wall hours) of `images` on `workers` machines of `vcpus` each, one process per vCPU."""
    cpu_hours = cpu_per_image * images / 3600
    return cpu_hours, cpu_hours / (workers * vcpus) + startup_minutes / 60


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--set', default='mix')
    parser.add_argument('--rows', type=int, default=120)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--setting', action='append', default=[], metavar='NAME=OPTIONS',
                        help="a name and the job options it adds, e.g. 'tiny=--ocr_engine=ppocrv6-tiny'")
    parser.add_argument('--baseline', metavar='DIR', help='also run the default job of the checkout in DIR')
    parser.add_argument('--dataflow_workers', type=int, nargs='+', default=[10, 50])
    parser.add_argument('--machine', default='n1-standard-4', choices=sorted(VCPUS))
    parser.add_argument('--startup_minutes', type=float, default=5.0)
    args = parser.parse_args(argv)
    settings = [(name, ROOT, options.split()) for name, options in
                (item.split('=', 1) for item in (args.setting or ['default=']))]
    if args.baseline:
        settings.append((f'baseline ({os.path.basename(args.baseline.rstrip("/"))})', args.baseline, []))
    work = tempfile.mkdtemp(prefix='specscan-scale-')
    input_path = first_rows(args.set, args.rows, work)
    images_dir = os.path.join(DATA, args.set, 'images')
    results = {(name, w): [] for name, _, _ in settings for w in args.workers}
    for run in range(args.runs):
        for name, checkout, options in settings:
            for workers in args.workers:
                output = os.path.join(work, f'{len(results)}-{name.split()[0]}-w{workers}-r{run}')
                summary = run_job(input_path, output, workers, options, images_dir, checkout)
                results[name, workers].append(summary)
                print(f'run {run + 1}/{args.runs} {name}, {workers} worker(s): '
                      f'{summary["cpu_seconds"] / summary["images"]:.3f} CPU s/image, '
                      f'{summary["images"] / summary["process_wall_seconds"]:.2f} images/s', file=sys.stderr)

    def median(name, workers, figure):
        return statistics.median(figure(s) for s in results[name, workers])
    cpu_per_image = {key: median(*key, lambda s: s['cpu_seconds'] / s['images']) for key in results}
    first = settings[0][0]
    rows = f'first {args.rows} rows' if args.rows else 'all rows'
    print(f'\n{args.set}, {rows} ({results[first, args.workers[0]][0]["images"]} images), '
          f'{args.runs} runs each, interleaved; {os.cpu_count()} cores')
    print('| setting | workers | CPU s/image (median) | vs ' + first + ' | wall s | images/s | '
          'peak memory, all | largest worker |')
    print('|---' * 8 + '|')
    for (name, workers), summaries in results.items():
        key = (name, workers)
        print(f'| {name} | {workers} | {cpu_per_image[key]:.3f} | '
              f'{cpu_per_image[key] / cpu_per_image[first, workers]:.2f} | '
              f'{median(*key, lambda s: s["process_wall_seconds"]):.1f} | '
              f'{median(*key, lambda s: s["images"] / s["process_wall_seconds"]):.2f} | '
              f'{median(*key, lambda s: s["peak_bytes"]) / 2 ** 30:.2f} GiB | '
              f'{median(*key, lambda s: s["peak_worker_bytes"]) / 2 ** 30:.2f} GiB |')
    if {1, 2} <= set(args.workers):
        print('\n2 workers against 1 (images/s, each run\'s pair, then the median):')
        for name, _, _ in settings:
            ratios = [one['process_wall_seconds'] / two['process_wall_seconds']
                      for one, two in zip(results[name, 1], results[name, 2])]
            print(f'  {name}: ' + ', '.join(f'{r:.2f}' for r in ratios) + f'; median {statistics.median(ratios):.2f}x')
    images = test_csv_images()
    vcpus = VCPUS[args.machine]
    most = max(args.workers)
    print(f'\nthe official test CSV: {images} distinct images; CPU per image with {most} local workers; '
          f'{args.machine} ({vcpus} vCPUs, one SDK process each), {args.startup_minutes:g} min to start:')
    print('| setting | CPU-hours | ' + ' | '.join(f'wall on {n} workers' for n in args.dataflow_workers) + ' |')
    print('|---' * (2 + len(args.dataflow_workers)) + '|')
    for name, _, _ in settings:
        cpu_hours = projection(cpu_per_image[name, most], images, 1, vcpus, args.startup_minutes)[0]
        walls = [projection(cpu_per_image[name, most], images, n, vcpus, args.startup_minutes)[1]
                 for n in args.dataflow_workers]
        print(f'| {name} | {cpu_hours:.1f} | ' + ' | '.join(f'{w:.2f} h' for w in walls) + ' |')
    print(f'\noutputs under {work}')


if __name__ == '__main__':
    main()
