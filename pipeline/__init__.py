"""specscan's job: options, the wiring of the stages, and the command-line entry points."""
import warnings

# google-api-core warns about Python 3.11's end of life on every import of Beam's GCP extras.
warnings.filterwarnings('ignore', category=FutureWarning, module=r'google\..*')
