"""What finding dimension lines costs: CPU per image of transforms/logic/lines.py's masks, with and
without the slanted lines, on real images.

    .venv/bin/python bench/lines_bench.py [--images ../shared/data/dev/images] [--limit 300] [--repeats 5]

Reads each image as the OCR stage sees it (grey, at most --ocr_max_side, as pipeline.run's
default), then times, per repeat, every image's straight-line masks alone (the morphology of
the local-contrast mask) and line_masks as the job calls it (straight and slanted). Prints the
median over repeats of the mean CPU milliseconds per image, and their ratio per repeat: one
process, the two interleaved per image, so the machine's load moves both alike.
"""
import argparse
import glob
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from transforms.logic.lines import contrast_mask, line_masks, straight_lines  # noqa: E402


def straight_masks(image: np.ndarray) -> tuple:
    """The vertical and horizontal masks as line_masks makes them, without the slanted lines."""
    return straight_lines(*contrast_mask(image))


def grey(path: str, max_side: int) -> np.ndarray:
    image = Image.open(path).convert('L')
    image.thumbnail((max_side, max_side))
    return np.asarray(image)


def cpu_ms(function, image) -> float:
    started = time.process_time()
    function(image)
    return (time.process_time() - started) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', default=os.path.join('..', 'shared', 'data', 'dev', 'images'))
    parser.add_argument('--limit', type=int, default=300)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--ocr_max_side', type=int, default=4000)
    args = parser.parse_args(argv)
    paths = sorted(glob.glob(os.path.join(args.images, '*')))[:args.limit]
    if not paths:
        raise SystemExit(f'no images in {args.images}')
    images = [grey(path, args.ocr_max_side) for path in paths]
    straight, both, ratios = [], [], []
    for _ in range(args.repeats):
        times = [(cpu_ms(straight_masks, image), cpu_ms(line_masks, image)) for image in images]
        straight.append(statistics.mean(t for t, _ in times))
        both.append(statistics.mean(t for _, t in times))
        ratios.append(both[-1] / straight[-1])
    print(f'{len(images)} images from {args.images}, {args.repeats} repeats (medians)\n')
    print('| masks | CPU ms per image | ratio |')
    print('|---|---|---|')
    print(f'| vertical and horizontal | {statistics.median(straight):.1f} | 1.00 |')
    print(f'| vertical, horizontal and slanted (line_masks) | {statistics.median(both):.1f} | '
          f'{statistics.median(ratios):.2f} |')
    print(f'\nslanted lines add {statistics.median(both) - statistics.median(straight):.1f} ms per image')
    return 0


if __name__ == '__main__':
    sys.exit(main())
