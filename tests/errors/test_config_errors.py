"""Bad configs (issue 9, part 3): named before anything is built.

Covered elsewhere (docs/errors.md lists them): a missing dataset_dir, a folder with no images (the message names
the patterns and folders searched) and image / label files that do not pair by name --
tests/data/test_datalist.py::test_missing_and_empty_folders and ::test_unmatched_pairs_are_named.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from monai.bundle import ConfigParser, ConfigWorkflow
from monai_unet_bundle.checks import ConfigCheckError, check_bundle_config, check_metadata_channels
from tests.conftest import CONFIGS, REPO, TINY_TRAIN


def _initialize(config: str, tmp_path, **overrides) -> None:
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / config),
        meta_file=str(CONFIGS / "metadata.json"),
        workflow_type="train" if config == "train.yaml" else "infer",
        bundle_root=str(tmp_path),
        # a folder named like an embedded dataset: it would be built if anything reached the data
        dataset_dir=str(tmp_path / "synthetic"),
        **overrides,
    )
    workflow.initialize()


@pytest.mark.parametrize("config", ["train.yaml", "inference.yaml"])
def test_unknown_network_name(tmp_path, config):
    with pytest.raises(RuntimeError) as raised:
        _initialize(config, tmp_path, **{**TINY_TRAIN, "network_def#_target_": "monai_unet_bundle.networks.UNett"})
    error = raised.value.__cause__
    assert isinstance(error, ConfigCheckError), raised.value
    assert str(error).startswith(
        "network_def#_target_: unknown network 'monai_unet_bundle.networks.UNett': expected an importable class"
    )
    assert "did you mean monai_unet_bundle.networks.UNet" in str(error)
    assert not (tmp_path / "synthetic").exists(), "refused before any data was built or loaded"


@pytest.mark.parametrize(
    ("override", "value", "message"),
    [
        ("num_classes", "four", "config id 'num_classes': expected an integer >= 2, found 'four' (str)"),
        (
            "roi_size",
            [16, 16],
            "config id 'roi_size': expected 3 integers >= 1 (one per spatial axis, or one for "
            "all), found [16, 16] (list)",
        ),
        ("lr", "fast", "config id 'lr': expected a positive number, found 'fast' (str)"),
        ("spatial_dims", 4, "config id 'spatial_dims': expected one of [2, 3], found 4 (int)"),
        (
            "mirror_axes",
            [0, 3],
            "config id 'mirror_axes': expected a list of distinct spatial axes in 0..2 (0: left-right in RAS; [] for "
            "none), found [0, 3] (list)",
        ),
        ("mirror_axes", 0, "config id 'mirror_axes': expected a list of distinct spatial axes in 0..2"),
        ("mirror_axes", [1, 1], "config id 'mirror_axes': expected a list of distinct spatial axes in 0..2"),
    ],
    ids=[
        "num_classes",
        "roi_size",
        "lr",
        "spatial_dims",
        "mirror_axes_range",
        "mirror_axes_scalar",
        "mirror_axes_twice",
    ],
)
def test_bad_override_type(tmp_path, override, value, message):
    with pytest.raises(RuntimeError) as raised:
        _initialize("train.yaml", tmp_path, **{**TINY_TRAIN, override: value})
    assert isinstance(raised.value.__cause__, ConfigCheckError), raised.value
    assert str(raised.value.__cause__).startswith(message)
    assert not (tmp_path / "synthetic").exists()


def test_bad_tta_axes_are_named_by_the_inference_config(tmp_path):
    with pytest.raises(RuntimeError) as raised:
        _initialize("inference.yaml", tmp_path, tta=True, tta_axes=[0, 5])
    assert isinstance(raised.value.__cause__, ConfigCheckError), raised.value
    assert str(raised.value.__cause__).startswith("config id 'tta_axes': expected a list of distinct spatial axes")


@pytest.mark.slow
def test_bad_override_type_on_the_command_line(tmp_path):
    """`python -m monai.bundle run ... --num_classes four` (fire parses the value) ends with the check's message."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            "configs/train.yaml",
            "--bundle_root",
            str(tmp_path),
            "--dataset_dir",
            str(tmp_path / "synthetic"),
            "--num_classes",
            "four",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert "ConfigCheckError: config id 'num_classes': expected an integer >= 2, found 'four' (str)" in result.stderr


def _network_channels(**overrides) -> tuple[int, int]:
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train.yaml"))
    parser.update(overrides)
    return parser.get_parsed_content("network_def#in_channels"), parser.get_parsed_content("network_def#out_channels")


def test_metadata_channels_disagree_with_the_network(tmp_path):
    metadata = CONFIGS / "metadata.json"
    check_metadata_channels(metadata, *_network_channels())  # the shipped bundle agrees with itself
    with pytest.raises(ConfigCheckError) as raised:
        check_metadata_channels(metadata, *_network_channels(num_classes=3))
    assert str(raised.value) == (
        f"{metadata}: network_data_format#outputs#pred#num_channels is 4, but the network has out_channels 3; "
        "update metadata.json (and its channel_def) or the network"
    )
    with pytest.raises(ConfigCheckError, match=r"inputs#image#num_channels is 1, but the network has in_channels 2"):
        check_metadata_channels(metadata, *_network_channels(in_channels=2))
    edited = json.loads(metadata.read_text())
    edited["network_data_format"]["outputs"]["pred"]["channel_def"].pop("3")
    with pytest.raises(ConfigCheckError, match=r"channel_def names 3 channels .* out_channels 4"):
        check_metadata_channels(edited, 1, 4)


def test_config_check_accepts_the_shipped_configs_and_scalars():
    check_bundle_config("monai_unet_bundle.networks.UNet", 3, 1, 4, [48, 64, 64], [2.0, 2.0, 2.0], lr=3e-3)
    check_bundle_config("BasicUNet", 2, 1, 2, 128, [0.5, 0.5, 1.0])  # one roi side for all axes; 3D pixdim in 2D
    check_bundle_config("BasicUNet", 2, 1, 2, 128, mirror_axes=[1, 0])
    check_bundle_config("BasicUNet", 3, 1, 2, 128, mirror_axes=[])
    check_bundle_config("BasicUNet", 3, 1, 2, 128, tta_axes=[0, 2])
    with pytest.raises(
        ConfigCheckError, match=r"config id 'tta_axes': expected a list of distinct spatial axes in 0\.\.1"
    ):
        check_bundle_config("BasicUNet", 2, 1, 2, 128, tta_axes=[2])
