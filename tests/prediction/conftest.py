"""Inputs and models for the inference tests: off-centre blobs in oriented, anisotropic volumes; a threshold model.

The threshold "network" is a 1x1x1 convolution whose class 1 wins where the preprocessed intensity exceeds 0.5, so
a correct pipeline must give back the blob of each input, in the input's own voxel grid: a flipped, permuted or
shifted inversion shows up as a low Dice, which shape and affine checks alone would miss.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import SimpleITK
import torch
from tests.conftest import write_nifti

THRESHOLD_NET = {"_target_": "torch.nn.Conv3d", "in_channels": 1, "out_channels": 2, "kernel_size": 1}
#: overrides for predict(--set ...) that run the threshold model on small windows
THRESHOLD_SET = ["--set", f"network_def={THRESHOLD_NET}", "--set", "num_classes=2", "--roi-size", "16", "16", "16"]

_ROTATION = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1]])
AFFINES = {
    "ras": np.diag([1.5, 2.0, 3.0, 1.0]),
    "lps": np.diag([-1.5, -2.0, 3.0, 1.0]),
    "lsa": np.array([[-1.5, 0, 0, 0], [0, 0, 2.0, 0], [0, 3.0, 0, 0], [0, 0, 0, 1.0]]),
    "oblique": np.block(
        [
            [_ROTATION @ np.diag([1.2, 1.8, 2.5]), np.array([[10.0], [-20.0], [5.0]])],
            [np.zeros((1, 3)), np.ones((1, 1))],
        ]
    ),
}


def blob_image(shape: tuple[int, ...], affine: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy volume with a bright ball of radius 9 mm off the centre; returns (image float32, ball mask)."""
    index = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1).astype(np.float64)
    world = index @ affine[:3, :3].T + affine[:3, 3]
    centre = affine[:3, :3] @ (np.array([0.35, 0.6, 0.45]) * (np.array(shape) - 1)) + affine[:3, 3]
    mask = np.linalg.norm(world - centre, axis=-1) < 9.0
    rng = np.random.default_rng(seed)
    image = (mask * 100.0 + rng.normal(0.0, 5.0, size=shape)).astype(np.float32)
    return image, mask


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2.0 * np.logical_and(a, b).sum() / max(a.sum() + b.sum(), 1))


def write_sitk(path: Path, image: np.ndarray, affine: np.ndarray) -> Path:
    """Write ``image`` (x, y, z) with the RAS ``affine`` through SimpleITK (NRRD, MetaImage ...)."""
    lps = np.diag([-1.0, -1.0, 1.0]) @ affine[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    out = SimpleITK.GetImageFromArray(np.transpose(image, (2, 1, 0)))
    out.SetSpacing(spacing.tolist())
    out.SetDirection((lps / spacing).ravel().tolist())
    out.SetOrigin((np.diag([-1.0, -1.0, 1.0]) @ affine[:3, 3]).tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    SimpleITK.WriteImage(out, str(path))
    return path


@pytest.fixture
def oriented_inputs(tmp_path: Path) -> dict[str, tuple[Path, np.ndarray, np.ndarray]]:
    """{name: (file, RAS affine, ball mask)}: NIfTI in RAS / LPS / LSA / oblique, plus NRRD and MetaImage."""
    cases = {}
    for index, (name, affine) in enumerate(AFFINES.items()):
        shape = (22 + index, 20, 15 + index)
        image, mask = blob_image(shape, affine, seed=index)
        path = write_nifti(tmp_path / "in" / f"{name}.nii{'.gz' if index % 2 else ''}", image, affine)
        cases[name] = (path, affine, mask)
    for suffix, affine in ((".nrrd", AFFINES["oblique"]), (".mha", AFFINES["lps"])):
        name = f"sitk_{suffix[1:]}"
        image, mask = blob_image((21, 19, 16), affine, seed=7)
        cases[name] = (write_sitk(tmp_path / "in" / f"{name}{suffix}", image, affine), affine, mask)
    return cases


@pytest.fixture
def threshold_model(tmp_path: Path) -> Path:
    """models/model.pt of the threshold network: class 1 where the scaled intensity is above 0.5."""
    conv = torch.nn.Conv3d(1, 2, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([-10.0, 10.0]).view(2, 1, 1, 1, 1))
        conv.bias.copy_(torch.tensor([5.0, -5.0]))
    path = tmp_path / "models" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(conv.state_dict(), path)
    return path


@pytest.fixture
def tiny_unet_model(tmp_path: Path) -> Path:
    """A randomly initialised UNet(features 4, 8, 16, 32), 4 classes, as the config's network_def builds it."""
    from monai_unet_bundle.networks import UNet

    torch.manual_seed(0)
    path = tmp_path / "unet" / "model.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(UNet(3, 1, 4, features=(4, 8, 16, 32)).state_dict(), path)
    return path
