"""Embed: the image's 1280-wide EfficientNet-Lite0 embedding, through Beam's RunInference.

The model loads only through a ModelHandler inside RunInference (Lite0ModelHandler: the
SavedModel folder that `make model` writes, loaded on the worker), wrapped in a
KeyedModelHandler so the image's link and sha256 stay attached to its result.
TensorFlow places the model on a GPU when the worker has one and on the CPU otherwise; the
batch sizes are options so each can be sized. With --skip_cnn no model is loaded and every
image gets an empty embedding.
"""
import atexit
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult, RunInference

from transforms import tensorflow
from transforms.logic.lite0 import IMAGE_SIZE, SIGNATURE
from transforms.records import EMBEDDING, FAILED, Embedding, Failure


@dataclass(frozen=True)
class EmbedConfig:
    """--model_path, --inference_*_batch_size and --skip_cnn (pipeline/options.py owns the defaults)."""
    model_path: str
    min_batch_size: int
    max_batch_size: int
    skip: bool = False


class _DropMemoryWarning(logging.Filter):
    """Beam 2.72's RunInference warns on every batch that it cannot read memory use: its
    `import resource` shares a try-block with a torch-only import that fails without torch."""

    def filter(self, record: logging.LogRecord) -> bool:
        return 'memory usage cannot be fetched' not in record.getMessage()


logging.getLogger().addFilter(_DropMemoryWarning())


def embed_batch(model, batch: Sequence[np.ndarray], inference_args: Optional[dict] = None,
                model_id: Optional[str] = None) -> Iterable[PredictionResult]:
    """RunInference's inference_fn: one forward pass per batch; each image gets its embedding
    and its share of the batch's seconds (what the records report as inference time)."""
    started = time.perf_counter()
    outputs = model(np.stack(batch))
    vectors = np.asarray(outputs['embedding'], dtype=np.float32)
    seconds = (time.perf_counter() - started) / len(batch)
    return [PredictionResult(example, Embedding(tuple(vector.tolist()), seconds), model_id)
            for example, vector in zip(batch, vectors)]


def compiled(model):
    """A Keras model's forward pass as one TensorFlow graph for any batch size (traced once, about
    2 s per worker). Called eagerly, Keras runs the network layer by layer from Python: about 0.3
    CPU-s per image at batch 1 and 0.07 at 16 on one thread, against 0.04 as a graph
    (bench/cnn_calls.py); the embeddings agree to 3e-6."""
    tf = tensorflow()
    images = tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32, name='images')
    return tf.function(lambda batch: model(batch, training=False), input_signature=[images])


class ServingSignature:
    """The SavedModel's forward pass (its one signature, already a graph), called on a numpy batch."""

    def __init__(self, path: str):
        tf = tensorflow()
        self.saved = tf.saved_model.load(path)  # the signature's variables live as long as this object
        self.signature = self.saved.signatures[SIGNATURE]
        atexit.register(self.__dict__.clear)  # freed before TensorFlow's modules are torn down, not after

    def __call__(self, batch):
        batch = np.asarray(batch, dtype=np.float32)
        if batch.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):  # a loaded signature does not check shapes itself
            raise ValueError(f'the CNN takes images of {IMAGE_SIZE}x{IMAGE_SIZE}x3, not {batch.shape[1:]}')
        return self.signature(images=tensorflow().constant(batch))


class Lite0ModelHandler(ModelHandler):
    """The CNN behind RunInference, loaded where the model loads (a worker): the SavedModel folder
    `make model` writes, or a `.keras` file (rebuilt by Keras and traced on load). Beam's
    TFModelHandlerNumpy loads only `.keras` files under Keras 3 (apache/beam#30616) and imports
    tensorflow_hub: 4.5 CPU-s of every worker's start against 2.7 (bench/worker_startup.py). The
    launching process builds the graph without importing TensorFlow."""

    def __init__(self, model_path: str, min_batch_size: int, max_batch_size: int):
        super().__init__(min_batch_size=min_batch_size, max_batch_size=max_batch_size)
        self.model_path = model_path

    def load_model(self):
        if self.model_path.endswith('.keras'):
            return compiled(tensorflow().keras.models.load_model(self.model_path))
        return ServingSignature(self.model_path)

    def run_inference(self, batch, model, inference_args=None):
        return embed_batch(model, batch, inference_args, self.model_path)

    def get_num_bytes(self, batch) -> int:
        return sum(np.asarray(image).nbytes for image in batch)

    def get_metrics_namespace(self) -> str:
        return 'BeamML_TF_Numpy'


def lite0_model_handler(model_path: str, min_batch_size: int, max_batch_size: int) -> KeyedModelHandler:
    """(key, image) -> (key, PredictionResult) with an Embedding as the inference."""
    return KeyedModelHandler(Lite0ModelHandler(model_path, min_batch_size, max_batch_size))


def batch_failures(failed):
    """RunInference's dead letter (batch of ((link, sha256), image), exception) -> (link, Failure) each."""
    batch, error = failed
    return [(link, Failure.from_error('inference', error)) for (link, _), _ in batch]


def embedding_of(key, result: PredictionResult):
    """((link, sha256), PredictionResult) -> (link, Embedding) that names the bytes it was computed from."""
    link, sha256 = key
    return link, dataclasses.replace(result.inference, image_sha256=sha256)


class Embed(beam.PTransform):
    """PCollection[DecodedImage] -> {EMBEDDING: (link, Embedding), FAILED: (link, Failure)}.

    A batch the model fails on costs its images their embeddings, not the job."""

    def __init__(self, config: EmbedConfig):
        super().__init__()
        self.config = config

    def expand(self, decoded):
        if self.config.skip:
            empty = decoded | 'NoEmbedding' >> beam.Map(
                lambda image: (image.facts.link, Embedding((), 0.0, image.facts.image_sha256)))
            return {EMBEDDING: empty,
                    FAILED: decoded.pipeline | 'NoFailures' >> beam.Create([])}
        handler = lite0_model_handler(self.config.model_path, self.config.min_batch_size, self.config.max_batch_size)
        keyed = decoded | 'KeyByImage' >> beam.Map(
            lambda image: ((image.facts.link, image.facts.image_sha256), image.cnn_input))
        results, dead_letters = keyed | 'RunInference' >> RunInference(handler).with_exception_handling()
        embeddings = results | 'TakeEmbedding' >> beam.MapTuple(embedding_of)
        failed = dead_letters.failed_inferences | 'InferenceFailures' >> beam.FlatMap(batch_failures)
        return {EMBEDDING: embeddings, FAILED: failed}
