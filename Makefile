# specscan: `make demo` and `make test` do all the set-up themselves (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# the CNN file: defined once, as MODEL_PATH in transforms/logic/lite0.py
MODEL := $(shell sed -n "s/^MODEL_PATH = '\(.*\)'$$/\1/p" transforms/logic/lite0.py)
DEMO_OUT ?= out/demo
SHARED ?= ../shared
TRAIN_OUT ?= out/train
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup tesseract chromium model demo test test-fast sample lock priors train gpu-wheels

# The pinned packages, then specscan itself in place (editable), which puts the `specscan`
# command in .venv/bin.
$(VENV)/.installed: requirements.lock setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) tools/pip_check.py
	touch $@

# Tesseract 5 from Debian, only when it is not there yet.
tesseract:
	@command -v tesseract >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends tesseract-ocr tesseract-ocr-eng; }

# Chromium from Debian, only for the report's browser test (tests/test_report.py), which skips
# without it: a failed install never fails the build.
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends chromium; } || \
	  echo "chromium not installed: the browser test will skip"

setup: $(VENV)/.installed tesseract

# The EfficientNet-Lite0 model (a SavedModel folder), converted from the weights in the PyPI package.
$(MODEL): $(VENV)/.installed transforms/logic/lite0.py
	$(PY) -m pipeline.build_model --out $@

model: $(MODEL)

demo: setup model
	$(PY) -m pipeline.run --input samples/input.csv --images_dir samples/images --output $(DEMO_OUT)
	$(PY) -m pipeline.evaluate --labels samples/labels.csv --predictions $(DEMO_OUT)/predictions.csv

test: setup model chromium
	$(PY) -m pytest -q tests

# The quick loop while changing code: every test but the whole-pipeline, Dask, browser and
# real-data runs (marked slow, so no chromium needed); `make test` and CI run them all.
test-fast: setup model
	$(PY) -m pytest -q -m "not slow" tests

# Redraw the bundled sample (its output is committed).
sample: $(VENV)/.installed
	$(PY) tools/make_sample.py --out samples

# Re-pin every dependency from requirements.in (needs uv: pip install uv).
lock:
	uv pip compile requirements.in requirements-test.in --override requirements-overrides.txt --python-version 3.11 --index-url https://pypi.org/simple -o requirements.lock

# Unit and value priors from the 197k training labels -> transforms/data/priors.json (shipped).
priors: $(VENV)/.installed
	$(PY) -m pipeline.build_priors --labels $(SHARED)/data/train_labels.csv --exclude $(SHARED)/data/dev/labels.csv

# The learned chooser -> transforms/data/chooser.json (shipped): read the dev and mix images with
# the default OCR settings (the rule chooser, so the result does not depend on an earlier model),
# then fit on every row of both, with the confidence calibration (Platt per truth and entity
# family, on out-of-fold scores: dev's labels are the catalogue's truth, mix's the printed one);
# the cross-validated F1 (folds by image) and the confidences' calibration and operating points,
# plain and mix-weighted, per set and together, are printed first, then the same over 12 random
# deals of images to folds (one split moves the F1 by ±0.01), then the whole training replayed on
# product groups it never saw (folds by group_id).
train: setup model
	for set in dev mix; do \
	  $(PY) -m pipeline.run --input $(SHARED)/data/$$set/input.csv --images_dir $(SHARED)/data/$$set/images \
	    --output $(TRAIN_OUT)/$$set --chooser rules --direct_num_workers 2 --direct_running_mode multi_processing \
	    || exit 1; \
	done
	$(PY) -m pipeline.train_chooser --records $(TRAIN_OUT)/dev/records --labels $(SHARED)/data/dev/labels.csv \
	  --truth catalogue --records $(TRAIN_OUT)/mix/records --labels $(SHARED)/data/mix/labels.csv --truth printed \
	  --repeats 12 --unseen_groups

# Wheels that the lent GPU machine (Python 3.12, JAX, no TensorFlow, no package index) lacks to
# run bench/cnn_throughput.py with Keras 3 on JAX: carried there in .whl/ (see docs/performance.md, "GPU").
gpu-wheels: $(VENV)/.installed
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl keras==3.15.1 namex==0.1.0 optree==0.20.0
