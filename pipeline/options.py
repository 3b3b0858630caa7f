"""SpecscanOptions: every option of the job, and its default, in one PipelineOptions subclass.

The defaults live here only: `job_config` turns the options into the small config dataclass
each stage takes, and the stages keep no defaults of their own. templates/metadata.json (the
Flex Template's parameters) is generated from this class (tools/write_metadata.py; a test checks
it), so an option added here is added there by re-running that tool.
"""
import argparse
import os
from dataclasses import dataclass
from typing import Optional

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, WorkerOptions

from transforms.annotate import AnnotateConfig
from transforms.choose import ChooseConfig
from transforms.embed import EmbedConfig
from transforms.fetch_images import FetchConfig
from transforms.files import StoreConfig, model_hash
from transforms.logic.chooser import CHOOSERS
from transforms.logic.confidence import DEFAULT_TRUTH, TRUTHS
from transforms.logic.download import MAX_RETRY_AFTER_SECONDS
from transforms.logic.engines import ENGINES
from transforms.logic.lite0 import MODEL_PATH
from transforms.logic.store_version import version_of, version_parts
from transforms.preprocess import PreprocessConfig
from transforms.read_text import OcrConfig

# --rapidocr_* governed every PP-OCR engine: renamed --ppocr_*, the old names kept for one release
RENAMED = {'rapidocr_detection_side': 'ppocr_detection_side', 'rapidocr_min_side': 'ppocr_min_side',
           'rapidocr_retry_side': 'ppocr_retry_side'}
# Not argparse-required: Beam parses every options class whenever any view is taken, so a
# required flag would break unrelated PipelineOptions; run.check_arguments enforces these.
REQUIRED_OPTIONS = ('input', 'output')


def on_off(text: str) -> bool:
    """A switch that is on as `--resume` alone and also takes `--resume=true` / `=false`, as a Flex
    Template launcher passes every parameter as `--name=value`."""
    value = str(text).strip().lower()
    if value in ('true', '1', 'yes', 'on'):
        return True
    if value in ('false', '0', 'no', 'off', ''):
        return False
    raise ValueError(f'expected true or false, got {text!r}')


# An option that is off unless given: `--resume`, `--resume=true`, `--resume=false`.
SWITCH = dict(type=on_off, nargs='?', const=True, default=False)


def _detection_sides() -> str:
    """'736 for ppocrv6-fast, 960 for the others': each PP-OCR engine's own detection size."""
    sides = {name: engine.detection_side for name, engine in ENGINES.items() if engine.paddle}
    usual = max(set(sides.values()), key=list(sides.values()).count)
    own = [f'{side} for {name}' for name, side in sides.items() if side != usual]
    return ', '.join(own + [f'{usual} for the others'])


