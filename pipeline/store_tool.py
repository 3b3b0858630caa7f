"""`specscan store`: what a result store holds, and pruning the versions a job no longer reads.

    specscan store --store PATH [the job's reading options] [--prune]

A store keeps one folder per reading version (transforms/logic/store_version.py); a job reads only the folder
of its own version, so after a change of OCR engine, model or reading options the older folders
are dead weight. This lists each version folder with its images and bytes, marks the one the
given options read (give the same --ocr_engine, --ppocr_*, --ocr_max_side, --max_image_pixels,
--model_path and --skip_cnn as the nightly job; the defaults otherwise), and with --prune deletes
every other version and the temporary files of killed writes. Link records (links/) are kept:
they only hold each link's last sha256 and validators.
"""
import sys
from collections import defaultdict

from apache_beam.io.filesystems import FileSystems

from pipeline.arguments import StrictParser, UnknownOption, check_pipeline_flags
from pipeline.options import SpecscanOptions, job_config
from transforms.files import delete_folder
from transforms.logic.store_entries import LINKS_DIR, VERSION_FILE


def version_folders(root: str) -> dict:
    """version -> (images, files, bytes) of each version folder under the store."""
    images, files, sizes = defaultdict(set), defaultdict(int), defaultdict(int)
    for pattern in ('*/*/*', f'*/{VERSION_FILE}'):
        for metadata in FileSystems.match([FileSystems.join(root, pattern)])[0].metadata_list:
            relative = metadata.path[len(root.rstrip('/')) + 1:].split('/')
            version = relative[0]
            if version == LINKS_DIR:
                continue
            files[version] += 1
            sizes[version] += metadata.size_in_bytes
            if len(relative) == 3 and '.tmp-' not in relative[2]:
                images[version].add(relative[2].split('.')[0])
    return {version: (len(images[version]), files[version], sizes[version]) for version in sorted(files)}


def leftover_temporaries(root: str) -> list:
    """Temporary files of writes a killed run left (never read: entries are read by their own names)."""
    matches = FileSystems.match([FileSystems.join(root, '*', '*', '*.tmp-*')])[0].metadata_list
    return [metadata.path for metadata in matches]


def main(argv=None) -> int:
    parser = StrictParser(prog='specscan store', description=__doc__.split('\n\n')[0],
                                     epilog='The job\'s reading options are accepted as `specscan run` takes them.')
    parser.add_argument('--store', required=True, help='the result store (local folder or gs://)')
    parser.add_argument('--prune', action='store_true',
                        help='delete every version folder but the current one, and leftover temporary files')
    args, job_argv = parser.parse_known_args(argv)
    try:  # the rest must be the job's own options
        check_pipeline_flags(job_argv)
    except UnknownOption as error:
        print(f'specscan store: {error}', file=sys.stderr)
        return 2
    options = SpecscanOptions(job_argv + ['--output=unused'])
    current = job_config(options).store.version
    root = args.store.rstrip('/')
    if not FileSystems.exists(root):
        print(f'specscan: no store at {root}', file=sys.stderr)
        return 2
    folders = version_folders(root)
    print(f'store {root}: the given options read version {current}')
    print('| version | images | files | MB | |')
    print('|---|---|---|---|---|')
    for version, (images, files, size) in folders.items():
        print(f'| {version} | {images} | {files} | {size / 1e6:.1f} | {"current" if version == current else ""} |')
    if not args.prune:
        return 0
    stale = [FileSystems.join(root, version) for version in folders if version != current]
    temporaries = leftover_temporaries(root)
    for folder in stale:
        delete_folder(folder)
    if temporaries:
        FileSystems.delete(temporaries)
    print(f'pruned {len(stale)} old versions and {len(temporaries)} leftover temporary files')
    return 0


if __name__ == '__main__':
    sys.exit(main())
