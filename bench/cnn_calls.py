"""CPU seconds per image of the Embed stage's forward pass: the Keras model called eagerly (as
before 93d96a2), compiled (transforms.embed.compiled, what a `.keras` --model_path runs) and the
SavedModel's signature the workers run by default (transforms.embed.ServingSignature).

    .venv/bin/python bench/cnn_calls.py [--batch_sizes 1 4 16] [--runs 5]

One process, one TensorFlow intra-op thread as in a worker (transforms/__init__.py), the Keras
model built from the packaged weights, the SavedModel folder `make model` writes, random 224x224
images. Per batch size it times --runs calls of each kind after a warm-up and prints the median
CPU seconds (process time) per image, the graph's and the signature's ratio to eager, the CPU the
graph's one trace costs, and the largest difference between eager and signature embeddings.
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from transforms.logic.lite0 import MODEL_PATH  # noqa: E402


def cpu_per_image(call, images, runs: int) -> float:
    call(images)  # warm-up
    times = []
    for _ in range(runs):
        started = time.process_time()
        call(images)
        times.append((time.process_time() - started) / len(images))
    return statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default=os.path.join(ROOT, MODEL_PATH), help='the SavedModel folder')
    parser.add_argument('--batch_sizes', type=int, nargs='+', default=[1, 4, 16])
    parser.add_argument('--runs', type=int, default=5)
    args = parser.parse_args(argv)
    import numpy as np
    import transforms  # noqa: F401  (one intra-op thread, as the workers)
    from transforms.embed import ServingSignature, compiled
    from transforms.logic import lite0
    model = lite0.build_lite0()
    lite0.load_torch_weights(model, lite0.read_legacy_torch_state_dict(lite0.default_weights_path()))
    signature = ServingSignature(args.model)
    started = time.process_time()
    graph = compiled(model)
    graph(np.zeros((1, 224, 224, 3), np.float32))
    trace = time.process_time() - started
    rng = np.random.default_rng(0)
    print(f'CNN forward pass, CPU s per image, median of {args.runs} calls, one thread; the graph\'s trace: '
          f'{trace:.1f} CPU s once per worker')
    print('| batch | eager Keras | compiled graph | SavedModel signature | graph / eager | signature / eager | '
          'largest embedding difference |')
    print('|---|---|---|---|---|---|---|')
    for batch_size in args.batch_sizes:
        images = rng.uniform(0, 255, (batch_size, 224, 224, 3)).astype('float32')
        eager = cpu_per_image(lambda x: model(x, training=False), images, args.runs)
        fast = cpu_per_image(graph, images, args.runs)
        saved = cpu_per_image(signature, images, args.runs)
        difference = np.abs(np.asarray(model(images, training=False)['embedding'])
                            - np.asarray(signature(images)['embedding'])).max()
        print(f'| {batch_size} | {eager:.4f} | {fast:.4f} | {saved:.4f} | {fast / eager:.2f} | {saved / eager:.2f} | '
              f'{difference:.1e} |')


if __name__ == '__main__':
    main()
