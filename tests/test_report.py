"""The HTML report on a small fake run: its figures, its error kinds, a self-contained gallery,
and the page as a browser shows it (headless Chromium; skipped when there is none)."""
import base64
import csv
import io
import os
import re
import shutil
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from pipeline import report
from tests.images import encode, label_image
from transforms.logic.drawing import annotated_name
from transforms.records import RECORD_SCHEMA, Candidate, RowResult

LINK = 'https://cdn.example.com/i/{}'


def cand(value, unit, top=110, score=0.5):
    return Candidate(value, unit, f'{value} {unit}', 30, top, 300, 60, True, score)


# index, entity, truth, prediction, image file (None: fetch failed), ocr text, candidates
ROWS = [
    ('1', 'item_weight', '500.0 gram', '500.0 gram', 'a.jpg', 'Net Wt 500 g', [cand(500.0, 'gram')]),
    ('2', 'item_weight', '500.0 gram', '30.0 gram', 'b.jpg', 'Net Wt 500 g Serving 30 g',
     [cand(500.0, 'gram', 110, 0.2), cand(30.0, 'gram', 200, 0.7)]),                         # choice error
    ('3', 'voltage', '12.0 volt', '', 'c.jpg', 'Adapter', []),                                 # OCR miss
    ('4', 'wattage', '60.0 watt', '', None, '', []),                                           # image failed
    ('5', 'item_volume', '750.0 millilitre', '750 millilitre', 'd.jpg', '750 ml', [cand(750.0, 'millilitre')]),
    ('6', 'voltage', '[100.0, 240.0] volt', '240.0 volt', 'a.jpg', '100-240V',               # label unmatchable
     [cand(100.0, 'volt', 110, 0.3), cand(240.0, 'volt', 110, 0.6)]),
]
# Worked out by hand with the scorer's rules. Numeric: TP rows 1 and 5, FP rows 2 and 6 (a
# prediction, wrong), FN rows 3 and 4: P = R = 2/4, F1 0.5. Exact: '750 millilitre' is not the
# label's '750.0 millilitre', so TP 1, FP 3, FN 2: P 1/4, R 1/3, F1 2/7 = 0.2857.
NUMERIC_F1, EXACT_F1 = '0.5000', '0.2857'
# item_weight alone: TP 1, FP 1, FN 0 -> P 0.5, R 1, F1 0.6667; voltage: TP 0 -> 0.
ENTITY_F1 = {'item_weight': '0.6667', 'voltage': '0.0000', 'wattage': '0.0000', 'item_volume': '1.0000'}
KINDS = {'choice error': '2', 'OCR miss': '3', 'image failed': '4', 'label unmatchable': '6'}


# confidences of the predicted rows, for the confidence section: right rows 1 (0.95) and 5 (0.9),
# wrong rows 2 (0.4) and 6 (0.6)
CONFIDENCE = {'1': 0.95, '2': 0.4, '5': 0.9, '6': 0.6}


def _result(ordinal, index, entity, truth, prediction, image, text, candidates, confidence=None):
    failure = {} if image else {'failure_stage': 'fetch', 'failure_reason': 'ConnectionError: refused'}
    if confidence is not None and prediction:
        failure.update(chosen=prediction, confidence=confidence.get(index, 0.0))
    return RowResult(ordinal, index, LINK.format(image or 'gone.jpg'), '7', entity, prediction,
                     image_source='cache' if image else '', image_width=640 if image else 0,
                     image_height=320 if image else 0, ocr_text=text, candidates=tuple(candidates), **failure)


def _write_csv(path, header, rows):
    with open(path, 'w', newline='') as handle:
        writer = csv.writer(handle, lineterminator='\n')
        writer.writerow(header)
        writer.writerows(rows)


