#!/usr/bin/env bash
# Run the MONAI model zoo's own premerge checks on this bundle, offline, as a zoo reviewer would.
#
#   bash model_zoo/premerge.sh ZOO [PYTHON] [FORMAT_PYTHON]
#
# ZOO: a checkout of Project-MONAI/model-zoo (its ci/, runtests.sh, setup.cfg, pyproject.toml are used as they are).
# PYTHON: an interpreter whose environment has the bundle's pins (configs/metadata.json) and the zoo's
#   requirements-dev tools (black, isort, flake8 + plugins, parameterized); default: .venv/bin/python.
# FORMAT_PYTHON: the interpreter for runtests.sh (default PYTHON). runtests.sh checks the whole zoo, whose own files
#   were formatted by the black of their day: a newer black reformats some of them (not this bundle's).
# Needs models/model.pt (and models/model.ts): `make weights` trains and exports them. The schema is taken from
# ../shared/reference/meta_schema_20240725.json or $META_SCHEMA (the zoo's prepare_schema.py would download it).
# Steps (each must pass): a clean copy of HEAD placed as ZOO/models/brain_mri_tissue_segmentation, the weights
# copied beside it, verify_bundle.py -m min and full, the unit-test runner (plain, then with torchrun --dist True)
# on model_zoo/unit_tests/*, and runtests.sh --isort --black --flake8.
set -euo pipefail
NAME=brain_mri_tissue_segmentation
HERE=$(cd "$(dirname "$0")/.." && pwd)
ZOO=$(cd "${1:?usage: premerge.sh ZOO [PYTHON]}" && pwd)
PY=${2:-.venv/bin/python}
[[ $PY = /* ]] || PY=$HERE/$PY  # not realpath: a venv's python is a symlink to the base interpreter
SCHEMA=${META_SCHEMA:-$HERE/../shared/reference/meta_schema_20240725.json}
BUNDLE=$ZOO/models/$NAME

for file in "$HERE/models/model.pt" "$HERE/models/model.ts" "$SCHEMA"; do
    [ -f "$file" ] || { echo "premerge: missing $file (weights: make weights; schema: set META_SCHEMA)" >&2; exit 2; }
done
rm -rf "$BUNDLE" && mkdir -p "$BUNDLE/eval"
git -C "$HERE" archive HEAD | tar -x -C "$BUNDLE"
cp "$HERE/models/model.pt" "$HERE/models/model.ts" "$BUNDLE/models/"
cp "$SCHEMA" "$BUNDLE/eval/schema.json"
cp "$HERE"/model_zoo/unit_tests/test_${NAME}*.py "$ZOO/ci/unit_tests/"

cd "$ZOO"
export PYTHONPATH=$ZOO  # as the zoo's premerge job sets it
export PATH=$(dirname "$PY"):$PATH  # torchrun, as the zoo's environment has it
set -x
"$PY" ci/verify_bundle.py -b "$NAME" -m min
"$PY" ci/verify_bundle.py -b "$NAME" -m full
PYTHONPATH=$BUNDLE "$PY" ci/unit_tests/runner.py --b "$NAME"
PYTHONPATH=$BUNDLE "$PY" -m torch.distributed.run --nproc_per_node=1 ci/unit_tests/runner.py --b "$NAME" --dist True
MONAI_MODEL_ZOO_PY_EXE=${3:-$PY} bash runtests.sh --isort --black --flake8
