"""User clicks as MONAI Label sends them, made safe and moved into the network's grid.

A MONAI Label DeepEdit request carries, besides ``image`` and its options, one item per label name (the
lower-cased ``channel_def`` names of metadata.json, background included) holding a list of voxel points
``[[i, j, k], ...]`` (``[[i, j]]`` in 2D) in the voxel grid of the image file as loaded (before reorientation).

- :class:`CheckClicksd` runs right after loading: malformed clicks are refused with a message that names the
  label, clicks outside the image and items that look like clicks for a label the bundle does not know are dropped
  with a warning, and with ``use_click`` false (MONAI Label's automatic ``<name>_seg`` model) every label gets no
  clicks. MONAI's ``AddGuidanceFromPointsDeepEditd`` then reads them into ``d["guidance"]``.
- :class:`GuidanceToGridd` runs after reorientation and resampling: it maps ``d["guidance"]`` from the file's
  voxel grid to the image's current one through the two affines, so ``AddGuidanceSignalDeepEditd`` puts each click
  where the user placed it.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Transform
from monai_unet_bundle.transforms.guidance import check_label_names

__all__ = ["CheckClicksd", "GuidanceToGridd", "ClickError"]


class ClickError(ValueError):
    """Clicks that cannot be read as voxel points."""


def _as_array(value: Any) -> np.ndarray:
    return np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)


def _looks_like_points(value: Any, spatial_dims: int) -> bool:
    """True for a non-empty list of ``spatial_dims``-long numeric points (an unknown label's clicks)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return False
    if not isinstance(value, (list, tuple)) or not value:
        return False
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return points.ndim == 2 and points.shape[1] == spatial_dims


class CheckClicksd(Transform):
    """Check and clean the clicks of every label in ``label_names`` (``d[name]``), in the file's voxel grid.

    Args:
        label_names: ``{name: channel}`` of the bundle, background included.
        ref_image: the loaded image (channel first); its ``spatial_shape`` bounds the clicks.
        use_click: false: every label gets an empty list (automatic segmentation, guidance channels zero).

    Each ``d[name]`` becomes a list of integer points inside the image. Missing, ``None`` or empty: no clicks.
    A JSON string is read as its list. Anything else that is not a list of ``spatial_dims``-long numeric points
    raises :class:`ClickError`.
    """

    def __init__(self, label_names: Mapping[str, int], ref_image: str = "image", use_click: bool = True) -> None:
        self.label_names = check_label_names(label_names)
        self.ref_image = ref_image
        self.use_click = bool(use_click)

    def _points(self, name: str, value: Any, shape: Sequence[int], source: str) -> list[list[int]]:
        if value is None:
            return []
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else []
            except ValueError as error:
                raise ClickError(f"clicks for label {name!r} on {source}: not JSON ({error}): {value[:80]!r}") from None
        value = _as_array(value) if isinstance(value, torch.Tensor) else value
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, (list, tuple)):
            raise ClickError(f"clicks for label {name!r} on {source} must be a list of points, got {value!r}.")
        if len(value) == 0:
            return []
        try:
            points = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise ClickError(
                f"clicks for label {name!r} on {source} must be {len(shape)}-long numeric points, got {value!r}."
            ) from None
        if points.ndim != 2 or points.shape[1] != len(shape) or not np.isfinite(points).all():
            raise ClickError(
                f"clicks for label {name!r} on {source} must be a list of [{', '.join('ijk'[: len(shape)])}] voxel "
                f"points of a {len(shape)}D image, got {value!r}."
            )
        points = np.rint(points).astype(int)
        inside = ((points >= 0) & (points < np.asarray(shape))).all(axis=1)
        if not inside.all():
            warnings.warn(
                f"ignored {int((~inside).sum())} click(s) for label {name!r} outside the image {source} "
                f"(voxel grid {tuple(shape)}): {points[~inside].tolist()}",
                RuntimeWarning,
                stacklevel=2,
            )
        return points[inside].tolist()

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = d[self.ref_image]
        meta = image.meta if isinstance(image, MetaTensor) else d.get(f"{self.ref_image}_meta_dict", {})
        shape = [int(s) for s in _as_array(meta.get("spatial_shape", image.shape[1:])).ravel()]
        source = str(meta.get("filename_or_obj", self.ref_image))
        for key, value in d.items():
            if key not in self.label_names and isinstance(key, str) and _looks_like_points(value, len(shape)):
                warnings.warn(
                    f"ignored clicks for {key!r} on {source}: the bundle's labels are {list(self.label_names)}",
                    RuntimeWarning,
                    stacklevel=2,
                )
        for name in self.label_names:
            d[name] = self._points(name, d.get(name), shape, source) if self.use_click else []
        return d


class GuidanceToGridd(Transform):
    """Map ``d[guidance]`` (``{label: [[i, j, k], ...]}`` in the file's voxel grid) to ``d[ref_image]``'s current
    voxel grid: ``p' = round(A_now^-1 A_file p)``, clipped to the image. ``A_file`` is the MetaTensor's
    ``original_affine``, ``A_now`` its ``affine`` after ``Orientationd`` / ``Spacing``."""

    def __init__(self, guidance: str = "guidance", ref_image: str = "image") -> None:
        self.guidance = guidance
        self.ref_image = ref_image

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        image = d[self.ref_image]
        if not isinstance(image, MetaTensor) or image.meta.get("original_affine") is None:
            raise ValueError(f"GuidanceToGridd needs d[{self.ref_image!r}] as a loaded MetaTensor (with affines).")
        shape = np.asarray(image.shape[1:])
        file_to_now = np.linalg.inv(_as_array(image.affine).astype(np.float64)) @ _as_array(
            image.meta["original_affine"]
        ).astype(np.float64)
        moved = {}
        for label, clicks in d[self.guidance].items():
            clicks = json.loads(clicks) if isinstance(clicks, str) else clicks
            points = np.asarray(clicks, dtype=np.float64).reshape(-1, len(shape))
            if len(points):
                # MONAI keeps 4x4 affines for 2D images too: the first len(shape) axes and the translation
                dims = len(shape)
                points = points @ file_to_now[:dims, :dims].T + file_to_now[:dims, -1]
                points = np.clip(np.rint(points), 0, shape - 1).astype(int)
            moved[label] = points.tolist()
        d[self.guidance] = moved
        return d
