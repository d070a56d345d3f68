"""Helpers of the bad-input matrix: tiny volumes on disk, a tiny model, the predict command and config pieces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from tests.conftest import CONFIGS

#: predict overrides that keep a run to a second: the tiny UNet on 16^3 windows
TINY_PREDICT = ["--roi-size", "16", "16", "16", "--set", "network_def#features=[4,8,16,32]", "--no-progress"]
#: 2 mm voxels: the inference pixdim, so a volume is not resampled
AFFINE_2MM = np.diag([2.0, 2.0, 2.0, 1.0])


def noise(shape=(16, 16, 16), seed: int = 0, dtype=np.float32) -> np.ndarray:
    return np.random.default_rng(seed).normal(100.0, 20.0, size=shape).astype(dtype)


def tiny_unet_file(path: Path, in_channels: int = 1) -> Path:
    """A flat state_dict of UNet(features 4, 8, 16, 32) with 4 classes, as the config's network_def builds it."""
    from monai_unet_bundle.networks import UNet

    torch.manual_seed(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(UNet(3, in_channels, 4, features=(4, 8, 16, 32)).state_dict(), path)
    return path


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return tiny_unet_file(tmp_path / "models" / "model.pt")


def predict(*args) -> int:
    """``python -m monai_unet_bundle predict ARGS`` in this process (configs/inference.yaml); the exit status."""
    from monai_unet_bundle.__main__ import main

    return main(["predict", *map(str, args), *TINY_PREDICT])


def failures(stdout: str) -> dict[str, str]:
    """{file name: reason} from the batch summary's ``  failed: <path>: <reason>`` lines."""
    found = {}
    for line in stdout.splitlines():
        if line.startswith("  failed: "):
            path, _, reason = line[len("  failed: ") :].partition(": ")
            found[Path(path).name] = reason
    return found


def config_part(config_files, part: str, **overrides):
    """``part`` of the bundle config, built (e.g. ``validate#preprocessing`` of train.yaml)."""
    files = [str(CONFIGS / f) for f in ([config_files] if isinstance(config_files, str) else config_files)]
    parser = ConfigParser()
    parser.read_config(files)
    parser.update(overrides)
    return parser.get_parsed_content(part)
