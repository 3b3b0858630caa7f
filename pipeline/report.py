"""The HTML report of a run: F1 by entity, the kinds of error, how far its confidences hold,
and a gallery of wrong rows.

    specscan report --run OUT [--labels labels.csv] [--out OUT/report.html] [--gallery 60]
    python -m pipeline.report --labels labels.csv --predictions OUT/predictions.csv \
        --records OUT --out report.html [--images_dir D] [--annotate_dir A] [--gallery 60] \
        [--confidence CONFIDENCE.csv]

With --run, the run's summary.json gives its predictions, records, images and annotations, and
the labels are the labels.csv beside its input CSV (as in ../shared/data/<set>/); a flag given
as well wins.

One self-contained page, rendered from pipeline/report_templates/ by jinja2 with autoescape
(styles, the tiny script and the thumbnails are inline; it loads nothing from anywhere, so it
can be mailed or opened offline). Scores are
pipeline/evaluate.py's, error kinds pipeline/errors.py's, so the page never disagrees with
those commands. It stays small however large the run: thumbnails only in the gallery
(--gallery rows, 320 px JPEG), a collapsed table of at most TABLE_ROWS wrong rows. The
confidence section (records with confidences: every run since they exist) has the operating
points pipeline/evaluate.py prints and one PNG drawn with matplotlib: the precision-coverage
curve and the reliability diagram.
"""
import base64
import io
import json
import os
import sys
from collections import Counter, defaultdict

import jinja2
from apache_beam.io.filesystems import FileSystems

from pipeline.arguments import StrictParser
from pipeline.errors import CATEGORIES, classify
from pipeline.evaluate import (CONFIDENCE_LEVELS, PRECISION_TARGETS, confidence_result, evaluate, format_unknown,
                               read_confidence, read_labels, read_predictions)
from pipeline.options import default_options
from pipeline.summary import SUMMARY_FILE, read_records
from transforms.fetch_images import cache_name
from transforms.logic.confidence import FAMILIES
from transforms.logic.drawing import annotate, annotated_name
from transforms.logic.units import ENTITY_UNITS
from transforms.records import Candidate, RowResult
from transforms.write_outputs import PREDICTIONS_FILE

RUN_DEFAULTS = default_options()  # what the run used, unless told: --ocr_max_side, --max_image_pixels
THUMB_SIDE = 320
THUMB_QUALITY = 70
TABLE_ROWS = 500
NO_RECORD = 'no record'
UNLABELLED = 'prediction without a label'
COLUMNS = ('ordinal', 'index', 'image_link', 'group_id', 'entity_name', 'prediction', 'image_width',
           'image_height', 'ocr_text', 'candidates', 'failure_stage', 'failure_reason')
CONFIDENCE_COLUMNS = ('chosen', 'confidence')  # absent from records written before confidences
KIND_NOTES = {
    'label unmatchable': 'the label is a range: no prediction can match',
    'image failed': 'the image could not be fetched, decoded or read',
    'no OCR text': 'the OCR found no text at all',
    'OCR miss': "the label's number is nowhere in the OCR text",
    'number read, not parsed': 'the number is in the text, no quantity was parsed with it',
    'right value, wrong unit': "a candidate has the label's value, none its unit",
    'choice error': 'a candidate matched the label, the chooser took another (or none)',
    UNLABELLED: 'the label is blank, the run predicted something',
    NO_RECORD: 'the row is labelled but the run wrote no record for it',
}


class InputError(Exception):
    """A missing or empty input: reported on one line, exit code 2."""


def _is_local(path: str) -> bool:
    return '://' not in path


def _check_inputs(args) -> None:
    for name in ('labels', 'predictions', 'confidence'):
        path = getattr(args, name)
        if path and not os.path.isfile(path):
            raise InputError(f'--{name}: no such file: {path}')
    for name in ('records', 'images_dir', 'annotate_dir'):
        path = getattr(args, name)
        if path and _is_local(path) and not os.path.isdir(path):
            raise InputError(f'--{name}: no such folder: {path}')