class SpecscanOptions(PipelineOptions):
    @classmethod
    def _add_argparse_args(cls, parser):
        parser.add_argument('--input',
                            help='(Required) CSV with index,image_link,group_id,entity_name (local path or gs://).')
        parser.add_argument('--output',
                            help='(Required) Folder for predictions.csv, records/, failures/ and summary.json '
                                 '(local path or gs://); earlier results there are replaced.')
        parser.add_argument('--images_dir', default=None,
                            help='Image cache, files named by the last path part of image_link (local or '
                                 'gs://). Images found there are not fetched; fetched ones are written there '
                                 'when it is writable.')
        parser.add_argument('--model_path', default=MODEL_PATH,
                            help='The EfficientNet-Lite0 model `make model` writes: a SavedModel folder (local or '
                                 'gs://); a .keras file of it also loads.')
        parser.add_argument('--inference_min_batch_size', type=int, default=1,
                            help='Smallest batch RunInference sends to the CNN.')
        parser.add_argument('--inference_max_batch_size', type=int, default=16,
                            help='Largest batch RunInference sends to the CNN (raise it on a GPU, e.g. 128).')
        parser.add_argument('--preprocess_batch_size', type=int, default=8,
                            help='Images decoded per TensorFlow preprocessing batch.')
        parser.add_argument('--ocr_engine', default='ppocrv6-fast', choices=tuple(ENGINES),
                            help='OCR engine: ppocrv6-fast (PP-OCRv6 tiny, with the small recogniser reading again '
                                 'the numbers tiny reads unsurely: nearly the F1 of ppocrv6 for much less CPU), ppocrv6 '
                                 '(PP-OCRv6 small), ppocrv6-tiny, ppocrv6-tinydet (tiny\'s detector, small\'s '
                                 'recogniser), ppocrv5, rapidocr (PP-OCRv4), tesseract (fastest, weakest), both '
                                 '(Tesseract\'s and PP-OCRv4\'s words together), or none (no text is read and no '
                                 'value predicted: for measuring fetching and decoding alone).')
        parser.add_argument('--skip_cnn', **SWITCH,
                            help='Compute no CNN embedding (records get an empty one); with --ocr_engine none, '
                                 'the job only fetches and decodes.')
        parser.add_argument('--ppocr_detection_side', type=int, default=None,
                            help='Long side (pixels) of the copy the PP-OCR engines find text boxes on; boxes are '
                                 f'read at full resolution. Default: the engine\'s own ({_detection_sides()}). 0: detect '
                                 'on the whole image (up to 2000 px, slower).')
        parser.add_argument('--ppocr_min_side', type=int, default=1000,
                            help='Images whose long side is shorter than this (pixels) are enlarged before '
                                 'the PP-OCR engines read them; 0 reads them as they are.')
        parser.add_argument('--ppocr_retry_side', type=int, default=1600,
                            help='When a PP-OCR engine finds no quantity in an image, it reads it again detecting on a '
                                 'copy this long (pixels), for small print on large images; 0: no second pass.')
        for old, new in RENAMED.items():  # the old names, one release more: pipeline/run.py warns
            parser.add_argument(f'--{old}', dest=new, type=int, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        parser.add_argument('--chooser', default='learned', choices=CHOOSERS,
                            help='How a row\'s value is chosen among the quantities read: the learned '
                                 'scorer (transforms/data/chooser.json, `make train`), which leaves a row blank '
                                 'when its best reading is too unsure, or the hand-set rule, which never does.')
        parser.add_argument('--blank_when_unread', **SWITCH,
                            help='Leave a row blank when no quantity on its image has a unit its entity allows '
                                 'and no bare number is read, instead of predicting the value its product '
                                 'group\'s training labels give most often (the rule chooser guesses it; the '
                                 'learned chooser only where that guess clears its threshold).')
        parser.add_argument('--min_confidence', type=float, default=0.0,
                            help='Leave a prediction blank in predictions.csv when its calibrated confidence (the '
                                 'probability that it is right, 0 to 1) is below this; it stays in '
                                 'confidence.csv. 0 keeps every prediction; docs/confidence.md says how to pick it.')
        parser.add_argument('--confidence_truth', default=DEFAULT_TRUTH, choices=TRUTHS,
                            help='What the confidence is the probability of: that the catalogue lists the value '
                                 '(catalogue: the official metric\'s truth, where a length printed in two units '
                                 'is right in one of them only) or that the picture prints it (printed: either '
                                 'unit is right). The same prediction is less sure on the catalogue\'s truth; '
                                 'docs/confidence.md has both calibrations\' figures.')
        parser.add_argument('--ocr_psm', type=int, default=11,
                            help='Tesseract page segmentation mode (11: sparse text, 3: automatic).')
        parser.add_argument('--ocr_max_side', type=int, default=4000,
                            help='Images longer than this (pixels) are scaled down before OCR; 0 keeps all.')
        parser.add_argument('--max_image_pixels', type=int, default=40_000_000,
                            help='Images with more pixels than this are refused (decompression bombs).')
        parser.add_argument('--max_image_bytes', type=int, default=50 * 1024 * 1024,
                            help='Images larger than this many bytes are refused.')
        parser.add_argument('--fetch_timeout', type=float, default=20.0,
                            help='Seconds to wait for an image server before giving up on a try.')
        parser.add_argument('--fetch_retries', type=int, default=3,
                            help='Retries of a fetch after connection errors, timeouts, 429 and 5xx answers, '
                                 f'with exponential backoff (Retry-After is honoured up to '
                                 f'{MAX_RETRY_AFTER_SECONDS:.0f} s).')
        parser.add_argument('--fetch_deadline', type=float, default=60.0,
                            help='Seconds one image may take in all, retries and waits included, so a '
                                 'server that drips bytes cannot hold a worker.')
        parser.add_argument('--fetch_concurrency', type=int, default=32,
                            help='Downloads kept in flight at once by each worker process.')
        parser.add_argument('--allow_private_networks', **SWITCH,
                            help='Trust the CSV\'s links: fetch from loopback, private, link-local and '
                                 'reserved addresses and read gs:// links (refused by default: a CSV is '
                                 'untrusted input). For tests and on-premise mirrors.')
        parser.add_argument('--store', default=None,
                            help='Result store kept across runs (local folder or gs://): each image\'s reading '
                                 'under the sha256 of its bytes and the reading version, so images read by '
                                 'an earlier run with the same reading settings are not decoded or read '
                                 'again (their rows are chosen again), and links are fetched with '
                                 'If-None-Match / If-Modified-Since. Default: --output/store/, removed when '
                                 'the run ends.')
        parser.add_argument('--resume', **SWITCH,
                            help='Go on from a run that stopped before its end: images it read are taken '
                                 'from its store (--store, or --output/store/) and links it fetched are not '
                                 'fetched again.')
        parser.add_argument('--annotate_dir', default=None,
                            help='Write each row\'s image here (local or gs://) with every candidate quantity '
                                 'boxed, the chosen one in red, and the prediction printed; one JPEG per row, '
                                 'named by its index. For looking at runs; an image whose bytes this run did '
                                 'not fetch (a 304 answer, or --resume) is drawn on a blank canvas.')
        parser.add_argument('--quiet', **SWITCH,
                            help='No progress line while a local run works (the summary is still printed).')
        parser.add_argument('--progress_every', type=int, default=1000,
                            help='When stderr is not a terminal, a progress line is logged every this many rows '
                                 '(on a terminal a live bar is shown instead).')
        parser.add_argument('--num_shards', type=int, default=0,
                            help='Shards of records/ and failures/; 0 lets the runner decide.')


@dataclass(frozen=True)
class JobConfig:
    """What each stage of the job needs, built from the options by `job_config`."""
    input: str
    output: str
    num_shards: int
    fetch: FetchConfig
    preprocess: PreprocessConfig
    embed: EmbedConfig
    ocr: OcrConfig
    store: StoreConfig
    choose: ChooseConfig
    annotate: Optional[AnnotateConfig]


RUN_STORE_DIR = 'store'  # the run's own store under --output when no --store is given


def store_root(options: SpecscanOptions) -> str:
    """--store, or the run's own store under --output (what --resume reads)."""
    return options.store or (FileSystems.join(options.output, RUN_STORE_DIR) if options.output else '')


def job_config(options: SpecscanOptions, trust_links_since: Optional[float] = None) -> JobConfig:
    """The stages' configs from the job's options. `trust_links_since`: when the run being resumed
    started (pipeline/run.py), so that the links it fetched are not fetched again."""
    o = options
    preprocess = PreprocessConfig(o.preprocess_batch_size, o.max_image_pixels, o.ocr_max_side)
    embed = EmbedConfig(o.model_path, o.inference_min_batch_size, o.inference_max_batch_size, o.skip_cnn)
    detection_side = ENGINES[o.ocr_engine].detection_side if o.ppocr_detection_side is None else o.ppocr_detection_side
    ocr = OcrConfig(o.ocr_engine, o.ocr_psm, detection_side, o.ppocr_min_side, o.ppocr_retry_side)
    parts = version_parts(ocr, preprocess, embed, None if o.skip_cnn else model_hash(o.model_path))
    return JobConfig(
        input=o.input, output=o.output, num_shards=o.num_shards,
        fetch=FetchConfig(o.images_dir, o.fetch_timeout, o.fetch_retries, o.max_image_bytes, o.fetch_concurrency,
                          o.fetch_deadline, o.allow_private_networks),
        preprocess=preprocess, embed=embed, ocr=ocr,
        store=StoreConfig(store_root(o), version_of(parts), trust_links_since, parts),
        # with nothing read (--ocr_engine none) there is nothing to guess from either
        choose=ChooseConfig(o.chooser, o.blank_when_unread or not ENGINES[o.ocr_engine].reads_text, o.min_confidence,
                            o.confidence_truth),
        annotate=AnnotateConfig(o.annotate_dir, o.ocr_max_side, o.max_image_pixels) if o.annotate_dir else None)


def default_options(argv=()) -> SpecscanOptions:
    """The options as a run with these flags (none: every default) gets them."""
    return PipelineOptions(list(argv)).view_as(SpecscanOptions)


def quiet_workers(pipeline_options: PipelineOptions) -> None:
    """Keep Beam's worker processes from logging 'Discarding unparseable args' with every specscan flag.

    A worker parses the job's options when it starts, before it imports anything of specscan
    (Beam's sdk_worker_main: options first, then the pickled stages), so SpecscanOptions is unknown
    there and each worker warns once about all of its flags. The flags were already checked where
    the job was launched, so the workers' options logger is set to errors only; an override given
    on the command line (--sdk_harness_log_level_overrides) still wins.
    """
    worker = pipeline_options.view_as(WorkerOptions)
    worker.sdk_harness_log_level_overrides = {WORKER_OPTIONS_LOGGER: 'ERROR',
                                              **(worker.sdk_harness_log_level_overrides or {})}
    # Local worker processes inherit the environment: without this, each prints google-api-core's
    # FutureWarning about Python 3.11 (4 lines a module) when it imports Beam's GCP extras, before
    # any specscan module could filter it as transforms/__init__.py does in this process.
    filters = [entry for entry in os.environ.get('PYTHONWARNINGS', '').split(',') if entry]
    if GOOGLE_PYTHON_WARNING not in filters:
        os.environ['PYTHONWARNINGS'] = ','.join(filters + [GOOGLE_PYTHON_WARNING])


WORKER_OPTIONS_LOGGER = 'apache_beam.options.pipeline_options'
GOOGLE_PYTHON_WARNING = 'ignore::FutureWarning:google.api_core._python_version_support'
