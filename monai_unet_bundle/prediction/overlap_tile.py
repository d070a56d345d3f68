"""Overlap-tile inference (Ronneberger et al. 2015, Fig. 2) for valid-padded networks.

A valid-padded U-Net predicts only the centre of its input (``border`` voxels are lost per side). The image is
mirror-padded by ``border`` (the paper's extrapolation of missing context) and the output assembled from
output-sized tiles, each predicted from its tile plus the border around it, without blending. Tile origins lie on
the ``2 ** depth`` grid (max-pooling makes a valid U-Net equivariant only to such shifts; each voxel comes from one
tile), so the result equals one forward pass over the padded image: seamless for networks with local context only
(no normalisation, or eval batch norm; instance norm computes per-tile statistics and differs at the seams).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai_unet_bundle.checkpoints.training_state import unwrap_network

__all__ = ["OverlapTileInferer", "mirror_pad"]


def mirror_pad(x: torch.Tensor, pad: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Reflect-pad the spatial axes of ``x`` (B, C, *spatial) by ``pad[i] = (before, after)`` per spatial axis.

    Unlike a single ``F.pad(mode="reflect")`` the padding may exceed the image size: the mirror is continued
    (periodically, as ``numpy.pad(mode="reflect")`` does), which small images under a large border need.

    Example::

        >>> mirror_pad(torch.arange(3.0).view(1, 1, 3), [(4, 1)]).flatten().tolist()
        [0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0]
    """
    spatial = x.dim() - 2
    if len(pad) != spatial:
        raise ValueError(f"need one (before, after) pair per spatial axis ({spatial}), got {list(pad)}.")
    remaining = [list(p) for p in pad]
    for axis, (before, after) in enumerate(pad):
        if x.shape[axis + 2] == 1 and before + after > 0:
            # the mirror image of a single voxel is that voxel (numpy agrees)
            repeats = [1] * x.dim()
            repeats[axis + 2] = 1 + before + after
            x = x.repeat(repeats)
            remaining[axis] = [0, 0]
    while any(b > 0 or a > 0 for b, a in remaining):
        step: list[int] = []
        # F.pad takes the last axis first; reflect allows at most size - 1 per side and pass
        for axis in reversed(range(spatial)):
            size = x.shape[axis + 2]
            if size == 0 and any(remaining[axis]):
                raise ValueError(f"cannot mirror-pad spatial axis {axis} of length 0.")
            before = min(remaining[axis][0], size - 1)
            after = min(remaining[axis][1], size - 1)
            remaining[axis][0] -= before
            remaining[axis][1] -= after
            step += [before, after]
        x = F.pad(x, step, mode="reflect")
    return x


