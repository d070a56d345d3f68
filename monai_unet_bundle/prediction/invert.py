"""Segmentation logits on the network's grid -> a label map on the input file's grid, in bounded memory.

MONAI's ``Activationsd(softmax) -> Invertd -> AsDiscreted(argmax)`` resamples all C probabilities at the input's
resolution at once (C float32 volumes plus a sampling grid). :class:`InvertToInputd` computes the same slab by slab
along the input's first axis: each slab's voxels are mapped into the network grid through the two affines
(``inv(A_net) @ A_input``: exact for any chain of Orientation, Spacing, crops and pads), the probabilities there
are interpolated trilinearly (``grid_sample``, border-clamped as Spacing's inverse is) and only the argmax is kept.
Extra memory: one slab (``slab_voxels`` x C) plus the label map. Voxels over one voxel outside the grid are
background. A file already at the network's spacing (the grids differ by axis order, flips and whole-voxel shifts
only) is indexed instead of interpolated: the same values, several times faster. Example (the bundle's
postprocessing)::

    InvertToInputd(keys="pred", ref_key="image")   # pred (4, 80, 96, 80) logits -> (1, 181, 217, 181) uint8
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.data.utils import to_affine_nd
from monai.transforms import LoadImage, MapTransform
from monai_unet_bundle.prediction.output import source_path

__all__ = ["InputLabeld", "InvertToInputd"]


def _as_numpy(affine: Any) -> np.ndarray:
    return np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)


class InvertToInputd(MapTransform):
    """Turn logits ``d[key]`` ``(C, *network_grid)`` into labels ``(1, *input_grid)`` in the input's geometry.

    Args:
        keys: the logits (overwritten in place by their probabilities, then replaced by the label map).
        ref_key: the preprocessed image: its ``affine`` is the network grid's, its meta holds the input file's
            ``original_affine`` and ``spatial_shape``.
        prob_key: when set, also store the probabilities in the input's geometry there: ``(C, *input_grid)``
            uint8, probability = value / 255 (the writers store that scale).
        softmax: the inputs are logits (softmax, or sigmoid for one channel); False: already probabilities.
        slab_voxels: input voxels resampled per step; bounds the extra memory.
        allow_missing_keys: skip absent keys.

    The label map is a MetaTensor whose ``affine`` is the input file's: the writers of
    :mod:`~monai_unet_bundle.prediction.output` store it with exactly the input's shape, affine and orientation.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        ref_key: str = "image",
        prob_key: str | None = None,
        softmax: bool = True,
        slab_voxels: int = 1 << 21,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if slab_voxels < 1:
            raise ValueError(f"slab_voxels must be >= 1, got {slab_voxels}")
        self.ref_key = ref_key
        self.prob_key = prob_key
        self.softmax = softmax
        self.slab_voxels = slab_voxels

    # ---------------------------------------------------------------------------------------------- steps
    def _to_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Softmax (sigmoid for one channel) over channels, in place, a few network-grid slices at a time."""
        if not self.softmax:
            return logits
        if not logits.is_floating_point():
            raise TypeError(f"logits must be floating point, got {logits.dtype}")
        rows = max(1, self.slab_voxels // max(1, math.prod(logits.shape[2:])))
        # an inference-mode tensor may only be updated in inference mode
        context = torch.inference_mode() if logits.is_inference() else torch.no_grad()
        with context:
            for start in range(0, logits.shape[1], rows):
                block = logits[:, start : start + rows]
                if logits.shape[0] == 1:
                    block.copy_(torch.sigmoid(block.float()))
                else:
                    block.copy_(torch.softmax(block.float(), dim=0))
        return logits

    @staticmethod
    def _network_coordinates(mapping: np.ndarray, rows: range, shape: tuple[int, ...]) -> list[torch.Tensor]:
        """Network-grid coordinates (one tensor per network axis) of the input voxels in ``rows`` x shape[1:]."""
        dims = len(shape)
        axes = [torch.arange(rows.start, rows.stop, dtype=torch.float64)] + [
            torch.arange(n, dtype=torch.float64) for n in shape[1:]
        ]
        grids = []
        for k in range(dims):
            coordinate = torch.full((1,) * dims, float(mapping[k, dims]), dtype=torch.float64)
            for j, values in enumerate(axes):
                if mapping[k, j] != 0.0:
                    view = [1] * dims
                    view[j] = -1
                    coordinate = coordinate + mapping[k, j] * values.view(view)
            grids.append(coordinate.expand(len(rows), *shape[1:]).float())
        return grids

    @staticmethod
    def _voxel_indices(mapping: np.ndarray, shape: tuple[int, ...], grid: tuple[int, ...]) -> list[tuple] | None:
        """Per input axis ``(network axis, network indices)`` when ``mapping`` only permutes, flips and shifts whole
        voxels inside the network grid (the file was already at the network's spacing): then each input voxel *is*
        a network voxel, trilinear interpolation returns it unchanged, and indexing replaces it. Else None."""
        dims = len(shape)
        linear, offset = mapping[:dims, :dims], mapping[:dims, dims]
        if not (
            np.allclose(np.abs(linear).sum(axis=0), 1.0, atol=1e-6)
            and np.allclose(np.abs(linear), np.round(np.abs(linear)), atol=1e-6)
        ):
            return None
        if not np.allclose(offset, np.round(offset), atol=1e-4):
            return None
        axes = []
        for j in range(dims):
            k = int(np.argmax(np.abs(linear[:, j])))
            indices = int(round(float(linear[k, j]))) * np.arange(shape[j]) + int(round(float(offset[k])))
            if indices.min() < 0 or indices.max() >= grid[k]:
                return None
            axes.append((k, torch.as_tensor(indices)))
        return axes if sorted(k for k, _ in axes) == list(range(dims)) else None

    @staticmethod
    def _index_slab(probs: torch.Tensor, axes: list[tuple], rows: range) -> torch.Tensor:
        """Probabilities ``(C, *slab)`` of the input voxels in ``rows`` by :meth:`_voxel_indices`'s indexing."""
        view = probs.permute(0, *[k + 1 for k, _ in axes])  # network axes in the input's axis order
        for axis, (_, indices) in enumerate(axes):
            view = view.index_select(axis + 1, indices[rows.start : rows.stop] if axis == 0 else indices)
        return view

    def _resample_slab(self, probs: torch.Tensor, coordinates: list[torch.Tensor]) -> torch.Tensor:
        """Probabilities ``(C, *slab)`` at ``coordinates`` (network voxel units), border-clamped, far -> bg."""
        grid_shape = probs.shape[1:]
        lows, highs = [], []
        for c, n in zip(coordinates, grid_shape):
            lows.append(int(min(max(math.floor(float(c.min())), 0), n - 1)))
            highs.append(int(min(max(math.ceil(float(c.max())), 0), n - 1)) + 1)
        region = probs[(slice(None), *(slice(lo, hi) for lo, hi in zip(lows, highs)))]
        normalised = []
        for c, lo, hi in zip(coordinates, lows, highs):
            size = hi - lo
            normalised.append((c - lo) * (2.0 / (size - 1)) - 1.0 if size > 1 else torch.zeros_like(c))
        grid = torch.stack(normalised[::-1], dim=-1)[None]  # grid_sample wants (x, y, z) = last axis first
        sampled = F.grid_sample(region[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=True)[
            0
        ]
        far = torch.zeros(coordinates[0].shape, dtype=torch.bool)
        for c, n in zip(coordinates, grid_shape):
            far |= (c < -1.0) | (c > n)
        if far.any():
            background = torch.zeros(sampled.shape[0], dtype=sampled.dtype)
            background[0] = 1.0 if sampled.shape[0] > 1 else 0.0
            sampled[:, far] = background[:, None]
        return sampled

    def invert(self, logits: torch.Tensor, ref_meta: Mapping, network_affine: Any) -> tuple[MetaTensor, Any]:
        """Labels ``(1, *input_grid)`` (and uint8 probabilities or None) for one item."""
        dims = logits.dim() - 1
        input_affine = to_affine_nd(dims, _as_numpy(ref_meta["original_affine"]))
        network_affine = to_affine_nd(dims, _as_numpy(network_affine))
        shape = tuple(int(s) for s in np.asarray(ref_meta["spatial_shape"]).ravel()[:dims])
        mapping = np.linalg.solve(network_affine, input_affine)  # input voxel -> network voxel
        probs = self._to_probabilities(logits.as_tensor() if isinstance(logits, MetaTensor) else logits)
        if probs.device.type != "cpu":
            probs = probs.cpu()
        channels = probs.shape[0]
        labels = torch.empty((1, *shape), dtype=torch.uint8 if channels <= 256 else torch.int32)
        quantised = torch.empty((channels, *shape), dtype=torch.uint8) if self.prob_key else None
        rows_per_slab = max(1, self.slab_voxels // max(1, math.prod(shape[1:])))
        whole_voxels = self._voxel_indices(mapping, shape, tuple(probs.shape[1:]))
        with torch.no_grad():
            for start in range(0, shape[0], rows_per_slab):
                rows = range(start, min(start + rows_per_slab, shape[0]))
                if whole_voxels is not None:
                    sampled = self._index_slab(probs, whole_voxels, rows)
                else:
                    sampled = self._resample_slab(probs, self._network_coordinates(mapping, rows, shape))
                if channels == 1:
                    labels[0, rows.start : rows.stop] = (sampled[0] > 0.5).to(labels.dtype)
                else:
                    labels[0, rows.start : rows.stop] = sampled.argmax(dim=0).to(labels.dtype)
                if quantised is not None:
                    quantised[:, rows.start : rows.stop] = (sampled * 255.0).round_().clamp_(0, 255).to(torch.uint8)
        # the input's intensity scaling (scl_slope ...) is no business of a label map
        meta = {k: v for k, v in ref_meta.items() if k not in ("affine", "spatial_shape", "scl_slope", "scl_inter")}
        meta["spatial_shape"] = np.asarray(shape)
        affine = torch.as_tensor(input_affine, dtype=torch.float64)
        out = MetaTensor(labels, affine=affine, meta=dict(meta))
        prob_out = None if quantised is None else MetaTensor(quantised, affine=affine.clone(), meta=dict(meta))
        return out, prob_out

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        ref = d[self.ref_key]
        if isinstance(ref, MetaTensor):
            ref_meta, network_affine = ref.meta, ref.affine
        else:
            ref_meta = d[f"{self.ref_key}_meta_dict"]
            network_affine = ref_meta["affine"]
        for key in self.key_iterator(d):
            d[key], probabilities = self.invert(d[key], ref_meta, network_affine)
            if self.prob_key:
                d[self.prob_key] = probabilities
        return d


class InputLabeld(MapTransform):
    """Replace a preprocessed label ``d[keys]`` by its file as stored: ``(1, *input_grid)``, the input's geometry.

    Validation and evaluation score :class:`InvertToInputd`'s labels against it: the Dice of the files ``predict``
    writes, not of a resampled copy. The file is the label's ``meta["filename_or_obj"]``.
    """

    def __init__(self, keys: KeysCollection = "label", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.load = LoadImage(image_only=True, ensure_channel_first=True)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.load(source_path(d[key]))
        return d
