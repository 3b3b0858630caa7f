"""The HTML report of a run: F1 by entity, the kinds of error, how far its confidences hold,
and a gallery of wrong rows.

    python -m pipeline.report --labels labels.csv --predictions OUT/predictions.csv \
        --records OUT --out report.html [--images_dir D] [--annotate_dir A] [--gallery 60] \
        [--confidence CONFIDENCE.csv]

One self-contained page (styles, the tiny script and the thumbnails are inline; it loads
nothing from anywhere, so it can be mailed or opened offline). Scores are
pipeline/evaluate.py's, error kinds pipeline/errors.py's, so the page never disagrees with
those commands. It stays small however large the run: thumbnails only in the gallery
(--gallery rows, 320 px JPEG), a collapsed table of at most TABLE_ROWS wrong rows. The
confidence section (records with confidences: every run since they exist) has the operating
points pipeline/evaluate.py prints and one PNG drawn with matplotlib: the precision-coverage
curve and the reliability diagram.
"""
import argparse
import base64
import html
import io
import os
import sys
from collections import Counter, defaultdict

from apache_beam.io.filesystems import FileSystems

from pipeline.errors import CATEGORIES, classify
from pipeline.evaluate import (CONFIDENCE_LEVELS, PRECISION_TARGETS, confidence_result, evaluate, read_confidence,
                               read_labels, read_predictions)
from pipeline.summary import read_records
from pipeline.options import default_options
from transforms.annotate import annotate, annotated_name
from transforms.fetch import cache_name
from transforms.records import Candidate, RowResult

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
    for label in labels:
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


def _number_or_dash(value) -> str:
    return '-' if value is None else f'{value:.4f}'


def _confidence_rows(plain: dict, weighted: dict) -> str:
    """Measure, rows, mix-weighted: one table row each."""
    def cells(name, pick):
        return f'<tr><td>{_e(name)}</td><td class="n">{pick(plain)}</td><td class="n">{pick(weighted)}</td></tr>'
    lines = [cells('predictions kept at confidence 0 (coverage · precision)',
                   lambda r: f"{r['coverage']:.1%} · {_number_or_dash(r['precision'])}"),
             cells('expected calibration error', lambda r: f"{r['ece']:.4f}")]
    for family, name in (('dimensions', 'height, depth, width'), ('*', 'other entities')):
        lines.append(cells(f'expected calibration error, {name}',
                           lambda r, f=family: _number_or_dash(r['ece_by_family'].get(f))))
    for level in CONFIDENCE_LEVELS:
        lines.append(cells(f'confidence ≥ {level} (coverage · precision)', lambda r, lv=level: (
            f"{r['at_confidence'][lv]['coverage']:.1%} · {_number_or_dash(r['at_confidence'][lv]['precision'])}")))
    for target in PRECISION_TARGETS:
        lines.append(cells(f'precision {target:.2f}: coverage (at confidence ≥)', lambda r, t=target: (
            f"{r['at_precision'][t]['coverage']:.1%} (≥ {_number_or_dash(r['at_precision'][t]['threshold'])})")))
    lines.append(cells('the surest half of the rows: precision',
                       lambda r: _number_or_dash((r['precision_at_half'] or {}).get('precision'))))
    return '\n'.join(lines)


def confidence_section(confidence) -> str:
    """The section's HTML from (plain, mix-weighted, chart) or None."""
    if confidence is None:
        return ('<h2>Confidence</h2>\n<p class="muted" id="confidence">These records hold no confidences '
                '(a run from before they were recorded, or nothing predicted).</p>')
    plain, weighted, chart = confidence
    return f"""<h2>Confidence</h2>
<p class="muted">Each prediction's calibrated probability of being right (<code>confidence.csv</code>). Keeping only the
predictions at or above a threshold (<code>--min_confidence</code>) trades coverage, the share of all rows that keep a
value, for precision. Pick the threshold from the row <i>precision P: coverage</i> for the precision your catalogue
needs, on labelled rows like yours. Mix-weighted: rows weighted to the official test set's entity mix.</p>
<table id="confidence"><tr><th></th><th>rows</th><th>mix-weighted</th></tr>
{_confidence_rows(plain, weighted)}
</table>
<p><img id="confidence-chart" src="{chart}" width="1000" height="380"
alt="precision against coverage, and share right against confidence"></p>"""


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


STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;
 padding:0 16px;color:#222;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.muted{color:#777}.headline{display:flex;gap:28px;align-items:baseline;flex-wrap:wrap;margin:12px 0}
