"""Redraw the README's pictures from the bundled sample: docs/report.png and docs/annotated.jpg;
with --confidence_run, docs/confidence.png from a run on real images.

    .venv/bin/python tools/make_docs_images.py [--run OUT] [--index 6] \
        [--confidence_run OUT --confidence_labels LABELS.csv [--confidence CONFIDENCE.csv]]

Runs the pipeline on samples/ (unless --run names an output folder of that run already),
builds the HTML report with samples/labels.csv, screenshots it with headless Chromium
(cropped to the page, at most 300 kB) and annotates one row's image (the sample's one wrong
row by default). The sample's six rows make a bare confidence chart, so the picture of the
report's confidence section is drawn from a run on real images (its records, or the
cross-validated confidence.csv that train_chooser --cv_predictions writes).
"""
import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from pipeline import report  # noqa: E402
from pipeline.evaluate import read_labels  # noqa: E402
from pipeline.options import default_options  # noqa: E402
from transforms.fetch_images import cache_name  # noqa: E402
from transforms.logic.drawing import annotate  # noqa: E402

SAMPLES = 'samples'                 # paths relative to ROOT, as the report will show them
DEFAULT_RUN = os.path.join('out', 'docs-sample')
MAX_PNG_BYTES = 300_000


def run_sample(out: str) -> None:
    subprocess.run([sys.executable, '-m', 'pipeline.run', '--input', os.path.join(SAMPLES, 'input.csv'),
                    '--images_dir', os.path.join(SAMPLES, 'images'), '--output', out], cwd=ROOT, check=True)


def screenshot(html_path: str, png_path: str, width: int = 1280, height: int = 1600) -> None:
    """The page as headless Chromium draws it, cropped below the last non-background row."""
    binary = shutil.which('chromium') or shutil.which('chromium-browser')
    if not binary:
        raise SystemExit('no chromium on PATH: `make chromium` installs it')
    with tempfile.TemporaryDirectory() as profile:
        raw = os.path.join(profile, 'shot.png')
        subprocess.run([binary, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
                        f'--user-data-dir={profile}', '--virtual-time-budget=5000', f'--screenshot={raw}',
                        f'--window-size={width},{height}', 'file://' + os.path.abspath(html_path)],
                       check=True, capture_output=True, timeout=120)
        image = Image.open(raw).convert('RGB')
    content = Image.eval(image, lambda v: 255 if v < 245 else 0).convert('L').getbbox()
    if content:
        image = image.crop((0, 0, width, min(height, content[3] + 24)))
    for scale in (1.0, 0.85, 0.7, 0.55):
        shown = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
        out = io.BytesIO()
        shown.save(out, format='PNG', optimize=True)
        if out.tell() > MAX_PNG_BYTES:
            out = io.BytesIO()
            shown.quantize(256).save(out, format='PNG', optimize=True)
        if out.tell() <= MAX_PNG_BYTES:
            break
    with open(png_path, 'wb') as handle:
        handle.write(out.getvalue())


def annotated_sample(run: str, index: str, jpg_path: str) -> None:
    records = report.load_records(run)
    if index not in records:
        raise SystemExit(f'no row {index!r} in {run}')
    result = report.result_from_record(records[index])
    with open(os.path.join(SAMPLES, 'images', cache_name(result.image_link)), 'rb') as handle:
        data = handle.read()
    with open(jpg_path, 'wb') as handle:
        options = default_options()  # the sample run's options
        handle.write(annotate(data, result, ocr_max_side=options.ocr_max_side, max_pixels=options.max_image_pixels,
                              max_side=800))


def confidence_page(labels_path: str, run: str, confidence_path, html_path: str) -> None:
    """The report's confidence section alone, styled as in the report."""
    confidence = report.confidences(read_labels(labels_path), report.load_records(run), confidence_path)
    if confidence is None:
        raise SystemExit(f'no confidences in {confidence_path or run}')
    with open(html_path, 'w', encoding='utf-8') as handle:
        handle.write(report.confidence_page(confidence + (report.confidence_chart(*confidence),)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--run', help=f'An output folder of the pipeline on samples/ (default: run it now '
                                      f'into {DEFAULT_RUN}).')
    parser.add_argument('--index', default='6', help='The row whose annotated image is drawn.')
    parser.add_argument('--docs', default='docs')
    parser.add_argument('--confidence_run', help='An output folder of a run on real images: draw '
                                                 'docs/confidence.png from it.')
    parser.add_argument('--confidence_labels', help='The labels of --confidence_run.')
    parser.add_argument('--confidence', help='A confidence.csv to show instead of the run\'s records.')
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    os.makedirs(args.docs, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        run = args.run or DEFAULT_RUN
        if not args.run:
            run_sample(run)
        page = os.path.join(work, 'report.html')
        code = report.main(['--labels', os.path.join(SAMPLES, 'labels.csv'), '--predictions',
                            os.path.join(run, 'predictions.csv'), '--records', run,
                            '--images_dir', os.path.join(SAMPLES, 'images'), '--out', page])
        if code:
            return code
        annotated_sample(run, args.index, os.path.join(args.docs, 'annotated.jpg'))
        screenshot(page, os.path.join(args.docs, 'report.png'), height=2000)
        names = ['report.png', 'annotated.jpg']
        if args.confidence_run:
            confidence_page(args.confidence_labels, args.confidence_run, args.confidence,
                            os.path.join(work, 'confidence.html'))
            screenshot(os.path.join(work, 'confidence.html'), os.path.join(args.docs, 'confidence.png'), 1100, 1100)
            names.append('confidence.png')
    for name in names:
        path = os.path.join(args.docs, name)
        print(f'{path}: {os.path.getsize(path) // 1024} kB')
    return 0


if __name__ == '__main__':
    sys.exit(main())
