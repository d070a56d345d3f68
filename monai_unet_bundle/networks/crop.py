"""Centre cropping of feature maps to a target spatial size (TorchScript- and ONNX-exportable)."""

from __future__ import annotations

import torch

__all__ = ["crop_to"]


def crop_to(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    """Centre-crop the spatial axes of ``x`` (B, C, *spatial) to ``size`` (one length per spatial axis).

    Axes already at or below their target length are left alone. When an axis shrinks by an odd amount the extra
    voxel is removed from the end, so a one-voxel surplus (ceil-mode pooling) is trimmed from the far side.

    Example::

        >>> crop_to(torch.zeros(1, 2, 9, 8), [5, 8]).shape
        torch.Size([1, 2, 5, 8])
    """
    for axis in range(len(size)):
        dim = axis + 2
        excess = x.shape[dim] - size[axis]
        if excess > 0:
            x = x.narrow(dim, excess // 2, size[axis])
    return x