.big{font-size:40px;font-weight:700}.headline div span{display:block;color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;background:#fff}th,td{padding:4px 8px;border-bottom:1px solid #eee;
 text-align:left;vertical-align:middle}td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{position:relative;height:14px;background:#eee;min-width:160px;border-radius:2px}
.bar i{position:absolute;left:0;top:0;bottom:0;background:#3b7dd8;border-radius:2px}
.bar.err i{background:#d9534f}tr.all td{font-weight:700}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px}
figure{margin:0;background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px}
figure img{width:100%;height:auto;max-height:440px;object-fit:contain;display:block}.none{height:120px;display:flex;align-items:center;
 justify-content:center;background:#eee;color:#777;text-align:center;padding:8px;font-size:12px;overflow:hidden}
figcaption{font-size:12px;margin-top:6px;word-break:break-word}figcaption b{color:#b52a25}
.kind{display:inline-block;background:#f3dede;color:#7a2020;border-radius:3px;padding:0 5px}
details{margin-top:8px}summary{cursor:pointer}
"""

# Counts the gallery images the browser has decoded (naturalWidth > 0) into <body data-...>:
# a headless browser's DOM shows that every thumbnail rendered.
SCRIPT = """
(function(){var b=document.body;function count(){var n=0,t=0;for(var i=0;i<document.images.length;i++){
var m=document.images[i];t++;if(m.complete&&m.naturalWidth>0)n++;}b.setAttribute('data-images',t);
b.setAttribute('data-images-loaded',n);}for(var i=0;i<document.images.length;i++)
document.images[i].addEventListener('load',count);window.addEventListener('load',count);count();})();
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _bar(value: float, error: bool = False) -> str:
    width = max(0.0, min(1.0, value)) * 100
    return f'<div class="bar{" err" if error else ""}"><i style="width:{width:.1f}%"></i></div>'


def _score_rows(scores: dict) -> str:
    """One table row per entity; an entity with no label and no prediction has no F1 ('-')."""
    lines = []
    entries = [('all', scores['all'], ' class="all"')] + [(e, r, '') for e, r in scores['entities'].items()]
    for name, result, attrs in entries:
        numeric, exact = result['numeric'], result['exact']
        if not result['labelled'] and not result['predicted']:
            cells = '<td></td>' + '<td class="n">-</td>' * 4
        else:
            cells = (f'<td>{_bar(numeric["f1"])}</td><td class="n">{numeric["f1"]:.4f}</td>'
                     f'<td class="n">{exact["f1"]:.4f}</td><td class="n">{numeric["precision"]:.4f}</td>'
                     f'<td class="n">{numeric["recall"]:.4f}</td>')
        lines.append(f'<tr{attrs}><td>{_e(name or "(blank)")}</td><td class="n">{result["rows"]}</td>'
                     f'<td class="n">{result["labelled"]}</td>{cells}</tr>')
    return '\n'.join(lines)


def _kind_rows(kinds: Counter, rows: int) -> str:
    """The kinds of error, commonest first (ties in pipeline/errors.py's order)."""
    wrong = sum(n for kind, n in kinds.items() if kind != 'right') or 1
    order = [k for k in CATEGORIES if k != 'right'] + [UNLABELLED, NO_RECORD]
    lines = []
    for kind in sorted((k for k in kinds if k != 'right'), key=lambda k: (-kinds[k], order.index(k))):
        n = kinds[kind]
        lines.append(f'<tr><td><span class="kind">{_e(kind)}</span></td><td class="n">{n}</td>'
                     f'<td class="n">{n / wrong:.1%}</td><td class="n">{n / max(rows, 1):.1%}</td>'
                     f'<td>{_bar(n / wrong, error=True)}</td>'
                     f'<td class="muted">{_e(KIND_NOTES.get(kind, ""))}</td></tr>')
    return '\n'.join(lines) or '<tr><td colspan="6">no wrong rows</td></tr>'


def _figure(row: dict, thumbnail) -> str:
    if thumbnail:
        uri, width, height = thumbnail
        picture = (f'<img src="{uri}" width="{width}" height="{height}" loading="lazy" decoding="async" '
                   f'alt="annotated image of row {_e(row["index"])}">')
    else:
        reason = (row['record'] or {}).get('failure_reason') or 'no image found'
        picture = f'<div class="none">no image: {_e(reason[:160])}</div>'
    return (f'<figure>{picture}<figcaption><span class="kind">{_e(row["kind"])}</span> '
            f'index {_e(row["index"])} · {_e(row["entity_name"])}<br>'
            f'truth <code>{_e(row["truth"] or "(blank)")}</code><br>'
            f'predicted <b><code>{_e(row["prediction"] or "(blank)")}</code></b></figcaption></figure>')


def _table(wrong: list) -> str:
    rows = '\n'.join(
        f'<tr><td>{_e(r["index"])}</td><td>{_e(r["entity_name"])}</td><td>{_e(r["truth"])}</td>'
        f'<td>{_e(r["prediction"])}</td><td>{_e(r["kind"])}</td>'
        f'<td class="n">{len((r["record"] or {}).get("candidates") or ())}</td></tr>' for r in wrong[:TABLE_ROWS])
    more = f'<p class="muted">the first {TABLE_ROWS} of {len(wrong)} shown</p>' if len(wrong) > TABLE_ROWS else ''
    return (f'<details><summary>every wrong row ({len(wrong)})</summary>{more}<table><tr><th>index</th>'
            f'<th>entity</th><th>truth</th><th>prediction</th><th>kind</th><th>candidates</th></tr>\n'
            f'{rows}</table></details>')


def render(scores: dict, rows: list, gallery: list, sources: dict, confidence=None) -> str:
    """The page, from score(), analyse_rows(), the picked rows with their thumbnails, the input
    paths (shown so the reader knows which run it describes) and (plain, mix-weighted,
    chart) of the confidences, or None."""
    overall = scores['all']
    kinds = Counter(row['kind'] for row in rows)
    wrong = [row for row in rows if row['kind'] != 'right']
    figures = '\n'.join(_figure(row, thumbnail) for row, thumbnail in gallery)
    paths = ' · '.join(f'{name} <code>{_e(path)}</code>' for name, path in sources.items() if path)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>specscan report: F1 {overall['numeric']['f1']:.4f}</title><style>{STYLE}</style></head>
<body>
<h1>specscan run report</h1>
<p class="muted">{paths}</p>
<div class="headline">
<div><span>numeric F1</span><b class="big" id="f1">{overall['numeric']['f1']:.4f}</b></div>
<div><span>exact F1 (official)</span><b class="big">{overall['exact']['f1']:.4f}</b></div>
<div><span>precision</span><b>{overall['numeric']['precision']:.4f}</b></div>
<div><span>recall</span><b>{overall['numeric']['recall']:.4f}</b></div>
<div><span>rows</span><b>{overall['rows']}</b></div>
<div><span>predicted</span><b>{overall['predicted']}</b></div>
<div><span>wrong</span><b>{len(wrong)}</b></div>
<div><span>format errors</span><b>{overall['format_errors']}</b></div>
</div>
<p class="muted">Scored as <code>python -m pipeline.evaluate</code> scores: numeric compares value and unit
('500 gram' = '500.0 gram'), exact compares strings as the challenge does. Precision and recall are numeric.</p>
<h2>F1 by entity</h2>
<table id="scores"><tr><th>entity</th><th>rows</th><th>labelled</th><th>numeric F1</th><th></th><th>exact F1</th>
<th>precision</th><th>recall</th></tr>
{_score_rows(scores)}
</table>
<h2>Where the truth was lost</h2>
<p class="muted">Each wrong row in the first kind that holds, as <code>python -m pipeline.errors</code> sorts them
(a blank label with a blank prediction counts as right).</p>
<table id="kinds"><tr><th>kind</th><th>rows</th><th>of wrong</th><th>of all rows</th><th></th><th>what</th></tr>
{_kind_rows(kinds, len(rows))}
</table>
{confidence_section(confidence)}
<h2>Wrong rows ({len(gallery)} of {len(wrong)})</h2>
<p class="muted">The chosen candidate is boxed in red, the others in grey; taken in turn from each kind.</p>
<div class="gallery" id="gallery">
{figures}
</div>
{_table(wrong)}
<script>{SCRIPT}</script>
</body></html>
"""


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
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--labels', required=True, help='CSV with index, entity_name, entity_value.')
    parser.add_argument('--predictions', required=True, help="The run's predictions.csv.")
    parser.add_argument('--records', required=True, help='The output folder of the run, or its records/ folder.')
    parser.add_argument('--out', required=True, help='The HTML file to write.')
    parser.add_argument('--images_dir', help='The image cache the run read (files named by the link).')
    parser.add_argument('--annotate_dir', help="The run's --annotate_dir: annotated images are taken from there.")
    parser.add_argument('--gallery', type=int, default=60, help='Wrong rows shown with their image.')
    parser.add_argument('--confidence', help='A confidence.csv whose confidences the confidence section shows '
                                             '(default: those in the records), e.g. cross-validated ones from '
                                             'python -m pipeline.train_chooser --cv_predictions.')
    parser.add_argument('--ocr_max_side', type=int, default=RUN_DEFAULTS.ocr_max_side,
                        help="The run's --ocr_max_side (where candidate boxes lie on large images).")
    args = parser.parse_args(argv)
    try:
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
