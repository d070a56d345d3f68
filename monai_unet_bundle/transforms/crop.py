"""Label-driven random crops that never fail on small images or on samples missing the requested classes.

MONAI's ``RandCropByLabelClassesd`` raises (or returns smaller patches) when the image is smaller than the crop, and
when none of the classes with a non-zero ratio occurs in a sample its class probabilities become NaN and
``numpy.random.choice`` raises. ``RandCropByPosNegLabeld`` raises when neither foreground nor background indices
exist (e.g. everything below ``image_threshold``). The ``...Safed`` twins here take the same arguments, pad first
(constant 0, symmetric, every cropped key plus the label / image keys) so every patch has ``spatial_size``, and fall
back to the classes present (or, with none, to a uniform random crop) with a warning that names the file.
Every key in ``keys`` (image, label, weight map, instance map, ...) is cropped with the same window.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.transforms import RandCropByLabelClassesd, RandCropByPosNegLabeld, SpatialPad
from monai.transforms.utils import generate_label_classes_crop_centers, map_binary_to_indices, map_classes_to_indices
from monai.utils import fall_back_tuple

__all__ = ["RandCropByLabelClassesSafed", "RandCropByPosNegLabelSafed", "sample_name"]


def sample_name(data: Mapping[Hashable, Any], keys: Sequence[Hashable]) -> str:
    """The source file of a sample (``filename_or_obj`` of the first MetaTensor among ``keys``), for messages."""
    for key in keys:
        meta = getattr(data.get(key), "meta", None)
        if meta and meta.get("filename_or_obj"):
            return str(meta["filename_or_obj"])
    return "<sample without file name>"


def _pad_to_crop(data: dict, keys: Sequence[Hashable], spatial_size: Sequence[int] | int, reference: Hashable) -> dict:
    """Pad every present key in ``keys`` to at least ``spatial_size`` (non-positive entries: keep that axis)."""
    shape = tuple(data[reference].shape[1:])
    target = fall_back_tuple(spatial_size, shape)
    if all(s >= t for s, t in zip(shape, target)):
        return data
    pad = SpatialPad(spatial_size=[max(s, t) for s, t in zip(shape, target)], method="symmetric", mode="constant")
    for key in dict.fromkeys(keys):
        if key in data and isinstance(data[key], (np.ndarray, torch.Tensor)):
            data[key] = pad(data[key])
    return data


def _prepare(crop: RandCropByLabelClassesd | RandCropByPosNegLabeld, data: Mapping[Hashable, Any]) -> dict:
    """Check the label key, remember the sample's file name for warnings and pad unless ``allow_smaller``."""
    d = dict(data)
    if crop.label_key not in d:
        raise KeyError(f"label key {crop.label_key!r} is missing from {sample_name(d, list(d))}.")
    crop._name = sample_name(d, [crop.label_key, crop.image_key, *crop.keys])
    if not crop.cropper.allow_smaller:
        d = _pad_to_crop(d, [*crop.keys, crop.label_key, crop.image_key], crop.cropper.spatial_size, crop.label_key)
    return d


def _all_positions(shape: Sequence[int]) -> np.ndarray:
    return np.arange(int(np.prod(shape)))