class OverlapTileInferer(Inferer):
    """Tiled inference for networks whose output is smaller than their input (valid convolutions).

    Args:
        tile_size: output size of one tile (int or one per spatial axis). ``tile_size + 2 * border`` must be a
            legal network input size; with a :class:`~monai_unet_bundle.networks.UNet` use
            ``net.valid_output_size(net.valid_input_size(wanted))`` to get one. Axes of an image smaller than the
            tile use the smallest legal tile that covers them when the network offers ``valid_input_size``.
        border: voxels lost per side (int or one per axis); default ``network.valid_border()``.
        alignment: tile origins are multiples of this (default ``2 ** network.depth`` for a valid UNet, else 1).
        sw_batch_size: number of tiles per forward pass.
        padding_mode: ``"reflect"`` (the paper's mirroring) or ``"constant"`` (zeros).
        sw_device: device the tiles are predicted on (default: that of ``inputs``), e.g. a GPU for a volume in CPU
            memory.
        device: device of the stitched output (default: that of ``inputs``).

    Shapes: ``inputs`` ``(B, C_in, *spatial)`` -> ``(B, C_out, *spatial)``, any spatial size. A ``MetaTensor``
    input gives a ``MetaTensor`` output with its metadata and applied operations (so ``Invertd`` can undo them).

    Example::

        >>> net = UNet(2, 1, 2, features=(8, 16, 32), padding="valid").eval()
        >>> inferer = OverlapTileInferer(tile_size=net.valid_output_size(net.valid_input_size(60)), sw_batch_size=4)
        >>> inferer(torch.rand(1, 1, 100, 77), net).shape
        torch.Size([1, 2, 100, 77])
    """

    def __init__(
        self,
        tile_size: int | Sequence[int],
        border: int | Sequence[int] | None = None,
        alignment: int | None = None,
        sw_batch_size: int = 1,
        padding_mode: str = "reflect",
        sw_device: torch.device | str | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        if sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be >= 1, got {sw_batch_size}.")
        if padding_mode not in ("reflect", "constant"):
            raise ValueError(f"padding_mode must be 'reflect' or 'constant', got {padding_mode!r}.")
        if alignment is not None and alignment < 1:
            raise ValueError(f"alignment must be >= 1, got {alignment}.")
        self.tile_size = tile_size
        self.border = border
        self.alignment = alignment
        self.sw_batch_size = sw_batch_size
        self.padding_mode = padding_mode
        self.sw_device = sw_device
        self.device = device

    @staticmethod
    def _per_axis(value: int | Sequence[int], spatial: int, name: str) -> list[int]:
        values = [int(value)] if isinstance(value, int) else [int(v) for v in value]
        if len(values) == 1:
            values = values * spatial
        if len(values) != spatial or any(v < 0 for v in values):
            raise ValueError(f"{name} must be a non-negative int, or one per spatial axis ({spatial}), got {value}.")
        return values

    def _plan(self, spatial_size: Sequence[int], network: Callable[..., Any]) -> tuple[list[int], list[int], int]:
        """Tile output size and border per axis, and the origin alignment, for an image of ``spatial_size``."""
        net = unwrap_network(network)
        spatial = len(spatial_size)
        tile = self._per_axis(self.tile_size, spatial, "tile_size")
        if self.border is None:
            if not hasattr(net, "valid_border"):
                raise ValueError("border is needed: the network has no valid_border() to derive it from.")
            border = self._per_axis(net.valid_border(), spatial, "border")
        else:
            border = self._per_axis(self.border, spatial, "border")
        alignment = self.alignment
        if alignment is None:
            alignment = 2 ** int(net.depth) if getattr(net, "valid", False) else 1
        sizing = hasattr(net, "valid_input_size") and hasattr(net, "valid_output_size")
        for axis, n in enumerate(spatial_size):
            if sizing and n < tile[axis]:
                # a smaller legal tile covers this axis with less wasted computation
                tile[axis] = net.valid_output_size(net.valid_input_size(n))[0]
            if tile[axis] < 1:
                raise ValueError(f"tile_size must be >= 1 on every axis, got {self.tile_size}.")
        if sizing:
            inputs = [t + 2 * b for t, b in zip(tile, border)]
            try:
                produced = list(net.valid_output_size(inputs))
            except ValueError as e:
                raise ValueError(f"tile_size {tile} + 2 * border {border} is not a legal network input: {e}") from e
            if produced != tile:
                raise ValueError(
                    f"a tile input of {inputs} gives an output of {produced}, not tile_size {tile}: "
                    f"border {border} does not match the network (valid_border() = {net.valid_border()})."
                )
        return tile, border, alignment

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> torch.Tensor:
        """Predict ``inputs`` (B, C_in, *spatial) tile by tile; extra args are passed on to ``network``."""
        if inputs.dim() < 3:
            raise ValueError(f"inputs must be (B, C, *spatial), got shape {tuple(inputs.shape)}.")
        meta_source = inputs if isinstance(inputs, MetaTensor) else None
        if meta_source is not None:
            inputs = meta_source.as_tensor()  # tiles need no per-slice metadata bookkeeping
        size = list(inputs.shape[2:])
        tile, border, alignment = self._plan(size, network)

        # origins on the alignment grid; the last tile of an axis may stick out (padded further, cropped after)
        origins_per_axis: list[list[int]] = []
        stitched_per_axis: list[list[tuple[int, int]]] = []  # per origin: output range it writes
        for n, t in zip(size, tile):
            # a tile shorter than the alignment cannot keep the pooling grid; it is then tiled unaligned
            step = (t // alignment) * alignment if t >= alignment else t
            origins = [0]
            while origins[-1] + t < n:
                origins.append(origins[-1] + step)
            ranges = [(o, min(origins[i + 1], n) if i + 1 < len(origins) else n) for i, o in enumerate(origins)]
            origins_per_axis.append(origins)
            stitched_per_axis.append(ranges)
        far = [max(o[-1] + t - n, 0) for o, t, n in zip(origins_per_axis, tile, size)]
        pad = [(b, b + f) for b, f in zip(border, far)]
        if self.padding_mode == "reflect":
            padded = mirror_pad(inputs, pad)
        else:
            padded = F.pad(inputs, [p for pair in reversed(pad) for p in pair])

        jobs = [
            (b, origin, ranges)
            for b in range(inputs.shape[0])
            for origin, ranges in zip(itertools.product(*origins_per_axis), itertools.product(*stitched_per_axis))
        ]
        output: torch.Tensor | None = None
        for start in range(0, len(jobs), self.sw_batch_size):
            chunk = jobs[start : start + self.sw_batch_size]
            windows = [
                padded[(b, slice(None), *(slice(o, o + t + 2 * bd) for o, t, bd in zip(origin, tile, border)))]
                for b, origin, _ in chunk
            ]
            batch = torch.stack(windows)
            if self.sw_device is not None:
                batch = batch.to(self.sw_device)
            pred = network(batch, *args, **kwargs)
            if isinstance(pred, (list, tuple)):  # deep supervision in training mode: the first is the final output
                pred = pred[0]
            if not isinstance(pred, torch.Tensor):
                raise TypeError(f"OverlapTileInferer needs a network returning a tensor, got {type(pred).__name__}.")
            if list(pred.shape[2:]) != tile:
                raise ValueError(f"network output of spatial size {list(pred.shape[2:])} for tile_size {tile}.")
            if output is None:
                out_device = inputs.device if self.device is None else torch.device(self.device)
                output = torch.zeros((inputs.shape[0], pred.shape[1], *size), dtype=pred.dtype, device=out_device)
            for k, (b, origin, ranges) in enumerate(chunk):
                dst = tuple(slice(lo, hi) for lo, hi in ranges)
                src = tuple(slice(lo - o, hi - o) for (lo, hi), o in zip(ranges, origin))
                output[(b, slice(None), *dst)] = pred[(k, slice(None), *src)].to(out_device)
        if output is None:
            raise ValueError(f"inputs have no batch items: shape {tuple(inputs.shape)}.")
        if meta_source is not None:
            return MetaTensor(output, meta=meta_source.meta, applied_operations=meta_source.applied_operations)
        return output