def write_run(tmp_path, rows=ROWS, confidence=None):
    """A run's outputs as the pipeline writes them, the labels, and the image cache (with
    confidence: index -> confidence of the predicted rows, recorded as a run records them)."""
    out, images = tmp_path / 'out', tmp_path / 'images'
    (out / 'records').mkdir(parents=True)
    images.mkdir(exist_ok=True)
    for name, lines in (('a.jpg', ['Net Wt 500 g']), ('b.jpg', ['Oats', 'Net Wt 500 g', 'Serving 30 g']),
                        ('c.jpg', ['Adapter']), ('d.jpg', ['Juice 750 ml'])):
        (images / name).write_bytes(encode(label_image(lines)))
    results = [_result(i, *row, confidence=confidence) for i, row in enumerate(rows)]
    table = pa.Table.from_pylist([r.to_record() for r in results], schema=RECORD_SCHEMA)
    pq.write_table(table, out / 'records' / 'part-00000-of-00001.parquet')
    _write_csv(out / 'predictions.csv', ('index', 'prediction'), [(r.index, r.prediction) for r in results])
    _write_csv(tmp_path / 'labels.csv', ('index', 'image_link', 'group_id', 'entity_name', 'entity_value'),
               [(index, LINK.format(image or 'gone.jpg'), '7', entity, truth)
                for index, entity, truth, _, image, _, _ in rows])
    return tmp_path / 'labels.csv', out, images, results


def run_report(tmp_path, *extra, records=None, confidence=None):
    labels, out, images, _ = write_run(tmp_path, confidence=confidence)
    page = tmp_path / 'report.html'
    code = report.main(['--labels', str(labels), '--predictions', str(out / 'predictions.csv'),
                        '--records', str(records or out), '--images_dir', str(images), '--out', str(page), *extra])
    assert code == 0
    return page.read_text(encoding='utf-8')


def section(page, table_id):
    return page[page.index(f'id="{table_id}"'):].split('</table>', 1)[0]


def table_row(table, first_cell):
    match = re.search(rf'<tr[^>]*><td>(?:<span class="kind">)?{re.escape(first_cell)}(?:</span>)?</td>(.*?)</tr>',
                      table)
    assert match, f'no row {first_cell!r}'
    return re.findall(r'<td[^>]*>([^<]*)</td>', match.group(1))


def gallery_images(page):
    return re.findall(r'<img [^>]*src="([^"]+)"', section(page, 'gallery').split('</div>\n<details>')[0])


def decode_uri(uri):
    assert uri.startswith('data:image/jpeg;base64,')
    return Image.open(io.BytesIO(base64.b64decode(uri.split(',', 1)[1]))).convert('RGB')


def test_headline_is_the_f1_worked_out_by_hand(tmp_path):
    page = run_report(tmp_path)
    assert f'<b class="big" id="f1">{NUMERIC_F1}</b>' in page
    assert EXACT_F1 in page.split('<h2>', 1)[0]


def test_every_entity_has_a_row_with_its_f1(tmp_path):
    scores = section(run_report(tmp_path), 'scores')
    for entity, f1 in ENTITY_F1.items():
        cells = table_row(scores, entity)
        assert cells[2] == f1, (entity, cells)
    assert table_row(scores, 'all')[2] == NUMERIC_F1


def test_error_kinds_are_counted_as_pipeline_errors_sorts_them(tmp_path):
    kinds = section(run_report(tmp_path), 'kinds')
    for kind in KINDS:
        assert table_row(kinds, kind)[0] == '1', kind
    assert 'number read, not parsed' not in kinds  # no row of that kind, no line for it


def test_gallery_shows_each_wrong_row_with_an_embedded_thumbnail(tmp_path):
    page = run_report(tmp_path)
    gallery = section(page, 'gallery')
    for kind, index in KINDS.items():
        assert f'<span class="kind">{kind}</span> index {index} ' in gallery
    assert 'index 1 ' not in gallery and 'index 5 ' not in gallery  # right rows are not shown
    images = gallery_images(page)
    assert len(images) == 3  # rows 2, 3 and 6; row 4's image failed: a placeholder
    assert 'no image: ConnectionError: refused' in gallery
    for uri in images:
        thumb = decode_uri(uri)
        assert max(thumb.size) <= report.THUMB_SIDE
    assert 'loading="lazy"' in gallery


def test_page_loads_nothing_from_outside(tmp_path):
    page = run_report(tmp_path)
    sources = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert sources and all(s.startswith('data:') for s in sources)
    assert not re.search(r'<(?:link|iframe|object|embed)\b', page)
    assert not re.search(r'<script[^>]*\bsrc', page)
    assert not re.search(r'url\(|@import', page)
    assert "default-src 'none'" in page


