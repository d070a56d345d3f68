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

.PHONY: setup demo test lint bench results weights clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile configs/metadata.json
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
	# the versions configs/metadata.json pins (what the model zoo installs) are the versions tested here
	$(PY) -c 'import json; m = json.load(open("configs/metadata.json")); pins = {"monai": m["monai_version"], "torch": m["pytorch_version"], "numpy": m["numpy_version"], **m["required_packages_version"]}; print("\n".join(f"{k}=={v}" for k, v in pins.items()))' > $(VENV)/metadata-pins.txt
	$(PY) -m pip install --quiet -c $(VENV)/metadata-pins.txt -e ".[test,export]"
	# the real data files only (MNI152 template, stardist nuclei); their Python packages are never imported
	$(PY) -m pip install --quiet --no-deps "nilearn==0.14.1" "stardist==0.9.2"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m monai_unet_bundle demo

# two workers, one thread each: on 2 cores, torch's OpenMP threads of parallel tests would oversubscribe them
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 $(PYTEST_ARGS)

# ruff, then the model zoo's own formatters with its settings (pyproject.toml [tool.black] / [tool.isort], .flake8)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m black --check --quiet .
	$(PY) -m isort --check --quiet .
	$(PY) -m flake8 .

# PEERS=1 adds ours vs nnU-Net v2 (benchmarks/bench_vs_nnunet.py, about an hour): the peers extra is installed first,
# with the installed torch pinned (nnunetv2's bare torch requirement would otherwise replace a CPU build)
bench: $(STAMP)
ifneq ($(PEERS),)
	$(PY) -c 'import torch; print("torch==" + torch.__version__.split("+")[0])' > $(VENV)/torch-pin.txt
	$(PY) -m pip install --quiet -c $(VENV)/torch-pin.txt -e ".[peers]"
endif
	$(PY) -m benchmarks $(if $(PEERS),--peers)

# the real-data result runs (docs/results.md): each trains in its own outputs/results/<task>/ folder and writes
# docs/results/<task>.json / .md and the pictures in docs/images/; not part of the tests (tens of minutes on a CPU)
results: $(STAMP)
	$(PY) -m results.nuclei2d
	$(PY) -m results.brain3d

# the released weights (large_files.yml): train the default bundle, then export TorchScript beside model.pt
weights: $(STAMP)
	$(PY) -m monai.bundle run --config_file configs/train.yaml
	$(PY) -m monai.bundle ckpt_export --net_id network_def --filepath models/model.ts --ckpt_file models/model.pt \
		--meta_file configs/metadata.json --config_file configs/inference.yaml

clean:
	rm -rf outputs eval runs
