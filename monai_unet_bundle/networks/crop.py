"""Cropping of feature maps to a target spatial size, written so that exported graphs stay correct."""

from __future__ import annotations

import torch

__all__ = ["crop_to"]


def crop_to(x: torch.Tensor, size: list[int], start: int = 0) -> torch.Tensor:
    """Keep ``size[i]`` voxels of spatial axis ``i`` of ``x`` (B, C, *spatial), beginning at index ``start``.

    ``start`` is a plain int, not computed from tensor shapes: a shape-dependent offset such as
    ``(len - size) // 2`` is rewritten by torch.export into floor divisions of negative numbers, which the ONNX
    exporter turns into truncating divisions (off by one for odd lengths). Callers that need a centred crop
    pass an offset they know in advance (a valid U-Net's crop per level is a constant).

    Example::

        >>> crop_to(torch.zeros(1, 2, 9, 8), [5, 4], start=2).shape
        torch.Size([1, 2, 5, 4])
    """
    for axis in range(len(size)):
        x = x.narrow(axis + 2, start, size[axis])
    return x
