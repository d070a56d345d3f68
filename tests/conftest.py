"""Shared fixtures: the bundle root, tiny NIfTI datasets on disk, and config overrides that keep runs small."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

#: overrides that shrink the default 3D UNet run to seconds: tiny network, tiny patches, one short epoch
TINY_TRAIN = {
    "max_epochs": 1,
    "epoch_length": 2,
    "val_interval": 1,
    "roi_size": [16, 16, 16],
    "num_samples": 2,
    "cache_rate": 0.0,
    "network_def#features": [4, 8, 16, 32],
}

TINY_INFER = {"roi_size": [24, 24, 24], "sw_batch_size": 1, "network_def#features": [4, 8, 16, 32]}


def cli_overrides(overrides: dict, *, without: tuple[str, ...] = ()) -> list[str]:
    """``{"roi_size": [16, 16, 16]}`` -> ``["--roi_size", "[16,16,16]"]``, the form `python -m monai.bundle run` takes."""
    pairs = [
        (f"--{key}", json.dumps(value, separators=(",", ":"))) for key, value in overrides.items() if key not in without
    ]
    return [part for pair in pairs for part in pair]


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    """Write a NIfTI file with both qform and sform set to ``affine``."""
    image = nib.Nifti1Image(array, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image, str(path))
    return path


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built ``synthetic`` MSD folder: 4 volumes of 32^3 (3 training, 1 validation)."""
    from monai_unet_bundle.data import synthetic

    out = tmp_path_factory.mktemp("datasets") / "synthetic"
    synthetic.build(out, num_cases=4, size=32, seed=0)
    return out


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory: pytest.TempPathFactory, synthetic_dir: Path) -> Path:
    """A bundle root (tmp folder) holding models/model.pt from one tiny training epoch on the synthetic data."""
    from monai.bundle import ConfigWorkflow

    root = tmp_path_factory.mktemp("bundle")
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "train.yaml"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train",
        bundle_root=str(root),
        dataset_dir=str(synthetic_dir),
        **TINY_TRAIN,
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    assert (root / "models" / "model.pt").is_file()
    return root
