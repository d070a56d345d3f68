"""The MONAI model zoo's published rules that need none of its code (CONTRIBUTING.md, ci/verify_bundle.py, its
pre-commit hooks and ci/get_bundle_requirements.py), checked offline on this bundle.

The zoo's own tools (verify_bundle.py, the unit-test runner, runtests.sh) run through model_zoo/premerge.sh on a
checkout of the zoo; docs/model_zoo.md records that run.
"""

from __future__ import annotations

import json
import re
import subprocess
from importlib import metadata as importlib_metadata

import pytest
import yaml
from monai.bundle import ConfigParser
from packaging.specifiers import SpecifierSet
from packaging.version import Version
from tests.conftest import CONFIGS, REPO

META = json.loads((CONFIGS / "metadata.json").read_text())


def _requires_python_floor() -> Version:
    text = (REPO / "pyproject.toml").read_text()
    (floor,) = re.findall(r'^requires-python = ">=([0-9.]+)"', text, flags=re.M)
    return Version(floor)


def _pins() -> dict[str, str]:
    """What the zoo installs with == (ci/get_bundle_requirements.py)."""
    return {
        "monai": META["monai_version"],
        "torch": META["pytorch_version"],
        "numpy": META["numpy_version"],
        **META["required_packages_version"],
    }


def test_the_files_the_zoo_requires_are_there():
    for name in ("LICENSE", "configs/metadata.json", "configs/inference.yaml", "configs/train.yaml"):
        assert (REPO / name).is_file(), name
    # conventional files a reviewer looks for
    for name in ("configs/evaluate.yaml", "configs/multi_gpu_train.yaml", "configs/logging.conf", "docs/README.md"):
        assert (REPO / name).is_file(), name
    assert (REPO / "docs" / "data_license.txt").is_file()


def test_large_files_lists_the_weights_in_the_zoo_format():
    entries = yaml.safe_load((REPO / "large_files.yml").read_text())["large_files"]
    assert [entry["path"] for entry in entries] == ["models/model.pt", "models/model.ts"]
    for entry in entries:
        assert set(entry) <= {"path", "url", "hash_val", "hash_type"}, entry
        assert entry["url"].startswith("https://") and entry["url"].endswith(entry["path"][-3:]), entry
        # no hash, or a hash type download_url knows
        assert (entry.get("hash_val", "") == "") == (entry.get("hash_type", "") == ""), entry
        assert entry.get("hash_type", "") in ("", "md5", "sha1", "sha256", "sha512"), entry
    # weights are produced, never committed
    tracked = subprocess.run(["git", "ls-files", "models"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert not [path for path in tracked if path.endswith((".pt", ".ts"))], tracked


def test_metadata_version_is_in_the_changelog_and_the_required_keys_are_set():
    for key in ("version", "changelog", "monai_version", "pytorch_version", "numpy_version", "task", "description"):
        assert META.get(key), key
    assert META["version"] in META["changelog"]
    assert list(META["changelog"])[0] == META["version"], "the newest changelog entry comes first"
    for key in ("image",):
        assert key in META["network_data_format"]["inputs"]
    assert META["network_data_format"]["outputs"]["pred"]["channel_def"]["0"] == "background"


@pytest.mark.parametrize("package", sorted(_pins()))
def test_each_pin_is_what_is_installed_and_installs_on_every_python_the_project_declares(package):
    """The zoo runs its premerge on the oldest Python we declare: each pinned release must support it. The
    Makefile installs the pins (a constraints file from metadata.json), so the installed release is the pinned one
    and its Requires-Python is the pinned release's."""
    pinned = Version(_pins()[package])
    installed = Version(importlib_metadata.version(package))
    hint = f"{package}: metadata.json pins {pinned}, {installed} is installed (make setup installs the pins)"
    assert Version(installed.base_version) == pinned, hint
    requires = importlib_metadata.metadata(package).get("Requires-Python") or ""
    floor = _requires_python_floor()
    hint = f"{package}=={pinned} needs Python {requires}; pyproject.toml declares >={floor}"
    assert not requires or floor in SpecifierSet(requires), hint


def _tracked(suffix: str) -> list[str]:
    files = subprocess.run(["git", "ls-files", f"*{suffix}"], cwd=REPO, capture_output=True, text=True).stdout
    return files.split()


@pytest.mark.parametrize("path", _tracked(".json"))
def test_json_is_indented_as_the_zoo_pre_commit_writes_it(path):
    """pretty-format-json --no-sort-keys --indent=4 (ASCII escapes, a final newline)."""
    text = (REPO / path).read_text()
    assert text == json.dumps(json.loads(text), indent=4) + "\n", f"{path}: not 4-space pretty JSON"


def _raw(name: str) -> dict:
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / name))
    return parser.config


def test_inference_config_has_the_ids_the_zoo_names():
    config = _raw("inference.yaml")
    for key in ("bundle_root", "device", "network_def", "inferer", "output_dir", "dataset_dir"):
        assert key in config, key


def test_train_config_has_the_ids_the_zoo_names_and_validates_at_val_interval():
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train.yaml"))
    for key in ("bundle_root", "device", "dataset_dir", "output_dir", "val_interval"):
        assert key in parser.config, key
    for key in ("trainer", "trainer#max_epochs", "dataset", "dataset#data", "handlers", "preprocessing", "inferer"):
        assert f"train#{key}" in parser, f"train#{key}"
    for key in ("evaluator", "handlers", "dataset", "dataset#data", "preprocessing", "postprocessing", "inferer"):
        assert f"validate#{key}" in parser, f"validate#{key}"
    assert "validate#key_metric" in parser
    handlers = [h for h in parser["train#handlers"] if h.get("_target_", "").endswith("ValidationHandler")]
    assert [h["interval"] for h in handlers] == ["@val_interval"], handlers


def test_make_lint_runs_the_zoo_formatters_with_the_zoo_settings():
    """The zoo's runtests.sh --codeformat settings: black --skip-magic-trailing-comma at 120, isort's black profile
    (this package sorted with the third-party imports, as from the zoo root), flake8 with bugbear / pep8-naming."""
    makefile = (REPO / "Makefile").read_text()
    lint = makefile[makefile.index("\nlint:") :].split("\n\n")[0]
    for tool in ("ruff check", "ruff format --check", "black --check", "isort --check", "flake8"):
        assert tool in lint, tool
    project = (REPO / "pyproject.toml").read_text()
    assert "skip-magic-trailing-comma = true" in project and 'profile = "black"' in project
    flake8 = (REPO / ".flake8").read_text()
    assert "select = B,C,E,F,N,P,T4,W,B9" in flake8 and "max_line_length = 120" in flake8


def test_eval_metrics_are_the_figures_the_readme_publishes_for_these_weights():
    """metadata.json's eval_metrics describe the weights `make demo` / `make weights` train: the README's demo table
    and the bundle card quote the same held-out mean Dice."""
    readme_row = re.search(r"^\| Dice \(`make demo`[^|]*\|(.*)\|\s*$", (REPO / "README.md").read_text(), flags=re.M)
    readme_mean = float(readme_row.group(1).split("|")[-1])
    card_mean = float(re.search(r"^\| mean \| ([0-9.]+) \|", (REPO / "docs" / "README.md").read_text(), re.M).group(1))
    assert META["eval_metrics"]["val_mean_dice"] == pytest.approx(readme_mean, abs=5e-4) == card_mean
