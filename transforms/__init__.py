"""specscan's stages, one module each; pure logic (units, choose) imports no Beam.

Imported first wherever the stages run (the launching process and every worker), so the
start-up settings below apply before TensorFlow or Beam's GCP extras are imported.
"""
import os
import warnings

# TensorFlow's start-up chatter (CPU instruction sets, TensorRT, CUDA plugin registration) says
# nothing a user can act on; real TensorFlow errors still surface as Python exceptions.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# One thread per op: the DirectRunner's multi_processing mode and Dataflow run a worker process
# per core, and OCR (the bulk of the work) is already pinned to one thread per process, so
# TensorFlow's default of a thread per core in every process would oversubscribe the cores.
# Set TF_NUM_INTRAOP_THREADS yourself to override (e.g. a single-process run on a big machine).
os.environ.setdefault('TF_NUM_INTRAOP_THREADS', '1')
# google-api-core warns about Python 3.11's end of life on every import of Beam's GCP extras;
# tensorflow-hub (imported by Beam's TF model handler, which Embed no longer uses) warns that
# pkg_resources is deprecated.
warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\..*')
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)


# TensorFlow 2.16 imports Keras 3 whole, and Keras imports scikit-learn and matplotlib (when they
# are installed, as the report and the tests install them) for its scikit-learn wrappers and image
# galleries, which no stage uses: about 2 of the 6 CPU-s TensorFlow's import costs every worker
# (bench/worker_startup.py).
_NOT_FOR_TENSORFLOW = ('sklearn', 'matplotlib')


def tensorflow():
    """The tensorflow module, imported the first time with scikit-learn and matplotlib hidden from
    it (Keras guards both imports; they import normally afterwards). Stages import TensorFlow
    through this so that whichever runs first on a worker pays the smaller start-up."""
    import sys
    if 'tensorflow' not in sys.modules:
        hidden = [name for name in _NOT_FOR_TENSORFLOW if name not in sys.modules]
        for name in hidden:
            sys.modules[name] = None  # makes `import name` raise ImportError
        try:
            import tensorflow  # noqa: F401
        finally:
            for name in hidden:
                if sys.modules.get(name, 0) is None:
                    del sys.modules[name]
    return sys.modules['tensorflow']
