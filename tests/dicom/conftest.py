"""Real DICOM series on disk: volumes written slice by slice with their geometry (LPS, oblique, 1 x 1 x 2.5 mm)."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK
from monai_unet_bundle.dicom import write_series
from tests.prediction.conftest import threshold_model  # noqa: F401 (a fixture for tests/dicom)

#: 20 / 10 / -15 degree rotations about x, y, z, as a direction matrix (columns = axes in LPS)
_ANGLES = np.deg2rad([20.0, 10.0, -15.0])


def _rotation() -> np.ndarray:
    cx, cy, cz = np.cos(_ANGLES)
    sx, sy, sz = np.sin(_ANGLES)
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rz @ ry @ rx


def ct_like(shape_zyx=(12, 20, 24), oblique: bool = False, seed: int = 0) -> SimpleITK.Image:
    """An int16 HU-like volume at 1 x 1 x 2.5 mm: air, a soft-tissue block and a bone block."""
    rng = np.random.default_rng(seed)
    volume = np.full(shape_zyx, -1000, dtype=np.int16)
    z, y, x = shape_zyx
    volume[2 : z - 2, 3 : y - 3, 3 : x - 3] = 40
    volume[z // 2 :, y // 2 :, x // 2 :] = 900
    volume += rng.integers(-20, 20, size=shape_zyx).astype(np.int16)
    image = SimpleITK.GetImageFromArray(volume)
    image.SetSpacing((1.0, 1.0, 2.5))
    image.SetOrigin((12.5, -30.0, 41.0))
    if oblique:
        image.SetDirection(_rotation().flatten().tolist())
    return image


@pytest.fixture(params=["lps", "oblique"])
def ct_series(request, tmp_path):
    """(series folder, the SimpleITK image it was written from)."""
    image = ct_like(oblique=request.param == "oblique")
    folder = tmp_path / f"ct_{request.param}"
    write_series(image, folder, modality="CT", series_description=request.param)
    return folder, image
