"""CPU seconds a worker process spends before its first image: the fixed cost each extra worker
adds, which decides how well a small job gains from a second worker (bench/scale_bench.py).

    .venv/bin/python bench/worker_startup.py [--runs 5] [--keras FILE]

Each part is timed in fresh processes (`--runs` each, median of CPU process time), in a worker's
order: Beam's SDK harness, TensorFlow (imported plainly, and through transforms.tensorflow(),
which hides scikit-learn and matplotlib from Keras), the OCR engine's models (the job's own OCR
settings; --engine picks another engine), and the CNN loaded and called once on one image (the
SavedModel folder `make model` writes, and a `.keras` file of the same weights, converted into a
temporary folder unless --keras names one, loaded as the job did before abc4a91, through Beam's
TFModelHandlerNumpy, and as it loads now).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from transforms.logic.lite0 import MODEL_PATH  # noqa: E402

PART = '''
import time
{setup}
started = time.process_time()
{part}
print(time.process_time() - started)
'''
TENSORFLOW = 'from transforms import tensorflow; tensorflow()'
PARTS = {
    "Beam's SDK harness (import)": ('', 'import apache_beam.runners.worker.sdk_worker_main'),
    'TensorFlow, plain import': ('', 'import tensorflow'),
    'TensorFlow, through transforms.tensorflow()': ('import transforms', TENSORFLOW),
    'OCR models (--engine)': (
        'from pipeline.options import default_options, job_config\n'
        'from transforms.read_text import make_readers\n'
        'import cv2, onnxruntime\n'
        'config = job_config(default_options({engine_flags!r})).ocr',
        '[reader.setup() for reader in make_readers(config)]'),
    'CNN, SavedModel folder: load + first call': (
        f'{TENSORFLOW}\nimport numpy as np\nfrom transforms.embed import Lite0ModelHandler',
        'Lite0ModelHandler({model!r}, 1, 16).load_model()(np.zeros((1, 224, 224, 3), np.float32))'),
    "CNN, .keras file through Beam's TFModelHandlerNumpy (before abc4a91)": (
        f'{TENSORFLOW}\nimport numpy as np\nfrom transforms.embed import compiled',
        'from apache_beam.ml.inference.tensorflow_inference import ModelType, TFModelHandlerNumpy\n'
        'model = TFModelHandlerNumpy({keras!r}, model_type=ModelType.SAVED_MODEL).load_model()\n'
        'compiled(model)(np.zeros((1, 224, 224, 3), np.float32))'),
    'CNN, .keras file: load + trace + first call': (
        f'{TENSORFLOW}\nimport numpy as np\nfrom transforms.embed import Lite0ModelHandler',
        'Lite0ModelHandler({keras!r}, 1, 16).load_model()(np.zeros((1, 224, 224, 3), np.float32))'),
}


def timed(setup: str, part: str) -> float:
    done = subprocess.run([sys.executable, '-c', PART.format(setup=setup, part=part)], cwd=ROOT, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--parts', nargs='+', help='only the parts whose names start with these words')
    parser.add_argument('--model', default=os.path.join(ROOT, MODEL_PATH))
    parser.add_argument('--engine', help="the OCR engine whose models load (default: the job's)")
    parser.add_argument('--keras', help='a .keras file of the CNN (default: converted now)')
    args = parser.parse_args(argv)
    keras = args.keras
    if not keras:
        from transforms.logic import lite0
        keras = lite0.convert(out_path=os.path.join(tempfile.mkdtemp(prefix='specscan-keras-'), 'lite0.keras'))
    print(f'a worker\'s start-up, CPU seconds per part, median of {args.runs} fresh processes; {os.cpu_count()} cores')
    print('| part | CPU s (median) | runs |')
    print('|---|---|---|')
    fields = dict(model=args.model, keras=keras, engine_flags=[f'--ocr_engine={args.engine}'] if args.engine else [])
    for name, (setup, part) in PARTS.items():
        if args.parts and not any(name.startswith(start) for start in args.parts):
            continue
        seconds = [timed(setup.format(**fields), part.format(**fields)) for _ in range(args.runs)]
        print(f'| {name} | {statistics.median(seconds):.2f} | {", ".join(f"{s:.2f}" for s in seconds)} |',
              flush=True)


if __name__ == '__main__':
    main()
