"""The run summary, computed from what the job wrote rather than from runner metrics.

Reading the Parquet records back works the same on every runner (metrics support differs
between the DirectRunner's modes, Dataflow and Dask) and describes exactly what a user gets.
"""
import json
import os
import sys
from collections import Counter
from typing import Optional

import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from transforms.write_outputs import RECORDS_DIR

IMAGE_SECONDS = ('fetch_seconds', 'decode_seconds', 'inference_seconds', 'ocr_seconds')  # once per image
ROW_SECONDS = ('choose_seconds',)  # once per row
# what `python -m pipeline.report --run OUT` needs of the run besides its outputs
RUN_OPTIONS = ('input', 'images_dir', 'annotate_dir', 'ocr_max_side')
# what the run's confidences mean and which it held back (--confidence_truth, --min_confidence)
CONFIDENCE_OPTIONS = ('confidence_truth', 'min_confidence')
_COLUMNS = (('image_link', 'prediction', 'chosen', 'image_source', 'from_store', 'failure_stage', 'failure_reason')
            + IMAGE_SECONDS + ROW_SECONDS)


def read_records(output: str, columns=_COLUMNS) -> pa.Table:
    """All records/ shards under an output folder (or its records/ folder) as one table."""
    output = output.rstrip('/')
    if output.rsplit('/', 1)[-1] == RECORDS_DIR:
        output = output[:-len(RECORDS_DIR)].rstrip('/') or '.'
    paths = sorted(m.path for m in FileSystems.match([FileSystems.join(output, RECORDS_DIR, '*.parquet')])[0].metadata_list)
    tables = []
    for path in paths:
        with FileSystems.open(path) as handle:
            tables.append(pq.read_table(pa.BufferReader(handle.read()), columns=list(columns)))
    return pa.concat_tables(tables) if tables else pa.table({c: [] for c in columns})


def summarize(output: str, wall_seconds: float, corrupt_entries: Optional[int] = None,
              seconds_after_last_image: Optional[float] = None, options=None) -> dict:
    """`corrupt_entries`: result-store entries the run ignored (from the runner's counters).
    `seconds_after_last_image`: the join, choose and write at the end of a batch run (the
    rows wait for every image at the join), from the newest store entry to the end.
    `options`: the run's SpecscanOptions, whose RUN_OPTIONS are kept so that the report finds the
    run's input and images from summary.json alone, and CONFIDENCE_OPTIONS so that the confidences
    say which truth they estimate."""
    rows = read_records(output).to_pylist()
    images = {}
    for row in rows:  # stage times are per image, repeated on each of its rows
        if row['image_source']:
            images.setdefault(row['image_link'], row)
    sources = Counter(row['image_source'] for row in images.values())
    seconds = {name.removesuffix('_seconds'): round(sum(r[name] for r in counted), 3)
               for names, counted in ((IMAGE_SECONDS, images.values()), (ROW_SECONDS, rows)) for name in names}
    summary = {
        'output': output,
        'rows_in': len(rows),
        'predictions_made': sum(1 for r in rows if r['prediction']),
        'predictions_held_back': sum(1 for r in rows if r['chosen'] and not r['prediction']),  # --min_confidence
        'failures_by_stage': dict(sorted(Counter(r['failure_stage'] for r in rows if r['failure_stage']).items())),
        'failures_by_kind': dict(Counter(failure_kind(r['failure_stage'], r['failure_reason'])
                                         for r in rows if r['failure_stage']).most_common()),
        'images': len(images),
        # the result store (--store, --resume): images whose reading was taken from it, images
        # decoded and read by this run, and rows chosen again on a stored reading
        'images_from_store': sum(1 for r in images.values() if r['from_store']),
        'images_read': sum(1 for r in images.values() if not r['from_store'] and not r['failure_stage']),
        'rows_rechosen': sum(1 for r in rows if r['from_store']),
        'store_entries_corrupt': corrupt_entries,
        'images_by_source': dict(sorted(sources.items())),
        'stage_seconds': seconds,
        'wall_seconds': round(wall_seconds, 2),
        'seconds_after_last_image': None if seconds_after_last_image is None else round(seconds_after_last_image, 2),
    }
    if options is not None:
        summary.update({name: absolute(getattr(options, name)) for name in RUN_OPTIONS})
        summary.update({name: getattr(options, name) for name in CONFIDENCE_OPTIONS})
    summary['text'] = format_summary(summary)
    return summary


def absolute(path):
    """A local path made absolute (summary.json is read from other folders), others as they are."""
    return os.path.abspath(path) if isinstance(path, str) and '://' not in path else path


def failure_kind(stage: str, reason: str) -> str:
    """'fetch: HTTP 404' from a reason such as 'HTTP 404: Not Found (not retried)': what to count by."""
    kind = reason.split(':', 1)[0].split(';', 1)[0].strip()[:60]
    return f'{stage}: {kind}'


def format_summary(summary: dict) -> str:
    stage = ', '.join(f'{name} {value:.1f}' for name, value in summary['stage_seconds'].items())
    failures = ', '.join(f'{k} {v}' for k, v in summary['failures_by_stage'].items()) or 'none'
    sources = ', '.join(f'{k} {v}' for k, v in summary['images_by_source'].items()) or 'none'
    return '\n'.join([
        f"specscan: {summary['rows_in']} rows, {summary['predictions_made']} predictions"
        + (f" ({summary['predictions_held_back']} more held back under --min_confidence)"
           if summary.get('predictions_held_back') else '')
        + f", {summary['images']} images ({sources})"
        + (f" in {summary['wall_seconds']:.1f} s" if summary['wall_seconds'] else '')
        + (f"; {summary['images_from_store']} images reused from the store ({summary['rows_rechosen']} rows chosen "
           f"again), {summary['images_read']} read anew" if summary.get('images_from_store') else '')
        + (f"; {summary['store_entries_corrupt']} corrupt store entries ignored"
           if summary.get('store_entries_corrupt') else ''),
        f'  failures by stage: {failures}',
        *[f'    {count:6d}  {kind}' for kind, count in summary['failures_by_kind'].items()],
        f'  seconds per stage (summed over images): {stage}'
        + (f"; join, choose and write after the last image: {summary['seconds_after_last_image']:.1f} s"
           if summary.get('seconds_after_last_image') is not None else ''),
        f"  outputs: {summary['output']}/predictions.csv, confidence.csv, records/, failures/, summary.json",
    ])


SUMMARY_FILE = 'summary.json'


def write_summary(output: str, summary: dict) -> None:
    with FileSystems.create(FileSystems.join(output, SUMMARY_FILE)) as handle:
        handle.write(json.dumps({k: v for k, v in summary.items() if k != 'text'}, indent=1).encode())


def main(argv=None) -> int:
    """`python -m pipeline.summary --output OUT`: the summary of a finished run, read from its records."""
    from pipeline.arguments import StrictParser
    parser = StrictParser(prog='python -m pipeline.summary', description=main.__doc__)
    parser.add_argument('--output', required=True, help='the job\'s --output folder (local or gs://)')
    args = parser.parse_args(argv)
    summary = summarize(args.output, wall_seconds=0.0)
    if not summary['rows_in']:
        print(f'specscan: no records under {args.output}/records yet', file=sys.stderr)
        return 2
    print(summary['text'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
