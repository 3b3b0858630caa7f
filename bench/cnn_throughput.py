"""CNN images per second, GPU against CPU, on the same .keras model: the RunInference step's work.

    python bench/cnn_throughput.py [--model models/efficientnet_lite0.keras] [--batch_sizes 1 16 64 256]

Runs the model (Keras 3) on batches of 224x224x3 float32 images, once per device kind in a
fresh process each (CPU always; the GPU when one is visible), `--runs` times per batch size
after a warm-up, and prints the median images per second and the GPU / CPU ratio measured in
the same invocation. The backend is Keras's own choice (KERAS_BACKEND): TensorFlow in the
project's environment; JAX on the lent GPU machine, which has JAX but no TensorFlow (see the
docs/performance.md, "GPU"), so there the TensorFlow GPU path is measured only through this proxy: the same
.keras file, the same layers, another backend. The job's own model is a SavedModel folder,
which needs TensorFlow; write the .keras file of the same weights with
`python -m pipeline.build_model --out models/efficientnet_lite0.keras`.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def measure(model_path: str, batch_sizes, runs: int, batches: int) -> dict:
    """In this process, on its one device kind: {batch size: [images/s per run]} and the device name."""
    import numpy as np
    import keras
    model = keras.saving.load_model(model_path, compile=False)
    rng = np.random.default_rng(0)
    rates = {}
    for batch_size in batch_sizes:
        images = rng.uniform(0, 255, (batch_size * batches, 224, 224, 3)).astype('float32')
        model.predict(images[:batch_size], batch_size=batch_size, verbose=0)  # compile and warm up
        rates[batch_size] = []
        for _ in range(runs):
            started = time.perf_counter()
            model.predict(images, batch_size=batch_size, verbose=0)
            rates[batch_size].append(len(images) / (time.perf_counter() - started))
    return {'backend': keras.backend.backend(), 'device': device_name(), 'rates': rates}


def device_name() -> str:
    import keras
    if keras.backend.backend() == 'jax':
        import jax
        return str(jax.devices()[0])
    import tensorflow as tf
    gpus = tf.config.list_logical_devices('GPU')
    return gpus[0].name if gpus else 'CPU'


def gpu_visible() -> bool:
    try:
        return subprocess.run(['nvidia-smi', '-L'], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_on(kind: str, args) -> dict:
    """measure() in a child process that sees only this device kind."""
    env = dict(os.environ)
    if kind == 'cpu':
        env.update(CUDA_VISIBLE_DEVICES='', JAX_PLATFORMS='cpu')
    argv = [sys.executable, __file__, '--child', '--model', args.model, '--runs', str(args.runs),
            '--batches', str(args.batches), '--batch_sizes', *map(str, args.batch_sizes)]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f'{kind} run failed: {done.stderr[-3000:]}')
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=os.path.join(ROOT, 'models', 'efficientnet_lite0.keras'))
    parser.add_argument('--batch_sizes', type=int, nargs='+', default=[1, 16, 64, 256])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--batches', type=int, default=4, help='batches per timed run')
    parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.model, args.batch_sizes, args.runs, args.batches)))
        return
    results = {'cpu': run_on('cpu', args)}
    if gpu_visible():
        results['gpu'] = run_on('gpu', args)
    print(f'CNN (EfficientNet-Lite0, 224x224) images/s, median of {args.runs} runs of {args.batches} batches, '
          f'Keras backend {results["cpu"]["backend"]}; ' + '; '.join(f'{k}: {r["device"]}' for k, r in results.items()))
    header = '| batch | ' + ' | '.join(f'{kind} images/s' for kind in results) + (' | GPU / CPU |' if 'gpu' in results else ' |')
    print(header)
    print('|---' * (header.count('|') - 1) + '|')
    for batch_size in args.batch_sizes:
        medians = {kind: statistics.median(r['rates'][str(batch_size)]) for kind, r in results.items()}
        line = f'| {batch_size} | ' + ' | '.join(f'{m:.1f}' for m in medians.values())
        print(line + (f' | {medians["gpu"] / medians["cpu"]:.1f}x |' if 'gpu' in medians else ' |'))


if __name__ == '__main__':
    main()
