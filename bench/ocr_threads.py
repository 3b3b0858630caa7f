"""PP-OCR session threads: wall time to read dev images, one process alone and two at once, with
1 thread (the default, transforms/logic/engines.py), 2 threads that sleep when idle, 2 that spin.

    .venv/bin/python bench/ocr_threads.py [--images 60] [--runs 3]

Each run reads the first `--images` dev images (grey, as PaddleReader gets them) with
PP-OCRv6 in fresh processes: 'alone' is one process reading them all (a worker whose share
outlasts the other's), 'two at once' is two processes reading half each at the same time
(every worker busy). It prints the median wall seconds of the runs, each setting's ratio to
1 thread, and whether every setting read exactly the words 1 thread read.
"""
import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
IMAGES = os.path.join(ROOT, '..', 'shared', 'data', 'dev', 'images')
SETTINGS = (('1 thread (default)', 1, False), ('2 threads, sleeping', 2, False), ('2 threads, spinning', 2, True))


def read_share(threads: int, spin: bool, images: int, part: int, parts: int) -> None:
    """In this process: read every parts-th of the first images, print seconds and a hash of the words."""
    import numpy as np
    from PIL import Image

    import transforms.logic.engines as engines
    one_thread_options = engines._one_thread_options

    def session_options():  # the job's options, with this setting's threads
        options = one_thread_options()
        options.intra_op_num_threads = threads
        if not spin:
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        return options
    engines._one_thread_options = session_options
    reader = engines.PaddleReader('ppocrv6', 960, 1000, 1600)
    reader.setup()
    names = sorted(os.listdir(IMAGES))[:images][part::parts]
    digest = hashlib.sha256()
    started = time.perf_counter()
    for name in names:
        words = reader.read(np.asarray(Image.open(os.path.join(IMAGES, name)).convert('L')))
        digest.update(repr(words).encode())
    print(f'{time.perf_counter() - started:.3f} {digest.hexdigest()}')


def timed(threads: int, spin: bool, images: int, parts: int) -> tuple:
    """(seconds until the last of `parts` concurrent processes is done reading, their words' hashes)."""
    processes = [subprocess.Popen([sys.executable, __file__, '--share', str(threads), str(int(spin)), str(images),
                                   str(part), str(parts)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
                 for part in range(parts)]
    results = [process.communicate()[0].split() for process in processes]
    return max(float(seconds) for seconds, _ in results), tuple(digest for _, digest in results)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=int, default=60)
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--share', nargs=5, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.share:
        threads, spin, images, part, parts = args.share
        return read_share(threads, bool(spin), images, part, parts)
    print(f'PP-OCRv6 on the first {args.images} dev images, {os.cpu_count()} cores, median of {args.runs} runs')
    print('| threads per session | alone, s | ratio | two at once, s | ratio | same words |')
    print('|---|---|---|---|---|---|')
    baseline, words = {}, {}
    for name, threads, spin in SETTINGS:
        row = [name]
        same = True
        for parts in (1, 2):
            runs = [timed(threads, spin, args.images, parts) for _ in range(args.runs)]
            seconds = statistics.median(s for s, _ in runs)
            baseline.setdefault(parts, seconds)
            words.setdefault(parts, runs[0][1])
            same &= all(digests == words[parts] for _, digests in runs)
            row += [f'{seconds:.1f}', f'{seconds / baseline[parts]:.2f}']
        print('| ' + ' | '.join(row + ['yes' if same else 'no']) + ' |')


if __name__ == '__main__':
    main()
