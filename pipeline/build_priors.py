"""Build transforms/data/priors.json from the training labels (`make priors`).

    python -m pipeline.build_priors --labels ../shared/data/train_labels.csv \
        --exclude ../shared/data/dev/labels.csv [--out PATH]

--exclude leaves out every training row whose image_link appears in that CSV: the dev images
are challenge training images, so without it their own labels would be counted into the priors
they are scored with.
"""
import argparse
import csv
import json
import sys

from pipeline.arguments import StrictParser
from transforms.logic.priors import PRIORS_PATH, build_priors


def excluded_links(paths) -> frozenset:
    """The image_link column of every CSV named."""
    links = set()
    for path in paths:
        with open(path, newline='', encoding='utf-8') as handle:
            links.update(row['image_link'] for row in csv.DictReader(handle))
    return frozenset(links)


def main(argv=None) -> int:
    parser = StrictParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--labels', required=True, help='train_labels.csv (group_id, entity_name, entity_value)')
    parser.add_argument('--exclude', action='append', default=[], metavar='CSV',
                        help='leave out rows whose image_link appears in this CSV (repeatable)')
    parser.add_argument('--out', default=str(PRIORS_PATH))
    args = parser.parse_args(argv)
    with open(args.labels, newline='', encoding='utf-8') as handle:
        priors = build_priors(csv.DictReader(handle), excluded_links(args.exclude))
    with open(args.out, 'w', encoding='utf-8') as handle:
        json.dump(priors, handle, separators=(',', ':'), sort_keys=True)
        handle.write('\n')
    counted = sum(sum(u.values()) for u in priors['units'].values())
    print(f'{args.out}: {counted} labels counted, {priors["excluded_rows"]} rows left out, '
          f'{len(priors["group_units"])} groups')
    return 0


if __name__ == '__main__':
    sys.exit(main())