def from_run(args) -> None:
    """Fill the flags not given from the run folder `args.run`: its outputs, and the input, images
    and settings its summary.json records; the labels are the labels.csv beside its input."""
    data = _read(FileSystems.join(args.run, SUMMARY_FILE))
    if data is None:
        raise InputError(f'--run: no {SUMMARY_FILE} in {args.run} (a finished run writes one)')
    try:
        summary = json.loads(data)
    except ValueError as error:
        raise InputError(f'--run: {args.run}/{SUMMARY_FILE} is not JSON: {error}') from None
    found = {'predictions': FileSystems.join(args.run, PREDICTIONS_FILE), 'records': args.run,
             'images_dir': summary.get('images_dir'), 'annotate_dir': summary.get('annotate_dir'),
             'ocr_max_side': summary.get('ocr_max_side'), 'out': FileSystems.join(args.run, 'report.html')}
    for name, value in found.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.labels is None:
        beside = os.path.join(os.path.dirname(summary.get('input') or ''), 'labels.csv')
        if not summary.get('input') or not os.path.isfile(beside):
            raise InputError(f"--labels: not given, and no labels.csv beside the run's input "
                             f"{summary.get('input') or '(not in its summary.json)'}")
        args.labels = beside
        print(f"report: labels {beside} (beside the run's input)")


def load_records(path: str) -> dict:
    """index -> record dict (no embeddings: they are most of a record's bytes)."""
    try:
        records = read_records(path, COLUMNS + CONFIDENCE_COLUMNS).to_pylist()
    except (KeyError, ValueError):  # an older run's records, without confidences
        records = read_records(path, COLUMNS).to_pylist()
    if not records:
        raise InputError(f'--records: no records/*.parquet under {path}')
    return {record['index']: record for record in records}


def result_from_record(record: dict) -> RowResult:
    """A RowResult with what annotate() needs, from a Parquet record."""
    fields = {name: record[name] for name in COLUMNS + CONFIDENCE_COLUMNS if name != 'candidates' and name in record}
    return RowResult(candidates=tuple(Candidate(**c) for c in record.get('candidates') or ()), **fields)


def error_kind(truth: str, prediction: str, record) -> str:
    """pipeline/errors.py's category for a labelled row; a blank label with a blank prediction is
    right (a true negative), with a prediction it is its own kind."""
    if not truth.strip():
        return UNLABELLED if prediction else 'right'
    if record is None:
        return 'right' if classify(truth, prediction, '', (), '') == 'right' else NO_RECORD
    return classify(truth, prediction, record['ocr_text'], record['candidates'], record['failure_stage'])


def score(labels: list, predictions: dict) -> dict:
    """evaluate() overall and on each entity's rows alone (which gives that entity's P and R),
    each with 'labelled': its rows with a non-blank label."""
    by_entity = defaultdict(list)
    for label in labels:  # rows of other names than the entities count in 'all', and in its unknown_entities
        if label['entity_name'] in ENTITY_UNITS:
            by_entity[label['entity_name']].append(label)
    scores = {'all': evaluate(labels, predictions), 'entities': {}}
    for entity, rows in sorted(by_entity.items()):
        scores['entities'][entity] = evaluate(rows, predictions)
    for result, rows in [(scores['all'], labels)] + [(scores['entities'][e], by_entity[e]) for e in by_entity]:
        result['labelled'] = sum(1 for row in rows if row['entity_value'].strip())
    return scores


def analyse_rows(labels: list, predictions: dict, records: dict) -> list:
    """One dict per labelled row: index, entity, truth, prediction, kind, record (or None)."""
    rows = []
    for ordinal, label in enumerate(labels):
        record = records.get(label['index'])
        prediction = predictions.get(label['index'], '')
        rows.append({'ordinal': ordinal, 'index': label['index'], 'entity_name': label['entity_name'],
                     'truth': label['entity_value'].strip(), 'prediction': prediction, 'record': record,
                     'kind': error_kind(label['entity_value'], prediction, record)})
    return rows


