"""specscan as an installable package, for Dataflow workers (--setup_file) and the Flex Template.

The dependencies are those of requirements.in, pins included; requirements.lock (compiled
from it) pins everything else for the virtualenv and the container image.
"""
import os

import setuptools

HERE = os.path.dirname(os.path.abspath(__file__))


def requirements():
    with open(os.path.join(HERE, 'requirements.in')) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith('#')]


setuptools.setup(
    name='specscan',
    version='0.1.0',
    description='Read product facts (weight, volume, voltage, wattage, dimensions) out of product images.',
    packages=['pipeline', 'transforms', 'transforms.logic'],
    # the priors (`make priors`) and the learned chooser (`make train`) that workers read; the
    # report's jinja2 templates
    package_data={'transforms': ['data/*.json'], 'pipeline': ['report_templates/*']},
    # `specscan run|evaluate|report|errors|train`, each the module's main (pipeline/cli.py)
    entry_points={'console_scripts': ['specscan = pipeline.cli:main']},
    python_requires='>=3.11,<3.12',
    install_requires=requirements(),
)
