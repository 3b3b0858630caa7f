"""specscan's job: options, the wiring of the stages, and the command-line entry points."""
import os
import warnings

# TensorFlow's start-up chatter (CPU instruction sets, TensorRT, CUDA plugin registration) says
# nothing a user can act on; real TensorFlow errors still surface as Python exceptions.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '3')
# google-api-core warns about Python 3.11's end of life on every import of Beam's GCP extras.
warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\..*')
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)