def pick_gallery(wrong: list, limit: int) -> list:
    """Up to limit wrong rows, taken in turn from each kind (so a rare kind is not crowded out
    by the commonest), shown grouped by kind, most common first."""
    by_kind = defaultdict(list)
    for row in wrong:
        by_kind[row['kind']].append(row)
    order = sorted(by_kind, key=lambda kind: (-len(by_kind[kind]), kind))
    picked, depth = [], 0
    while len(picked) < limit and any(depth < len(by_kind[k]) for k in order):
        for kind in order:
            if depth < len(by_kind[kind]) and len(picked) < limit:
                picked.append(by_kind[kind][depth])
        depth += 1
    rank = {kind: i for i, kind in enumerate(order)}
    return sorted(picked, key=lambda row: (rank[row['kind']], row['ordinal']))


def confidences(labels: list, records: dict, confidence_path: str = None):
    """(plain, mix-weighted) confidence_result of the labelled rows' recorded confidences (or
    those of a confidence.csv), or None when no row has a chosen value (an older run, or
    nothing predicted)."""
    if confidence_path:
        chosen = read_confidence(confidence_path)
    else:
        chosen = {index: (record.get('chosen') or '', record.get('confidence') or 0.0)
                  for index, record in records.items()}
    if not any(prediction for prediction, _ in chosen.values()):
        return None
    return confidence_result(labels, chosen), confidence_result(labels, chosen, weighted=True)


def confidence_chart(plain: dict, weighted: dict) -> str:
    """data: URI of a PNG: the precision-coverage curve (plain and mix-weighted) beside the
    reliability diagram (share right per bin of confidence against the diagonal)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    figure = Figure(figsize=(10, 3.8), dpi=100)
    curve_axes, bins_axes = figure.subplots(1, 2)
    for result, name, style in ((plain, 'rows', '-'), (weighted, 'mix-weighted', '--')):
        points = result['curve']
        curve_axes.plot([p[1] for p in points], [p[2] for p in points], style, color='#3b7dd8', label=name)
    for target in PRECISION_TARGETS:
        curve_axes.axhline(target, color='#999', linewidth=0.6, linestyle=':')
    lowest = min([p[2] for p in plain['curve'] + weighted['curve']] + [0.5])
    curve_axes.set(xlim=(0, 1), ylim=(max(0.0, lowest - 0.02), 1.005), xlabel='coverage (share of rows kept)',
                   ylabel='precision', title='keeping the surest predictions')
    curve_axes.legend(loc='lower left')
    filled = [b for b in plain['bins'] if b['rows']]
    bins_axes.bar([(b['low'] + b['high']) / 2 for b in filled], [b['right'] for b in filled], width=0.09,
                  color='#3b7dd8', alpha=0.8, label='share right')
    bins_axes.plot([0, 1], [0, 1], color='#d9534f', linewidth=1, label='perfectly calibrated')
    bins_axes.plot([b['confidence'] for b in filled], [b['right'] for b in filled], 'o', color='#222', markersize=3)
    for b in filled:
        bins_axes.annotate(str(b['rows']), ((b['low'] + b['high']) / 2, min(b['right'] + 0.02, 0.97)),
                           ha='center', fontsize=7, color='#555')
    bins_axes.set(xlim=(0, 1), ylim=(0, 1), xlabel='confidence (10 bins; rows above each bar)',
                  ylabel='share right', title=f"reliability: expected calibration error {plain['ece']:.3f}")
    bins_axes.legend(loc='upper left')
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format='png')
    return 'data:image/png;base64,' + base64.b64encode(out.getvalue()).decode('ascii')


def number(value) -> str:
    """A score as the page shows it: 4 decimals, '-' when there is none."""
    return '-' if value is None else f'{value:.4f}'


def confidence_rows(plain: dict, weighted: dict) -> list:
    """(measure, its text for the rows, for the rows mix-weighted): the confidence table's rows."""
    def row(name, pick):
        return name, pick(plain), pick(weighted)
    rows = [row('predictions kept at confidence 0 (coverage · precision)',
                lambda r: f"{r['coverage']:.1%} · {number(r['precision'])}"),
            row('expected calibration error', lambda r: f"{r['ece']:.4f}")]
    for family, entities in FAMILIES.items():
        name = ', '.join(entities) or 'other entities'
        rows.append(row(f'expected calibration error, {name}', lambda r, f=family: number(r['ece_by_family'].get(f))))
    for level in CONFIDENCE_LEVELS:
        rows.append(row(f'confidence ≥ {level} (coverage · precision)', lambda r, lv=level: (
            f"{r['at_confidence'][lv]['coverage']:.1%} · {number(r['at_confidence'][lv]['precision'])}")))
    for target in PRECISION_TARGETS:
        rows.append(row(f'precision {target:.2f}: coverage (at confidence ≥)', lambda r, t=target: (
            f"{r['at_precision'][t]['coverage']:.1%} (≥ {number(r['at_precision'][t]['threshold'])})")))
    rows.append(row('the surest half of the rows: precision',
                    lambda r: number((r['precision_at_half'] or {}).get('precision'))))
    return rows


