"""CPU seconds per image of the Embed stage's forward pass: the Keras model called eagerly (as
before) against the compiled graph the workers now run (transforms.embed.compiled).

    .venv/bin/python bench/cnn_calls.py [--batch_sizes 1 4 16] [--runs 5]

One process, one TensorFlow intra-op thread as in a worker (transforms/__init__.py), the real
.keras file, random 224x224 images. Per batch size it times --runs calls of each kind after a
warm-up and prints the median CPU seconds (process time) per image, their ratio, the CPU the
graph's one trace costs, and the largest difference between the two kinds' embeddings.
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


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
    parser.add_argument('--model', default=os.path.join(ROOT, 'models', 'efficientnet_lite0.keras'))
    parser.add_argument('--batch_sizes', type=int, nargs='+', default=[1, 4, 16])
    parser.add_argument('--runs', type=int, default=5)
    args = parser.parse_args(argv)
    import numpy as np
    import transforms  # noqa: F401  (one intra-op thread, as the workers)
    from transforms.embed import Lite0ModelHandler, compiled
    model = Lite0ModelHandler(args.model, 1, max(args.batch_sizes)).tensorflow_handler().load_model()
    started = time.process_time()
    graph = compiled(model)
    graph(np.zeros((1, 224, 224, 3), np.float32))
    trace = time.process_time() - started
    rng = np.random.default_rng(0)
    print(f'CNN forward pass, CPU s per image, median of {args.runs} calls, one thread; the graph\'s trace: '
          f'{trace:.1f} CPU s once per worker')
    print('| batch | eager Keras | compiled graph | graph / eager | largest embedding difference |')
    print('|---|---|---|---|---|')
    for batch_size in args.batch_sizes:
        images = rng.uniform(0, 255, (batch_size, 224, 224, 3)).astype('float32')
        eager = cpu_per_image(lambda x: model(x, training=False), images, args.runs)
        fast = cpu_per_image(graph, images, args.runs)
        difference = np.abs(np.asarray(model(images, training=False)['embedding'])
                            - np.asarray(graph(images)['embedding'])).max()
        print(f'| {batch_size} | {eager:.4f} | {fast:.4f} | {fast / eager:.2f} | {difference:.1e} |')


if __name__ == '__main__':
    main()
