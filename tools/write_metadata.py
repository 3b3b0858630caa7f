"""Write templates/metadata.json and the table of docs/options.md from SpecscanOptions, so the
template's parameters and the documented options are the options.

    python tools/write_metadata.py

tests/test_templates.py and tests/test_docs.py fail when either drifts; run this after changing an option.

Each parameter gets, from its argparse definition: its help text, whether it is required, a
default shown in the Dataflow console (`defaultValue`), a group (`groupName`, the console's
sections), and what Dataflow checks at launch: `regexes` (paths, numbers, choices) and, for
choices, `paramType: ENUM` with its `enumOptions`. Parameters that are not numbers, choices or
paths (the store_true flags) are left unchecked.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pipeline.options import REQUIRED_OPTIONS, SpecscanOptions  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METADATA_PATH = os.path.join(ROOT, 'templates', 'metadata.json')
OPTIONS_DOC_PATH = os.path.join(ROOT, 'docs', 'options.md')
# docs/options.md's table is the text between these two lines.
TABLE_START = '<!-- options table: written by python tools/write_metadata.py from SpecscanOptions; do not edit -->'
TABLE_END = '<!-- end of the options table -->'

# Where templates/Dockerfile builds the CNN: the value a template run passes as model_path.
IMAGE_MODEL_PATH = '/template/models/efficientnet_lite0'

PATH_REGEX = '^(gs://|/).+$'
INT_REGEX = '^[0-9]+$'
FLOAT_REGEX = '^[0-9]+([.][0-9]+)?$'

# The console's sections; an option not named here goes under OTHER.
GROUPS = {
    'Input and output': ('input', 'output', 'images_dir', 'num_shards', 'annotate_dir', 'store', 'resume'),
    'Model and batching': ('model_path', 'inference_min_batch_size', 'inference_max_batch_size',
                           'preprocess_batch_size'),
    'Reading the text': ('ocr_engine', 'ppocr_detection_side', 'ppocr_min_side', 'ppocr_retry_side',
                         'chooser', 'blank_when_unread', 'min_confidence', 'confidence_truth', 'ocr_psm', 'ocr_max_side'),
    'Fetching images': ('fetch_timeout', 'fetch_retries', 'fetch_deadline', 'fetch_concurrency',
                        'allow_private_networks', 'max_image_pixels', 'max_image_bytes'),
    'Progress': ('quiet', 'progress_every'),
}
OTHER = 'Other'
PATH_OPTIONS = ('input', 'output', 'images_dir', 'model_path', 'annotate_dir', 'store')


def option_actions():
    """The argparse actions SpecscanOptions defines, in order."""
    parser = argparse.ArgumentParser()
    SpecscanOptions._add_argparse_args(parser)
    return [a for a in parser._actions if a.dest != 'help' and a.help != argparse.SUPPRESS]  # not the old names


def group_of(name: str) -> str:
    return next((group for group, names in GROUPS.items() if name in names), OTHER)


def parameter(action: argparse.Action) -> dict:
    name = action.dest
    entry = {'name': name, 'label': name.replace('_', ' ').capitalize(), 'helpText': action.help,
             'isOptional': name not in REQUIRED_OPTIONS, 'groupName': group_of(name)}
    if name in PATH_OPTIONS:
        entry['regexes'] = [PATH_REGEX]
    elif action.choices:
        entry['regexes'] = ['^(' + '|'.join(action.choices) + ')$']
        entry['paramType'] = 'ENUM'
        entry['enumOptions'] = [{'value': choice} for choice in action.choices]
    elif action.type is int:
        entry['regexes'] = [INT_REGEX]
    elif action.type is float:
        entry['regexes'] = [FLOAT_REGEX]
    default = IMAGE_MODEL_PATH if name == 'model_path' else action.default
    if default is not None and not isinstance(default, bool):
        entry['defaultValue'] = str(default)
    return entry


def metadata() -> dict:
    return {'name': 'specscan',
            'description': 'Read product facts (weight, volume, voltage, wattage, dimensions) out of '
                           'product images listed in a challenge-format CSV.',
            'parameters': [parameter(action) for action in option_actions()]}


def shown_default(action: argparse.Action) -> str:
    if action.dest in REQUIRED_OPTIONS:
        return '(required)'
    if action.default is None or isinstance(action.default, bool):
        return 'off' if action.default is False else 'none'
    return f'`{action.default}`'


def options_table() -> str:
    """The Markdown table of every option: name, default and help, as `--help` gives them."""
    rows = ['| option | default | what |', '| --- | --- | --- |']
    for action in option_actions():
        what = action.help + (' One of: ' + ', '.join(f'`{c}`' for c in action.choices) + '.'
                              if action.choices else '')
        rows.append(f'| `--{action.dest}` | {shown_default(action)} | {what.replace("|", "&#124;")} |')
    return '\n'.join(rows)


def with_options_table(page: str) -> str:
    """page (docs/options.md) with the text between the table markers replaced by options_table()."""
    start = page.index(TABLE_START) + len(TABLE_START)
    return page[:start] + '\n' + options_table() + '\n' + page[page.index(TABLE_END, start):]


if __name__ == '__main__':
    with open(METADATA_PATH, 'w') as handle:
        json.dump(metadata(), handle, indent=2)
        handle.write('\n')
    with open(OPTIONS_DOC_PATH) as handle:
        page = handle.read()
    with open(OPTIONS_DOC_PATH, 'w') as handle:
        handle.write(with_options_table(page))
    print(METADATA_PATH, OPTIONS_DOC_PATH)