def _read(path: str):
    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as handle:
            return handle.read()
    except Exception:
        return None


def _thumbnail(jpeg: bytes) -> tuple:
    """(data: URI, width, height) of a JPEG at most THUMB_SIDE long."""
    from PIL import Image
    image = Image.open(io.BytesIO(jpeg)).convert('RGB')
    image.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.LANCZOS)
    out = io.BytesIO()
    image.save(out, format='JPEG', quality=THUMB_QUALITY, optimize=True)
    return 'data:image/jpeg;base64,' + base64.b64encode(out.getvalue()).decode('ascii'), image.width, image.height


def thumbnail_for(row: dict, images_dir, annotate_dir, ocr_max_side: int = RUN_DEFAULTS.ocr_max_side):
    """The row's annotated thumbnail: the one --annotate_dir holds, else drawn now from the image
    in --images_dir; None when neither has it (or it cannot be read)."""
    record = row['record']
    if record is None:
        return None
    result = result_from_record(record)
    try:
        if annotate_dir:
            data = _read(FileSystems.join(annotate_dir, annotated_name(result)))
            if data:
                return _thumbnail(data)
        name = cache_name(result.image_link)
        if images_dir and name:
            data = _read(FileSystems.join(images_dir, name))
            if data:
                return _thumbnail(annotate(data, result, max_side=THUMB_SIDE, ocr_max_side=ocr_max_side,
                                           max_pixels=RUN_DEFAULTS.max_image_pixels,
                                           quality=90))
    except Exception:  # a bad file costs its thumbnail, not the report
        return None
    return None


