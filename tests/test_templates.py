"""The Flex Template: metadata.json lists exactly the job's options; one Beam version everywhere."""
import json
import os
import re

from tools.write_metadata import METADATA_PATH, metadata, option_actions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read(path):
    with open(os.path.join(ROOT, path)) as handle:
        return handle.read()


def test_metadata_parameters_are_exactly_the_options():
    with open(METADATA_PATH) as handle:
        shipped = json.load(handle)
    names = [p['name'] for p in shipped['parameters']]
    assert names == [a.dest for a in option_actions()]
    assert {p['name'] for p in shipped['parameters'] if not p['isOptional']} == {'input', 'output'}
    assert shipped == metadata(), 'templates/metadata.json is stale: run python tools/write_metadata.py'


def test_one_pinned_beam_version():
    pin = re.search(r'^apache-beam\[gcp\]==([\d.]+)$', read('requirements.in'), re.M).group(1)
    assert f'apache-beam=={pin}' in read('requirements.lock')
    assert f'beam_python3.11_sdk:{pin}' in read('templates/Dockerfile')


def test_dockerfile_installs_tesseract_and_checks_the_stack():
    dockerfile = read('templates/Dockerfile')
    assert 'tesseract-ocr' in dockerfile and 'tools/pip_check.py' in dockerfile
    assert 'FLEX_TEMPLATE_PYTHON_PY_FILE=/template/pipeline/run.py' in dockerfile
