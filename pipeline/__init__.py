"""specscan's job: options, the wiring of the stages, and the command-line entry points."""
import transforms  # noqa: F401  (its start-up settings must come before TensorFlow and Beam)