PAGE = jinja2.Environment(
    loader=jinja2.PackageLoader('pipeline', 'report_templates'), autoescape=True, undefined=jinja2.StrictUndefined,
    trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
PAGE.filters.update(number=number, percent='{:.1%}'.format, clamp=lambda value: max(0.0, min(1.0, value)))


def kind_counts(kinds: Counter) -> list:
    """(kind, rows, note) of the kinds of error, commonest first (ties in pipeline/errors.py's order)."""
    order = [k for k in CATEGORIES if k != 'right'] + [UNLABELLED, NO_RECORD]
    wrong = sorted((k for k in kinds if k != 'right'), key=lambda k: (-kinds[k], order.index(k)))
    return [(kind, kinds[kind], KIND_NOTES.get(kind, '')) for kind in wrong]


def render(scores: dict, rows: list, gallery: list, sources: dict, confidence=None) -> str:
    """The page (report_templates/report.html.j2), from score(), analyse_rows(), the picked rows with
    their thumbnails, the input paths (shown so the reader knows which run it describes) and
    (plain, mix-weighted, chart) of the confidences, or None."""
    kinds = Counter(row['kind'] for row in rows)
    wrong = [row for row in rows if row['kind'] != 'right']
    return PAGE.get_template('report.html.j2').render(
        overall=scores['all'], entities=[('all', scores['all'])] + list(scores['entities'].items()),
        unknown_entities=format_unknown(scores['all']['unknown_entities']),
        kinds=kind_counts(kinds), wrong_rows=len(wrong) or 1, all_rows=max(len(rows), 1),
        confidence_rows=confidence_rows(*confidence[:2]) if confidence else None,
        confidence_chart=confidence[2] if confidence else None,
        gallery=gallery, wrong=wrong, table_rows=TABLE_ROWS, sources=sources)


def confidence_page(confidence) -> str:
    """The confidence section alone, styled as in the report, from (plain, mix-weighted, chart):
    what docs/confidence.png shows (tools/make_docs_images.py)."""
    return PAGE.get_template('confidence_page.html.j2').render(
        confidence_rows=confidence_rows(*confidence[:2]), confidence_chart=confidence[2])


def build_report(labels_path: str, predictions_path: str, records_path: str, images_dir=None,
                 annotate_dir=None, gallery: int = 60, ocr_max_side: int = RUN_DEFAULTS.ocr_max_side,
                 confidence_path: str = None) -> str:
    """The report's HTML; raises InputError on a missing or empty input."""
    labels = read_labels(labels_path)
    if labels and not {'index', 'entity_name', 'entity_value'} <= set(labels[0]):
        raise InputError(f'--labels: {labels_path} needs the columns index, entity_name, entity_value')
    try:
        predictions = read_predictions(predictions_path)
    except KeyError:
        raise InputError(f'--predictions: {predictions_path} needs the columns index, prediction') from None
    records = load_records(records_path)
    rows = analyse_rows(labels, predictions, records)
    picked = pick_gallery([row for row in rows if row['kind'] != 'right'], max(0, gallery))
    thumbnails = [(row, thumbnail_for(row, images_dir, annotate_dir, ocr_max_side)) for row in picked]
    sources = {'labels': labels_path, 'predictions': predictions_path, 'records': records_path,
               'images': images_dir, 'annotated': annotate_dir, 'confidence': confidence_path}
    try:
        confidence = confidences(labels, records, confidence_path)
    except (KeyError, ValueError):
        raise InputError(f'--confidence: {confidence_path} needs the columns index, prediction, confidence '
                         '(and a number in each confidence)') from None
    if confidence is not None:
        confidence += (confidence_chart(*confidence),)
    return render(score(labels, predictions), rows, thumbnails, sources, confidence)


def main(argv=None) -> int:
    parser = StrictParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--run', metavar='OUT', help="A finished run's --output folder: the flags below that are "
                                                     'not given are taken from its summary.json.')
    parser.add_argument('--labels', help="CSV with index, entity_name, entity_value (with --run: the labels.csv "
                                         "beside the run's input).")
    parser.add_argument('--predictions', help="The run's predictions.csv.")
    parser.add_argument('--records', help='The output folder of the run, or its records/ folder.')
    parser.add_argument('--out', help='The HTML file to write (with --run: OUT/report.html).')
    parser.add_argument('--images_dir', help='The image cache the run read (files named by the link).')
    parser.add_argument('--annotate_dir', help="The run's --annotate_dir: annotated images are taken from there.")
    parser.add_argument('--gallery', type=int, default=60, help='Wrong rows shown with their image.')
    parser.add_argument('--confidence', help='A confidence.csv whose confidences the confidence section shows '
                                             '(default: those in the records), e.g. cross-validated ones from '
                                             'python -m pipeline.train_chooser --cv_predictions.')
    parser.add_argument('--ocr_max_side', type=int,
                        help=f"The run's --ocr_max_side (where candidate boxes lie on large images; default "
                             f"{RUN_DEFAULTS.ocr_max_side}).")
    args = parser.parse_args(argv)
    try:
        if args.run:
            from_run(args)
        missing = [f'--{name}' for name in ('labels', 'predictions', 'records', 'out') if not getattr(args, name)]
        if missing:
            parser.error(f"{', '.join(missing)} required (or --run OUT)")
        args.ocr_max_side = RUN_DEFAULTS.ocr_max_side if args.ocr_max_side is None else args.ocr_max_side
        _check_inputs(args)
        page = build_report(args.labels, args.predictions, args.records, args.images_dir, args.annotate_dir,
                            args.gallery, args.ocr_max_side, args.confidence)
        with open(args.out, 'w', encoding='utf-8') as handle:
            handle.write(page)
    except (InputError, OSError, UnicodeDecodeError) as error:
        message = str(error) if isinstance(error, InputError) else f'{type(error).__name__}: {error}'
        print(f'report: {message}', file=sys.stderr)
        return 2
    print(f'report: wrote {args.out} ({len(page.encode()) // 1024} kB)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
