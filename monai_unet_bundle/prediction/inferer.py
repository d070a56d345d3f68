"""Whole-volume segmentation inference: MONAI's sliding window (Gaussian blending), made fast, or overlap-tile.

:class:`SegmentationInferer` is a :class:`monai.inferers.SlidingWindowInferer` (same arguments, same stitcher:
``monai.inferers.sliding_window_inference``) whose windows go through a :class:`WindowPredictor`: inference mode,
bf16 / fp16 autocast, channels-last layout, eval BatchNorm folded into the convolutions, optional flip TTA, the
fused output of multi-output networks. The stitched logits are float32 on ``stitch_device`` (CPU by default, so a
GPU holds only windows). For a valid-padded U-Net (``network.valid``) it tiles overlap-tile style instead
(:class:`~monai_unet_bundle.prediction.overlap_tile.OverlapTileInferer`; ``roi_size`` is then the input patch).
Shapes: ``inputs`` ``(B, C_in, *spatial)`` -> logits ``(B, C_out, *spatial)`` (a MetaTensor when the input is one).

Example::

    >>> inferer = SegmentationInferer(roi_size=(96, 96, 96), sw_batch_size=2, overlap=0.25, amp=True)
    >>> logits = inferer(image, network)   # image (1, 1, 160, 160, 160) -> (1, 4, 160, 160, 160)
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from monai.inferers import SlidingWindowInferer, sliding_window_inference
from monai.utils import ensure_tuple_rep
from monai_unet_bundle.checkpoints.training_state import unwrap_network
from monai_unet_bundle.engines.autocast import autocast_dtype
from monai_unet_bundle.prediction.batchnorm_folding import fold_batchnorm
from monai_unet_bundle.prediction.foreground_crop import (
    foreground_box,
    paste_into_background,
    window_aligned_box,
    window_slices,
)
from monai_unet_bundle.prediction.output import source_path
from monai_unet_bundle.prediction.overlap_tile import OverlapTileInferer
from monai_unet_bundle.prediction.stage_times import StageTimes
from monai_unet_bundle.prediction.window_predictor import WindowPredictor, flip_combinations
from torch import nn
from tqdm import tqdm

__all__ = ["SegmentationInferer"]


def _fingerprint(network: nn.Module) -> tuple:
    # _version grows with every in-place write (load_state_dict, optimiser steps): new weights -> new copy
    tensors = itertools.chain(network.parameters(), network.buffers())
    return (id(network), network.training, tuple((t.data_ptr(), t._version) for t in tensors))


def _overlap_tiled(net: Any) -> bool:
    """Whether ``net`` (unwrapped) is a valid-padded U-Net, which the inferer tiles overlap-tile style."""
    return bool(getattr(net, "valid", False)) and hasattr(net, "valid_border")


class _TimedPredictor:
    """A window predictor whose calls add their seconds to ``times["windows"]``."""

    def __init__(self, predictor: WindowPredictor, times: StageTimes) -> None:
        self.predictor, self.times = predictor, times
        self.module = predictor.module  # unwrap_network finds the network through it, as through the predictor

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        with self.times.timed("windows"):
            return self.predictor(*args, **kwargs)


class SegmentationInferer(SlidingWindowInferer):
    """Sliding-window (or overlap-tile, for valid U-Nets) inference with the speed options of nnU-Net and more.

    Args:
        roi_size, sw_batch_size, overlap, mode, sigma_scale, padding_mode, cval: as ``SlidingWindowInferer``
            (``roi_size``: for a valid U-Net the network's input patch).
        amp: mixed precision where it is fast (bf16 on CPUs with native bf16, fp16 on CUDA).
        channels_last: channels-last windows and weights for 2D / 3D networks.
        fold_batchnorm: fold eval BatchNorm into the preceding convolutions (a copy; the network is untouched).
        tta: average the logits over all mirrorings of ``tta_axes`` (8 passes in 3D), as nnU-Net does.
        tta_axes: spatial axes to mirror (default all).
        stitch_device: where the stitched logits live (default ``"cpu"``); None keeps them on the input's device.
        progress: a progress bar per volume (windows done), labelled with the input file's name.
        crop_foreground: run only the windows that touch the bounding box of the input's nonzero voxels (nnU-Net's
            crop: empty air costs nothing; the box's voxels get the uncropped logits) and fill the rest with
            background logits (class 0 certain). Sliding windows only: a valid U-Net's overlap-tile run is whole.
        times: a :class:`~monai_unet_bundle.prediction.stage_times.StageTimes` that gets the seconds of the
            network's forward passes (``windows``) and of the rest of the stitching (``stitching``); None: untimed.
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int,
        sw_batch_size: int = 1,
        overlap: Sequence[float] | float = 0.25,
        mode: str = "gaussian",
        sigma_scale: Sequence[float] | float = 0.125,
        padding_mode: str = "constant",
        cval: float = 0.0,
        amp: bool = True,
        channels_last: bool = True,
        fold_batchnorm: bool = True,
        tta: bool = False,
        tta_axes: Sequence[int] | None = None,
        stitch_device: str | torch.device | None = "cpu",
        progress: bool = False,
        crop_foreground: bool = False,
        times: StageTimes | None = None,
    ) -> None:
        super().__init__(
            roi_size=roi_size,
            sw_batch_size=sw_batch_size,
            overlap=overlap,
            mode=mode,
            sigma_scale=sigma_scale,
            padding_mode=padding_mode,
            cval=cval,
            device=stitch_device,
            progress=False,
        )
        self.amp = amp
        self.channels_last = channels_last
        self.fold_batchnorm = fold_batchnorm
        self.tta = tta
        self.tta_axes = tta_axes
        self.stitch_device = stitch_device
        self.show_progress = progress
        self.crop_foreground = crop_foreground
        self.times = times
        self._prepared: tuple[tuple, nn.Module] | None = None

    # ------------------------------------------------------------------------------------------- network
    def _prepare(self, network: Callable[..., Any], spatial_dims: int) -> Callable[..., Any]:
        """The network to run: BatchNorm folded and channels-last weights, on a cached copy when possible."""
        module = unwrap_network(network)
        if not isinstance(module, nn.Module) or not (self.fold_batchnorm or self.channels_last):
            return network
        key = _fingerprint(module)
        if self._prepared is not None and self._prepared[0] == key:
            return self._prepared[1]
        prepared = fold_batchnorm(module) if self.fold_batchnorm else module
        if self.channels_last and spatial_dims in (2, 3) and not module.training:
            if prepared is module:
                prepared = copy.deepcopy(module)
            prepared = prepared.to(memory_format=torch.channels_last if spatial_dims == 2 else torch.channels_last_3d)
        self._prepared = (key, prepared)
        return prepared

    def predictor(self, network: Callable[..., Any], inputs: torch.Tensor, on_window: Any = None) -> WindowPredictor:
        """The :class:`WindowPredictor` this inferer applies to each batch of windows of ``inputs``."""
        spatial_dims = inputs.dim() - 2
        axes = range(spatial_dims) if self.tta_axes is None else self.tta_axes
        return WindowPredictor(
            self._prepare(network, spatial_dims),
            dtype=autocast_dtype(inputs.device, self.amp),
            channels_last=self.channels_last and spatial_dims in (2, 3),
            flips=flip_combinations(axes) if self.tta else (),
            module=unwrap_network(network),
            on_window=on_window,
            batch_size=self.sw_batch_size,
        )

    # ------------------------------------------------------------------------------------------- windows
    def _window_count(self, spatial: Sequence[int]) -> int:
        return len(window_slices(spatial, self.roi_size, self.overlap))

    def overlap_tile(self, net: Any) -> OverlapTileInferer:
        """The overlap-tile inferer used for valid-padded ``net``: tiles of the output size of a ``roi_size`` patch."""
        spatial = net.spatial_dims
        roi = [int(r) for r in ensure_tuple_rep(self.roi_size, spatial)]
        border = int(net.valid_border())
        wanted = [max(r - 2 * border, 1) for r in roi]
        tile = list(net.valid_output_size(net.valid_input_size(wanted)))
        return OverlapTileInferer(tile_size=tile, sw_batch_size=self.sw_batch_size, device=self.stitch_device)

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Logits ``(B, C_out, *spatial)`` for ``inputs`` ``(B, C_in, *spatial)``; extra args go to the network."""
        # overlap-tile (valid U-Nets) mirrors its context at the image's edges, which a crop would move: never cropped
        crop = self.crop_foreground and not _overlap_tiled(unwrap_network(network))
        box = foreground_box(inputs) if crop else None
        if box is not None:
            # the whole image's own windows over the box: the box's voxels get the uncropped run's logits
            box = window_aligned_box(box, inputs.shape[2:], self.roi_size, self.overlap)
        if box is None or all(s.start == 0 and s.stop == n for s, n in zip(box, inputs.shape[2:])):
            return self._timed_call(inputs, network, *args, **kwargs)
        cropped = self._timed_call(inputs[(slice(None), slice(None), *box)], network, *args, **kwargs)
        with self.times.timed("stitching") if self.times is not None else contextlib.nullcontext():
            return paste_into_background(cropped, inputs, box)

    def _timed_call(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.times is None:
            return self._call(inputs, network, *args, **kwargs)
        start, windows_before = time.perf_counter(), self.times.seconds.get("windows", 0.0)
        try:
            return self._call(inputs, network, *args, **kwargs)
        finally:
            windows = self.times.seconds.get("windows", 0.0) - windows_before
            self.times.add("stitching", time.perf_counter() - start - windows)

    def _call(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        net = unwrap_network(network)
        valid = _overlap_tiled(net)
        name = Path(source_path(inputs) or "volume").name
        total = None if valid else inputs.shape[0] * self._window_count(inputs.shape[2:])
        bar = tqdm(total=total, desc=name, unit="window", disable=not self.show_progress, leave=True)
        try:
            predictor = self.predictor(network, inputs, on_window=bar.update)
            if self.times is not None:
                predictor = _TimedPredictor(predictor, self.times)
            with torch.no_grad():
                if valid:  # a MetaTensor comes back with the input's metadata
                    return self.overlap_tile(net)(inputs, predictor, *args, **kwargs)
                window_fn = predictor if not args else (lambda window: predictor(window, *args))
                return sliding_window_inference(
                    inputs,
                    self.roi_size,
                    self.sw_batch_size,
                    window_fn,
                    overlap=self.overlap,
                    mode=self.mode,
                    sigma_scale=self.sigma_scale,
                    padding_mode=self.padding_mode,
                    cval=self.cval,
                    sw_device=None,
                    device=self.stitch_device,
                    progress=False,
                    roi_weight_map=self.roi_weight_map,
                    buffer_steps=self.buffer_steps,
                    buffer_dim=self.buffer_dim,
                    **kwargs,
                )
        finally:
            bar.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(roi_size={self.roi_size}, sw_batch_size={self.sw_batch_size}, "
            f"overlap={self.overlap}, mode={self.mode}, amp={self.amp}, tta={self.tta})"
        )
