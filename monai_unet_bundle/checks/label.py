"""Refuse label maps that do not belong to their image or do not hold class indices 0 .. num_classes - 1.

A label saved on another grid than its image (another shape, or the same shape with another affine) trains the
network on misplaced voxels without any error from MONAI: ``Spacingd`` resamples both to the same spacing, and the
crop then pairs unrelated voxels. Labels with values >= num_classes make ``DiceCELoss`` fail deep inside one-hot
encoding (or, for 255 "ignore" values, index out of range on CUDA); fractional values come from a label resampled
with linear interpolation. :class:`CheckLabeld` runs after ``EnsureChannelFirstd`` and before any resampling.

Example::

    >>> check = CheckLabeld(keys="label", image_key="image", num_classes=4)
    >>> data = check({"image": image, "label": label})   # both (C, H, W, D) MetaTensors, label C == 1
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform

from .errors import InputCheckError
from .naming import source_name

__all__ = ["CheckLabeld", "LabelCheckError", "check_label_values"]

#: how many offending values a message lists
_LISTED = 10


class LabelCheckError(InputCheckError):
    """A label that does not match its image or holds values other than class indices; names both files."""


def _affine(array: Any) -> np.ndarray | None:
    affine = getattr(array, "affine", None)
    return None if affine is None else np.asarray(affine, dtype=np.float64)


def _listed(values: np.ndarray) -> str:
    shown = ", ".join(f"{v:g}" for v in values[:_LISTED])
    return f"[{shown}{', ...' if len(values) > _LISTED else ''}] ({len(values)} distinct)"


def check_label_values(label: Any, num_classes: int, name: str) -> None:
    """Raise :class:`LabelCheckError` unless every value of ``label`` is an integer in ``0 .. num_classes - 1``."""
    values = np.unique(torch.as_tensor(label).detach().cpu().numpy())
    if values.dtype.kind == "f":
        fractional = values[~np.isfinite(values) | (values != np.round(values))]
        if len(fractional):
            raise LabelCheckError(
                f"{name}: expected integer class indices 0..{num_classes - 1}, found non-integer values "
                f"{_listed(fractional)}; was the label resampled with linear interpolation? (use nearest)"
            )
    outside = values[(values < 0) | (values > num_classes - 1)]
    if len(outside):
        raise LabelCheckError(
            f"{name}: expected class indices 0..{num_classes - 1} (num_classes {num_classes}), found values "
            f"outside that range {_listed(outside)}"
        )


class CheckLabeld(MapTransform):
    """Check label maps against their image: one channel, same spatial shape and affine, values 0..C-1.

    Args:
        keys: the label key(s).
        image_key: the image the labels belong to (its shape and affine are the reference).
        num_classes: classes including background; valid values are ``0 .. num_classes - 1``.
        affine_tolerance: largest allowed difference of any affine entry (mm), for rounding in the headers.
        allow_missing_keys: skip labels that are absent (e.g. inference items).

    Raises:
        LabelCheckError: naming both files and both shapes / affines, or the offending values.
    """

    def __init__(
        self,
        keys: KeysCollection,
        image_key: str = "image",
        num_classes: int = 2,
        affine_tolerance: float = 1e-3,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.image_key = image_key
        self.num_classes = int(num_classes)
        self.affine_tolerance = float(affine_tolerance)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = d.get(self.image_key)
        for key in self.key_iterator(d):
            label = d[key]
            name = source_name(label, fallback=f"<label '{key}'>")
            if int(label.shape[0]) != 1:
                raise LabelCheckError(
                    f"{name}: expected one channel of class indices, found {int(label.shape[0])} channels "
                    f"(shape {tuple(label.shape)})"
                )
            if image is not None:
                self._check_geometry(image, label, name)
            check_label_values(label, self.num_classes, name)
        return d

    def _check_geometry(self, image: Any, label: Any, name: str) -> None:
        image_name = source_name(image, fallback=f"<image '{self.image_key}'>")
        image_shape, label_shape = tuple(image.shape[1:]), tuple(label.shape[1:])
        if image_shape != label_shape:
            raise LabelCheckError(
                f"label {name} has spatial shape {label_shape}, its image {image_name} has {image_shape}: "
                "expected the same voxel grid"
            )
        image_affine, label_affine = _affine(image), _affine(label)
        if image_affine is None or label_affine is None:
            return
        if not np.allclose(image_affine, label_affine, rtol=0.0, atol=self.affine_tolerance):
            raise LabelCheckError(
                f"label {name} and its image {image_name} have the same shape {image_shape} but different "
                f"affines (voxel -> world, max difference "
                f"{np.abs(image_affine - label_affine).max():.4g} mm, tolerance {self.affine_tolerance:g}):\n"
                f"  label {np.array2string(label_affine, precision=3, suppress_small=True)}\n"
                f"  image {np.array2string(image_affine, precision=3, suppress_small=True)}\n"
                "resample the label onto the image grid (nearest neighbour)"
            )
