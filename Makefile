# Fresh clone: `make demo` trains and evaluates on the embedded brain MRI; `make test` runs the test suite.
# Both create .venv and install everything first (CPU torch 2.13.0 before the package when no GPU is present,
# because a bare `torch` requirement would pull several GB of CUDA wheels).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_VERSION ?= 2.13.0
# pip options that select a CPU-only torch wheel where the default index serves CUDA builds, e.g. --index-url <cpu index>
TORCH_CPU_INDEX ?=
PYTEST_ARGS ?=

.PHONY: setup demo test lint bench results clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "torch $$($(PY) -c 'import torch; print(torch.__version__)') already installed"; \
	elif command -v nvidia-smi >/dev/null 2>&1; then \
		echo "GPU found: installing torch $(TORCH_VERSION)"; \
		$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"; \
	else \
		echo "no GPU: installing the CPU build of torch $(TORCH_VERSION) before the package"; \
		$(PY) -m pip install --quiet $(TORCH_CPU_INDEX) "torch==$(TORCH_VERSION)"; \
	fi
	$(PY) -m pip install --quiet -e ".[test,export]"
	# the real data files only (MNI152 template, stardist nuclei); their Python packages are never imported
	$(PY) -m pip install --quiet --no-deps "nilearn==0.14.1" "stardist==0.9.2"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m monai_unet_bundle demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m benchmarks

# the real-data result runs (docs/results.md): each trains in its own outputs/results/<task>/ folder and writes
# docs/results/<task>.json / .md and the pictures in docs/images/; not part of the tests (tens of minutes on a CPU)
results: $(STAMP)
	$(PY) -m results.nuclei2d
	$(PY) -m results.brain3d

clean:
	rm -rf outputs eval runs
