"""Refuse images the network cannot use, before they turn into silent garbage further down the pipeline.

MONAI's loaders accept a 4D series as a multi-channel image, carry NaN straight through percentile scaling (every
voxel of the scaled image becomes NaN) and clip +-Inf away unnoticed. :class:`CheckImage` / :class:`CheckImaged`
run right after ``EnsureChannelFirstd`` and check, for the file named in the message:

- the number of spatial axes (``spatial_dims``) and of channels (``in_channels``); a 4D series where a single
  3D volume is expected is named as such;
- NaN / Inf intensities: ``non_finite="error"`` refuses the file, ``"replace"`` sets NaN and -Inf to the lowest
  finite value and +Inf to the highest, with a warning that counts them (never silently);
- an image whose voxels all have one value: ``constant="warn"`` (default) or ``"error"``;
- integer data of any width (int8 ... uint64) becomes float32, which every later transform handles.

Example::

    >>> check = CheckImaged(keys="image", spatial_dims=3, in_channels=1)
    >>> data = check({"image": image})   # image: (C, H, W, D) MetaTensor from LoadImaged + EnsureChannelFirstd
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform

from .errors import InputCheckError
from .naming import source_name

__all__ = ["CheckImage", "CheckImaged", "ImageCheckError"]

_NON_FINITE = ("error", "replace")
_CONSTANT = ("warn", "error")


class ImageCheckError(InputCheckError):
    """An image of the wrong shape, channel count or with non-finite intensities; the message names the file."""


def _file_shape(img: torch.Tensor) -> tuple[int, ...]:
    """The array shape as stored in the file (the channel axis back where EnsureChannelFirst took it from)."""
    meta = getattr(img, "meta", None) or {}
    spatial = tuple(int(s) for s in img.shape[1:])
    original = meta.get("original_channel_dim")
    if original in ("no_channel", None) or (isinstance(original, float) and np.isnan(original)):
        return spatial if img.shape[0] == 1 else (int(img.shape[0]), *spatial)
    return (*spatial, int(img.shape[0])) if int(original) == -1 else (int(img.shape[0]), *spatial)


class CheckImage(Transform):
    """Check a channel-first image ``(C, *spatial)``; returns it (float32 if it was integer, sanitised if asked).

    Args:
        spatial_dims: spatial axes the network expects (2 or 3).
        in_channels: channels the network expects.
        non_finite: ``"error"`` refuses NaN / Inf voxels; ``"replace"`` replaces them and warns.
        constant: an image with a single value everywhere: ``"warn"`` or ``"error"``.

    Raises:
        ImageCheckError: naming the file, what was expected and what was found.
    """

    def __init__(
        self, spatial_dims: int = 3, in_channels: int = 1, non_finite: str = "error", constant: str = "warn"
    ) -> None:
        if non_finite not in _NON_FINITE:
            raise ValueError(f"non_finite must be one of {_NON_FINITE}, got {non_finite!r}")
        if constant not in _CONSTANT:
            raise ValueError(f"constant must be one of {_CONSTANT}, got {constant!r}")
        self.spatial_dims = int(spatial_dims)
        self.in_channels = int(in_channels)
        self.non_finite = non_finite
        self.constant = constant

    def __call__(self, img: Any, name: str | None = None) -> Any:
        img = img if isinstance(img, torch.Tensor) else torch.as_tensor(np.asarray(img))
        name = name or source_name(img)
        self._check_shape(img, name)
        if not (img.is_floating_point() or img.is_complex()):
            img = img.to(torch.float32)  # uint16 / uint32 / uint64 tensors lack most torch operations
        img = self._check_values(img, name)
        return img

    def _check_shape(self, img: torch.Tensor, name: str) -> None:
        found_dims = img.ndim - 1
        found_shape = _file_shape(img)
        if found_dims != self.spatial_dims:
            raise ImageCheckError(
                f"{name}: expected a {self.spatial_dims}D image (spatial_dims {self.spatial_dims}) with "
                f"{self.in_channels} channel(s), found an array of shape {found_shape} ({found_dims} spatial axes)"
            )
        channels = int(img.shape[0])
        if channels == self.in_channels:
            return
        if len(found_shape) == self.spatial_dims + 1 and found_shape[-1] == channels and self.in_channels == 1:
            raise ImageCheckError(
                f"{name}: expected a {self.spatial_dims}D image with 1 channel (in_channels 1), found a "
                f"{self.spatial_dims + 1}D series of shape {found_shape} ({channels} volumes); save the one "
                f"volume to segment as its own file, or train with in_channels {channels}"
            )
        raise ImageCheckError(
            f"{name}: expected {self.in_channels} channel(s) for the network (in_channels {self.in_channels}), "
            f"found {channels} (array shape {found_shape})"
        )

    def _check_values(self, img: torch.Tensor, name: str) -> torch.Tensor:
        finite = torch.isfinite(img)
        if not bool(finite.all()):
            nan = int(torch.isnan(img).sum())
            pos_inf = int(torch.isposinf(img).sum())
            neg_inf = int(torch.isneginf(img).sum())
            counts = f"{nan} NaN, {pos_inf} +Inf and {neg_inf} -Inf of {img.numel()} voxels"
            if self.non_finite == "error" or not bool(finite.any()):
                raise ImageCheckError(
                    f"{name}: expected finite intensities, found {counts}; fix the file, or let the bundle "
                    "replace them (non_finite: replace)"
                )
            low, high = img[finite].min(), img[finite].max()
            img = torch.where(torch.isnan(img) | torch.isneginf(img), low, torch.where(torch.isposinf(img), high, img))
            warnings.warn(
                f"{name}: replaced {counts} (NaN and -Inf by the lowest finite value {float(low):g}, "
                f"+Inf by the highest {float(high):g})",
                RuntimeWarning,
                stacklevel=2,
            )
        low, high = img.min(), img.max()
        if bool(low == high):
            message = (
                f"{name}: expected varying intensities, found the single value {float(low):g} in every "
                "voxel (an empty or blank export?)"
            )
            if self.constant == "error":
                raise ImageCheckError(message)
            warnings.warn(message + "; its segmentation carries no information", RuntimeWarning, stacklevel=2)
        return img


class CheckImaged(MapTransform):
    """Dictionary twin of :class:`CheckImage` for ``keys`` (usually ``"image"``).

    Example::

        - _target_: monai_unet_bundle.checks.CheckImaged     # after EnsureChannelFirstd
          keys: image
          spatial_dims: "@spatial_dims"
          in_channels: "@in_channels"
          non_finite: "@non_finite_intensities"
    """

    def __init__(
        self,
        keys: KeysCollection,
        spatial_dims: int = 3,
        in_channels: int = 1,
        non_finite: str = "error",
        constant: str = "warn",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.check = CheckImage(spatial_dims, in_channels, non_finite, constant)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.check(d[key])
        return d