def test_thumbnail_comes_from_annotate_dir_when_it_has_one(tmp_path):
    annotated = tmp_path / 'annotated'
    annotated.mkdir()
    row3 = _result(2, *ROWS[2])
    (annotated / annotated_name(row3)).write_bytes(encode(Image.new('RGB', (200, 100), (0, 0, 255))))
    page = run_report(tmp_path, '--annotate_dir', str(annotated))
    thumbs = [decode_uri(uri) for uri in gallery_images(page)]
    blue = [t for t in thumbs if t.getpixel((50, 50))[2] > 200 and t.getpixel((50, 50))[0] < 50]
    assert len(blue) == 1 and blue[0].size == (200, 100)
    assert len(thumbs) == 3  # the other rows drawn from the image cache


def test_records_folder_itself_and_gallery_limit(tmp_path):
    page = run_report(tmp_path, '--gallery', '2', records=tmp_path / 'out' / 'records')
    assert f'id="f1">{NUMERIC_F1}<' in page
    assert section(page, 'gallery').count('<figure>') == 2


@pytest.mark.parametrize('missing', ['--labels', '--predictions', '--records', '--images_dir'])
def test_a_missing_input_exits_2_with_one_line(tmp_path, capsys, missing):
    labels, out, images, _ = write_run(tmp_path)
    args = {'--labels': str(labels), '--predictions': str(out / 'predictions.csv'), '--records': str(out),
            '--images_dir': str(images), '--out': str(tmp_path / 'r.html')}
    args[missing] = str(tmp_path / 'nowhere')
    assert report.main([x for pair in args.items() for x in pair]) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and missing in error and 'nowhere' in error
    assert not (tmp_path / 'r.html').exists()


def test_an_output_folder_without_records_exits_2(tmp_path, capsys):
    labels, out, _, _ = write_run(tmp_path)
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert report.main(['--labels', str(labels), '--predictions', str(out / 'predictions.csv'),
                        '--records', str(empty), '--out', str(tmp_path / 'r.html')]) == 2
    assert 'no records' in capsys.readouterr().err


def test_a_thousand_rows_make_a_small_page_quickly(tmp_path, monkeypatch):
    kinds = [ROWS[1], ROWS[2], ROWS[3], ROWS[0]]
    rows = [(str(i),) + kinds[i % 4][1:] for i in range(1000)]
    labels, out, images, _ = write_run(tmp_path, rows)
    thumbnailed = []  # quickly: an image is opened for each figure shown, not for each of the 1000 rows
    monkeypatch.setattr(report, 'thumbnail_for', lambda row, *args, made=report.thumbnail_for:
                        thumbnailed.append(row) or made(row, *args))
    page_path = tmp_path / 'report.html'
    assert report.main(['--labels', str(labels), '--predictions', str(out / 'predictions.csv'), '--records',
                        str(out), '--images_dir', str(images), '--out', str(page_path)]) == 0
    page = page_path.read_text()
    assert len(gallery_images(page)) == 40 and section(page, 'gallery').count('<figure>') == 60
    assert page.count('<tr>') < report.TABLE_ROWS + 40
    assert len(page.encode()) < 1_500_000, len(page.encode())
    assert len(thumbnailed) == 60
    # taken in turn from each kind: 20 of each of the three wrong kinds, not 60 of the commonest
    assert section(page, 'gallery').count('<span class="kind">choice error</span>') == 20


def _chromium():
    return shutil.which('chromium') or shutil.which('chromium-browser')


