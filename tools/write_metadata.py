"""Write templates/metadata.json from SpecscanOptions, so the template's parameters are the options.

    python tools/write_metadata.py

tests/test_templates.py fails when the two drift apart; run this after changing an option.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from pipeline.options import REQUIRED_OPTIONS, SpecscanOptions  # noqa: E402

METADATA_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'templates',
                             'metadata.json')


def option_actions():
    """The argparse actions SpecscanOptions defines, in order."""
    parser = argparse.ArgumentParser()
    SpecscanOptions._add_argparse_args(parser)
    return [a for a in parser._actions if a.dest != 'help']


def metadata() -> dict:
    parameters = []
    for action in option_actions():
        parameter = {'name': action.dest, 'label': action.dest.replace('_', ' ').capitalize(),
                     'helpText': action.help, 'isOptional': action.dest not in REQUIRED_OPTIONS}
        if action.dest in ('input', 'output', 'images_dir', 'model_path'):
            parameter['regexes'] = ['^(gs://|/).+$']
        parameters.append(parameter)
    return {'name': 'specscan',
            'description': 'Read product facts (weight, volume, voltage, wattage, dimensions) out of '
                           'product images listed in a challenge-format CSV.',
            'parameters': parameters}


if __name__ == '__main__':
    with open(METADATA_PATH, 'w') as handle:
        json.dump(metadata(), handle, indent=2)
        handle.write('\n')
    print(METADATA_PATH)
