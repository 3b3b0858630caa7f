"""Fetch throughput from a loopback server with added latency: many downloads in flight against one at a time.

    .venv/bin/python bench/fetch_throughput.py [--images 200] [--latency 0.05] [--runs 3] [--concurrency 1 8 32]

Runs FetchImageFn (the pipeline's fetch step, one worker's DoFn, a real bundle) over distinct
links served by tests/image_server.py with `--latency` seconds added to every answer, each
setting `--runs` times, interleaved so that machine noise falls on all settings alike. Prints
images per second (median of the runs) and each setting's ratio to one at a time.
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import transforms  # noqa: E402,F401  (first: it quiets TensorFlow's and Google's start-up warnings)

from tests import image_server  # noqa: E402
from transforms.records import FetchedImage  # noqa: E402


def fetch_all(links, concurrency: int) -> float:
    """Seconds to fetch every link through one FetchImageFn bundle; fails loudly on a failed fetch."""
    started = time.perf_counter()
    outputs = image_server.run_fetch_bundle(links, concurrency=concurrency)
    seconds = time.perf_counter() - started
    fetched = [o for o in outputs if isinstance(o, FetchedImage)]
    if len(fetched) != len(links):
        raise SystemExit(f'{len(links) - len(fetched)} of {len(links)} fetches failed')
    return seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=200)
    parser.add_argument('--latency', type=float, default=0.05)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--concurrency', type=int, nargs='+', default=[1, 8, 32])
    args = parser.parse_args(argv)
    server = image_server.start(latency=args.latency)
    for i in range(args.images):  # draw the images before timing anything
        image_server.product_jpeg(f'{i}.jpg')
    rates = {c: [] for c in args.concurrency}
    try:
        for run in range(args.runs):
            for concurrency in args.concurrency:
                links = [server.url(f'/img/{i}.jpg?run={run}&c={concurrency}') for i in range(args.images)]
                rates[concurrency].append(args.images / fetch_all(links, concurrency))
    finally:
        server.shutdown()
        server.server_close()
    base = statistics.median(rates[args.concurrency[0]])
    print(f'fetch throughput: {args.images} images, {args.latency * 1000:.0f} ms added per request, '
          f'{args.runs} runs each, one worker process, {os.cpu_count()} cores')
    print(f'| downloads in flight | images/s (median) | runs | vs {args.concurrency[0]} in flight |')
    print('|---|---|---|---|')
    for concurrency, values in rates.items():
        median = statistics.median(values)
        runs = ', '.join(f'{v:.1f}' for v in values)
        print(f'| {concurrency} | {median:.1f} | {runs} | {median / base:.1f}x |')


if __name__ == '__main__':
    main()