def _browse(binary, tmp_path, *args):
    command = [binary, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run',
               f'--user-data-dir={tmp_path / "profile"}', '--virtual-time-budget=5000', *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.slow
def test_a_person_opening_the_page_sees_the_f1_and_every_thumbnail(tmp_path):
    binary = _chromium()
    if not binary:
        pytest.skip('no chromium on PATH (make chromium installs it)')
    run_report(tmp_path)
    url = (tmp_path / 'report.html').as_uri()
    dom = _browse(binary, tmp_path, '--dump-dom', url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r'<body([^>]*)>', dom.stdout).group(1)
    # the inline script ran after load and counted decoded images (naturalWidth > 0)
    assert 'data-images="3"' in body and 'data-images-loaded="3"' in body, body
    assert f'id="f1">{NUMERIC_F1}</b>' in dom.stdout

    shot = tmp_path / 'report.png'
    result = _browse(binary, tmp_path, f'--screenshot={shot}', '--window-size=1280,2000', url)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    image = Image.open(shot)
    assert image.format == 'PNG' and image.size == (1280, 2000)
    assert os.path.getsize(shot) > 20_000
    pixels = image.convert('RGB')
    assert len(pixels.getcolors(1 << 20)) > 200                   # text, bars, photos: not a blank page
    bar = [pixels.getpixel((x, y)) for x in range(0, 1280, 4) for y in range(0, 1000, 4)]
    assert any(abs(r - 0x3b) < 12 and abs(g - 0x7d) < 12 and abs(b - 0xd8) < 12 for r, g, b in bar)  # F1 bars


def test_confidence_section_shows_evaluates_operating_points_and_a_chart(tmp_path):
    from pipeline.evaluate import confidence_result, read_labels
    page = run_report(tmp_path, confidence=CONFIDENCE)
    table = section(page, 'confidence')
    expected = confidence_result(read_labels(str(tmp_path / 'labels.csv')),
                                 {i: (p, CONFIDENCE[i]) for i, _, _, p, *_ in ROWS if p})
    # 4 predictions of 6 rows; bins 0.9-1.0: 0.925 vs 1 right, 0.4-0.5: 0.4 vs 0, 0.6-0.7: 0.6 vs 0
    assert expected['ece'] == round((2 * 0.075 + 0.4 + 0.6) / 4, 4)
    assert table_row(table, 'expected calibration error')[0] == f"{expected['ece']:.4f}"
    assert table_row(table, 'confidence ≥ 0.9 (coverage · precision)')[0] == '33.3% · 1.0000'
    assert table_row(table, 'precision 0.98: coverage (at confidence ≥)')[0] == '33.3% (≥ 0.9000)'
    chart = re.search(r'<img id="confidence-chart" src="data:image/png;base64,([^"]+)"', page).group(1)
    image = Image.open(io.BytesIO(base64.b64decode(chart)))
    assert image.format == 'PNG' and image.size == (1000, 380)
    assert len(image.convert('RGB').getcolors(1 << 20)) > 20  # lines, bars and text, not a blank canvas


def test_the_confidence_section_alone_is_the_reports_own(tmp_path):
    """What tools/make_docs_images.py draws docs/confidence.png from: the report's section, styled alike."""
    labels, out, _, _ = write_run(tmp_path, confidence=CONFIDENCE)
    confidence = report.confidences(report.read_labels(str(labels)), report.load_records(str(out)))
    alone = report.confidence_page(confidence + ('data:image/png;base64,AAAA',))
    page = run_report(tmp_path / 'report', confidence=CONFIDENCE)
    assert section(alone, 'confidence') == section(page, 'confidence')
    assert 'src="data:image/png;base64,AAAA"' in alone and '<style>' in alone and 'id="gallery"' not in alone


def test_confidence_csv_replaces_the_recorded_confidences(tmp_path):
    labels, out, images, _ = write_run(tmp_path, confidence=CONFIDENCE)
    _write_csv(tmp_path / 'cv.csv', ('index', 'prediction', 'confidence'),
               [('1', '500.0 gram', '0.2'), ('2', '30.0 gram', '0.99')])  # the surest one is now wrong
    page = tmp_path / 'report.html'
    assert report.main(['--labels', str(labels), '--predictions', str(out / 'predictions.csv'), '--records', str(out),
                        '--out', str(page), '--confidence', str(tmp_path / 'cv.csv')]) == 0
    table = section(page.read_text(encoding='utf-8'), 'confidence')
    assert table_row(table, 'confidence ≥ 0.9 (coverage · precision)')[0] == '16.7% · 0.0000'


def test_records_without_confidences_get_a_note_instead(tmp_path):
    labels, out, images, results = write_run(tmp_path)
    table = pq.read_table(out / 'records' / 'part-00000-of-00001.parquet').drop(['chosen', 'confidence'])
    pq.write_table(table, out / 'records' / 'part-00000-of-00001.parquet')  # as a run before confidences wrote it
    page = tmp_path / 'report.html'
    assert report.main(['--labels', str(labels), '--predictions', str(out / 'predictions.csv'), '--records', str(out),
                        '--out', str(page)]) == 0
    text = page.read_text(encoding='utf-8')
    assert 'These records hold no confidences' in text and 'confidence-chart' not in text
    assert f'id="f1">{NUMERIC_F1}</b>' in text


@pytest.mark.slow
def test_a_person_sees_the_confidence_chart(tmp_path):
    binary = _chromium()
    if not binary:
        pytest.skip('no chromium on PATH (make chromium installs it)')
    run_report(tmp_path, confidence=CONFIDENCE)
    dom = _browse(binary, tmp_path, '--dump-dom', (tmp_path / 'report.html').as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r'<body([^>]*)>', dom.stdout).group(1)
    # three thumbnails and the chart, every one decoded by the browser
    assert 'data-images="4"' in body and 'data-images-loaded="4"' in body, body
    assert 'id="confidence-chart"' in dom.stdout and 'expected calibration error' in dom.stdout


def write_summary_of(tmp_path, out, images, monkeypatch):
    """The run's summary.json as pipeline.run writes it, its input CSV named relative to the run's folder."""
    from pipeline.options import default_options
    from pipeline.summary import summarize, write_summary
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'input.csv').write_text('index,image_link,group_id,entity_name\n')  # labels.csv lies beside it
    options = default_options(['--input=input.csv', f'--images_dir={images}'])
    write_summary(str(out), summarize(str(out), 1.0, options=options))


