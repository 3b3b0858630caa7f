"""Build transforms/data/priors.json from the training labels (`make priors`).

    python -m pipeline.build_priors --labels ../shared/data/train_labels.csv [--out PATH]
"""
import argparse
import csv
import json
import sys

from transforms.priors import PRIORS_PATH, build_priors


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--labels', required=True, help='train_labels.csv (group_id, entity_name, entity_value)')
    parser.add_argument('--out', default=str(PRIORS_PATH))
    args = parser.parse_args(argv)
    with open(args.labels, newline='', encoding='utf-8') as handle:
        priors = build_priors(csv.DictReader(handle))
    with open(args.out, 'w', encoding='utf-8') as handle:
        json.dump(priors, handle, separators=(',', ':'), sort_keys=True)
        handle.write('\n')
    counted = sum(sum(u.values()) for u in priors['units'].values())
    print(f'{args.out}: {counted} labels counted, {len(priors["group_units"])} groups')
    return 0


if __name__ == '__main__':
    sys.exit(main())