class RandCropByLabelClassesSafed(RandCropByLabelClassesd):
    """Drop-in for MONAI ``RandCropByLabelClassesd`` that pads small images and survives absent classes.

    Arguments are MONAI's (``keys, label_key, spatial_size, ratios, num_classes, num_samples, image_key,
    image_threshold, indices_key, allow_smaller, allow_missing_keys, warn, max_samples_per_class, lazy``).
    Differences: unless ``allow_smaller``, images smaller than ``spatial_size`` are padded with 0 (do it after
    intensity scaling so 0 is the background value); classes with a non-zero ratio that are absent from a sample are
    skipped with a warning naming the file; if all of them are absent the crop centres are drawn from the classes
    present, and with no usable position at all (e.g. ``image_threshold`` masks everything) uniformly.

    Input: a dict of channel-first ``(C, *spatial)`` arrays (2D or 3D); label as class indices ``(1, *spatial)`` with
    ``num_classes`` or one-hot. Output: a list of ``num_samples`` dicts with patches of ``spatial_size``.

    Example::

        >>> crop = RandCropByLabelClassesSafed(["image", "label"], "label", [64, 64, 64], ratios=[1, 1, 1, 1],
        ...                                    num_classes=4, num_samples=2)
        >>> patches = crop({"image": img, "label": lab})  # 2 dicts, each (1, 64, 64, 64)
    """

    def __call__(self, data: Mapping[Hashable, Any], lazy: bool | None = None) -> list[dict[Hashable, Any]]:
        d = _prepare(self, data)
        return super().__call__(d, lazy)

    def randomize(self, label: torch.Tensor, indices: list | None = None, image: torch.Tensor | None = None) -> None:
        cropper = self.cropper
        if indices is None:
            indices = map_classes_to_indices(
                label, cropper.num_classes, image, cropper.image_threshold, cropper.max_samples_per_class
            )
        indices = list(indices)
        ratios = [1.0] * len(indices) if cropper.ratios is None else [float(r) for r in cropper.ratios]
        if len(ratios) != len(indices):
            raise ValueError(f"{len(ratios)} crop ratios for {len(indices)} classes in {getattr(self, '_name', '')}.")
        absent = [c for c, (r, idx) in enumerate(zip(ratios, indices)) if r > 0 and len(idx) == 0]
        present = [c for c, idx in enumerate(indices) if len(idx) > 0]
        use = [r if len(idx) > 0 else 0.0 for r, idx in zip(ratios, indices)]
        name = getattr(self, "_name", "<sample without file name>")
        shape = tuple(label.shape[1:])
        if sum(use) == 0:
            if present:
                use = [1.0 if c in present else 0.0 for c in range(len(indices))]
                fallback = f"cropping around the classes present {present} instead"
            else:
                indices, use = [_all_positions(shape)], [1.0]
                fallback = "no class position is usable (image_threshold?); cropping uniformly at random"
            warnings.warn(
                f"{type(self).__name__}: requested classes {absent} are absent from {name}; {fallback}.", stacklevel=2
            )
        elif absent and cropper.warn:
            warnings.warn(
                f"{type(self).__name__}: classes {absent} are absent from {name}; their crop ratio is "
                "set to 0 for this sample.",
                stacklevel=2,
            )
        cropper.centers = generate_label_classes_crop_centers(
            cropper.spatial_size, cropper.num_samples, shape, indices, use, cropper.R, cropper.allow_smaller, False
        )


class RandCropByPosNegLabelSafed(RandCropByPosNegLabeld):
    """Drop-in for MONAI ``RandCropByPosNegLabeld`` that pads small images and never runs out of positions.

    Arguments are MONAI's. Unless ``allow_smaller``, images smaller than ``spatial_size`` are padded with 0; a sample
    without foreground is cropped around background (and vice versa) with a warning naming the file, and one with
    neither (everything masked by ``image_threshold``) is cropped uniformly at random.

    Example::

        >>> crop = RandCropByPosNegLabelSafed(["image", "label", "weight"], "label", [256, 256], pos=1, neg=1)
    """

    def __call__(self, data: Mapping[Hashable, Any], lazy: bool | None = None) -> list[dict[Hashable, Any]]:
        d = _prepare(self, data)
        return super().__call__(d, lazy)

    def randomize(
        self,
        label: torch.Tensor | None = None,
        fg_indices: Any = None,
        bg_indices: Any = None,
        image: torch.Tensor | None = None,
    ) -> None:
        if fg_indices is None or bg_indices is None:
            fg_indices, bg_indices = map_binary_to_indices(label, image, self.cropper.image_threshold)
        name = getattr(self, "_name", "<sample without file name>")
        if len(fg_indices) == 0 and len(bg_indices) == 0:
            fg_indices = bg_indices = _all_positions(label.shape[1:])
            warnings.warn(
                f"{type(self).__name__}: no usable position in {name}; cropping uniformly at random.", stacklevel=2
            )
        elif len(fg_indices) == 0 or len(bg_indices) == 0:
            missing = "foreground" if len(fg_indices) == 0 else "background"
            warnings.warn(
                f"{type(self).__name__}: {name} has no {missing}; all crops come from the other side.", stacklevel=2
            )
            fg_indices = bg_indices = fg_indices if len(fg_indices) else bg_indices
        self.cropper.randomize(label=label, fg_indices=fg_indices, bg_indices=bg_indices, image=image)