def test_run_folder_gives_every_input_and_the_labels_beside_its_input(tmp_path, monkeypatch, capsys):
    labels, out, images, _ = write_run(tmp_path)
    write_summary_of(tmp_path, out, images, monkeypatch)
    monkeypatch.chdir(out)  # the summary's paths are absolute: the report is made from anywhere
    assert report.main(['--run', str(out)]) == 0
    page = (out / 'report.html').read_text(encoding='utf-8')
    assert f'id="f1">{NUMERIC_F1}</b>' in page
    assert len(gallery_images(page)) == 3  # the images found in the run's --images_dir
    assert f'labels {labels} (beside the run\'s input)' in capsys.readouterr().out


def test_flags_given_with_run_win_over_what_it_finds(tmp_path, monkeypatch):
    labels, out, images, _ = write_run(tmp_path)
    write_summary_of(tmp_path, out, images, monkeypatch)
    other = tmp_path / 'other-labels.csv'
    other.write_text(labels.read_text().replace('500.0 gram', '2.0 gram'))  # rows 1 and 2 now wrong
    page = tmp_path / 'mine.html'
    assert report.main(['--run', str(out), '--labels', str(other), '--out', str(page), '--gallery', '0']) == 0
    text = page.read_text(encoding='utf-8')
    assert f'id="f1">{NUMERIC_F1}<' not in text and 'other-labels.csv' in text
    assert not gallery_images(text) and not (out / 'report.html').exists()


def test_run_without_labels_beside_its_input_or_summary_exits_2(tmp_path, monkeypatch, capsys):
    labels, out, images, _ = write_run(tmp_path)
    assert report.main(['--run', str(out)]) == 2
    assert capsys.readouterr().err.count('\n') == 1  # 'no summary.json in ...'
    write_summary_of(tmp_path, out, images, monkeypatch)
    labels.unlink()
    assert report.main(['--run', str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and 'no labels.csv beside' in error and str(tmp_path / 'input.csv') in error


def test_rows_of_unknown_entities_have_no_f1_row_of_their_own(tmp_path):
    rows = ROWS + [('7', 'colour', '', '5.0 gram', 'a.jpg', 'Net Wt 500 g', [cand(500.0, 'gram')])]
    labels, out, images, _ = write_run(tmp_path, rows)
    page = tmp_path / 'report.html'
    assert report.main(['--labels', str(labels), '--predictions', str(out / 'predictions.csv'), '--records', str(out),
                        '--out', str(page)]) == 0
    text = page.read_text(encoding='utf-8')
    assert '<td>colour</td>' not in section(text, 'scores')
    assert table_row(section(text, 'scores'), 'all')[0] == '7'  # its row still counts among all rows
    assert 'unknown entity names: 1 row (colour)' in text
