"""Embed: the real converted model behind Beam's RunInference, keys kept attached; --skip_cnn loads none."""
import os
import subprocess
import sys

import apache_beam as beam
import numpy as np
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.embed import Embed, EmbedConfig, embed_batch, lite0_model_handler
from transforms.records import EMBEDDING, FAILED, DecodedImage, Embedding, ImageFacts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def image(link, seed):
    rng = np.random.default_rng(seed)
    cnn_input = rng.integers(0, 256, (224, 224, 3)).astype(np.float32)
    return DecodedImage(ImageFacts(link, 'cache', 224, 224, 0.0, 0.0), cnn_input, None)


def test_embed_batch_gives_one_embedding_per_image(model_path):
    model = lite0_model_handler(model_path, 1, 4).load_model()
    batch = [image('a', 0).cnn_input, image('b', 1).cnn_input]
    results = list(embed_batch(model, batch))
    assert len(results) == 2
    first, second = (np.array(r.inference.vector) for r in results)
    assert first.shape == (1280,) and np.all(first >= 0)  # after ReLU6 and pooling
    assert not np.allclose(first, second)
    assert results[0].inference.seconds > 0


def test_run_inference_keeps_links(model_path):
    def check(outputs):
        links = sorted(link for link, _ in outputs)
        assert links == ['a', 'b', 'c'], links
        for _, embedding in outputs:
            assert isinstance(embedding, Embedding) and len(embedding.vector) == 1280

    with TestPipeline() as pipeline:
        outputs = (pipeline
                   | beam.Create([image('a', 0), image('b', 1), image('c', 2)])
                   | Embed(EmbedConfig(model_path, min_batch_size=1, max_batch_size=2)))
        assert_that(outputs[EMBEDDING], check)
        assert_that(outputs[FAILED], equal_to([]), label='NoFailures')


def test_a_batch_the_model_fails_on_becomes_inference_failures(model_path):
    wrong_shape = DecodedImage(ImageFacts('bad', 'cache', 1, 1, 0.0, 0.0), np.zeros((7, 7, 3), np.float32), None)
    with TestPipeline() as pipeline:
        outputs = (pipeline
                   | beam.Create([wrong_shape])
                   | Embed(EmbedConfig(model_path, min_batch_size=1, max_batch_size=1)))
        assert_that(outputs[FAILED] | beam.MapTuple(lambda link, failure: (link, failure.stage)),
                    equal_to([('bad', 'inference')]))
        assert_that(outputs[EMBEDDING], equal_to([]), label='NoEmbeddings')


def test_skip_cnn_loads_no_model_and_gives_every_image_an_empty_embedding():
    with TestPipeline() as pipeline:
        outputs = (pipeline
                   | beam.Create([image('a', 0), image('b', 1)])
                   | Embed(EmbedConfig('/no/such/model.keras', 1, 16, skip=True)))
        assert_that(outputs[EMBEDDING], equal_to([('a', Embedding((), 0.0)), ('b', Embedding((), 0.0))]))
        assert_that(outputs[FAILED], equal_to([]), label='NoFailures')


def test_building_the_graph_leaves_tensorflow_to_the_workers(model_path):
    # the launching process builds the RunInference step without importing TensorFlow (about 3 s
    # before any worker starts); the handler still batches as configured
    code = ('import sys, apache_beam as beam\n'
            'from transforms.embed import Embed, EmbedConfig, lite0_model_handler\n'
            'pipeline = beam.Pipeline()\n'
            f'pipeline | beam.Create([]) | Embed(EmbedConfig({model_path!r}, 2, 8))\n'
            f'print(lite0_model_handler({model_path!r}, 2, 8).batch_elements_kwargs())\n'
            'print("tensorflow" in sys.modules)\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split('\n')[-3:-1] == ["{'min_batch_size': 2, 'max_batch_size': 8}", 'False']


def test_the_saved_model_and_the_keras_file_give_the_same_outputs_for_any_batch_size(model_path, keras_model_path):
    from transforms.embed import Lite0ModelHandler
    saved = Lite0ModelHandler(model_path, 1, 4).load_model()
    keras_file = Lite0ModelHandler(str(keras_model_path), 1, 4).load_model()
    for size in (1, 3):
        batch = np.stack([image(str(seed), seed).cnn_input for seed in range(size)])
        ours, theirs = saved(batch), keras_file(batch)
        for output in ('embedding', 'logits'):
            np.testing.assert_allclose(np.asarray(ours[output]), np.asarray(theirs[output]), atol=1e-4)
    assert keras_file.experimental_get_tracing_count() == 1  # the .keras path is traced once, then reused


def test_the_compiled_forward_pass_gives_the_eager_embeddings(keras_model_path):
    import keras
    from transforms.embed import compiled
    model = keras.models.load_model(keras_model_path)
    batch = np.stack([image(str(seed), seed).cnn_input for seed in range(2)])
    eager = np.asarray(model(batch, training=False)['embedding'])
    np.testing.assert_allclose(np.asarray(compiled(model)(batch)['embedding']), eager, atol=1e-4)


def test_a_worker_loads_the_model_without_tensorflow_hub_scikit_learn_or_matplotlib(model_path):
    # what a worker's first CNN batch imports: TensorFlow (with Keras), not the extras Beam's TF
    # handler (tensorflow_hub) and Keras (scikit-learn, matplotlib) would import, which it never uses
    code = ('import sys, numpy as np\n'
            'from transforms.embed import lite0_model_handler\n'
            f'handler = lite0_model_handler({model_path!r}, 1, 4)\n'
            'model = handler.load_model()\n'
            'results = list(handler.run_inference([("k", np.zeros((224, 224, 3), np.float32))], model))\n'
            'print(len(results[0][1].inference.vector))\n'
            'print(sorted(m for m in ("tensorflow_hub", "sklearn", "matplotlib") if m in sys.modules))\n'
            'import sklearn, matplotlib\n'
            'print("importable after")\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.split('\n')[-4:-1] == ['1280', '[]', 'importable after']
