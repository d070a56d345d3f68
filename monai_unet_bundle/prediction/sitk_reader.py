"""A MONAI image reader backed by SimpleITK, for NRRD, MetaImage (.mha / .mhd) and the other ITK formats.

MONAI's own ``ITKReader`` needs the ``itk`` package; SimpleITK is a lighter dependency this package already has.
The reader follows MONAI's conventions so the rest of a pipeline cannot tell the difference: the array is indexed
``(x, y, z)`` (ITK's ``GetArrayFromImage`` gives ``(z, y, x)``), and ``affine`` / ``original_affine`` map voxel
indices to RAS world coordinates (ITK works in LPS: the first two rows are negated).

Example::

    >>> LoadImaged("image", reader=SimpleITKReader(), image_only=True)({"image": "ct.nrrd"})["image"].shape
    (512, 512, 120)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK
from monai.data import ImageReader
from monai.utils import MetaKeys, SpaceKeys

__all__ = ["SimpleITKReader", "sitk_affine_ras"]

#: formats read here; NIfTI stays with MONAI's NibabelReader, which handles qform / sform codes more faithfully
DEFAULT_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")
#: how a reader that LoadImage tries on a file it does not read says so (the batch report skips these lines)
NOT_MINE = "leaves this file to another reader:"


def sitk_affine_ras(image: SimpleITK.Image) -> np.ndarray:
    """The 4x4 (or (d+1)^2) voxel-index -> RAS affine of a SimpleITK image."""
    dim = image.GetDimension()
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(dim, dim)
    affine = np.eye(dim + 1)
    affine[:dim, :dim] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)[None, :]
    affine[:dim, dim] = image.GetOrigin()
    flip = np.ones(dim + 1)
    flip[: min(dim, 2)] = -1  # LPS -> RAS
    return np.diag(flip) @ affine


class SimpleITKReader(ImageReader):
    """Read one image file with SimpleITK into ``(x, y, z[, channel])`` numpy data and MONAI metadata.

    Args:
        suffixes: the file endings this reader claims (NRRD and MetaImage by default).
        dtype: numpy dtype of the returned array (float32 by default; None keeps the file's).
    """

    def __init__(self, suffixes: Sequence[str] = DEFAULT_SUFFIXES, dtype: Any = np.float32) -> None:
        super().__init__()
        self.suffixes = tuple(s.lower() for s in suffixes)
        self.dtype = dtype

    def verify_suffix(self, filename: Sequence[str] | str) -> bool:
        names = [filename] if isinstance(filename, (str, Path)) else list(filename)
        return len(names) == 1 and str(names[0]).lower().endswith(self.suffixes)

    def read(self, data: Sequence[str] | str, **kwargs: Any) -> SimpleITK.Image:
        names = [data] if isinstance(data, (str, Path)) else list(data)
        if len(names) != 1:
            raise ValueError(f"SimpleITKReader reads one file at a time, got {names}")
        # LoadImage tries a user-given reader on every file whatever its suffix: leave the others to their readers
        if not self.verify_suffix(names[0]):
            raise ValueError(f"SimpleITKReader {NOT_MINE} {names[0]} (suffixes {', '.join(self.suffixes)})")
        try:
            return SimpleITK.ReadImage(str(names[0]))
        except RuntimeError as error:  # ITK's message: a source location, then the reason on an "ERROR" line
            reason = next(
                (line.split("ERROR:", 1)[1].strip() for line in str(error).splitlines() if "ERROR:" in line),
                str(error).strip(),
            )
            raise OSError(f"SimpleITK cannot read {names[0]}: {reason}") from None

    def get_data(self, img: SimpleITK.Image) -> tuple[np.ndarray, dict]:
        array = SimpleITK.GetArrayFromImage(img)  # (z, y, x[, components])
        dim = img.GetDimension()
        components = img.GetNumberOfComponentsPerPixel()
        order = list(reversed(range(dim))) + ([dim] if components > 1 else [])
        array = np.transpose(array, order)
        if self.dtype is not None:
            array = array.astype(self.dtype, copy=False)
        affine = sitk_affine_ras(img)
        meta = {
            MetaKeys.AFFINE: affine,
            MetaKeys.ORIGINAL_AFFINE: affine.copy(),
            MetaKeys.SPATIAL_SHAPE: np.asarray(array.shape[:dim]),
            MetaKeys.SPACE: SpaceKeys.RAS,
            MetaKeys.ORIGINAL_CHANNEL_DIM: -1 if components > 1 else float("nan"),
            "spacing": np.asarray(img.GetSpacing()),
        }
        return array, meta
