"""Spatial attention gate for skip connections (the spatial half of CBAM, Woo et al. 2018)."""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv
from torch import nn

__all__ = ["SpatialAttentionGate"]


class SpatialAttentionGate(nn.Module):
    """Multiplies a feature map by a per-voxel weight in (0, 1) computed from its own channel statistics.

    The channel-wise mean and max (2 maps) go through one ``kernel_size`` convolution and a sigmoid; the result
    scales every channel. The convolution is zero-padded so the map keeps the input's size; a valid-padded U-Net
    applies the gate before centre-cropping its skip, and its crops (>= 4 voxels per side) remove the
    ``kernel_size // 2`` voxels that see that padding, so tiles stay seamless.

    Args:
        spatial_dims: number of spatial dimensions.
        kernel_size: odd size of the convolution (7 as in CBAM).

    Shapes: input and output ``(B, C, *spatial)``.

    Example::

        >>> SpatialAttentionGate(3)(torch.rand(2, 8, 6, 6, 6)).shape
        torch.Size([2, 8, 6, 6, 6])
    """

    def __init__(self, spatial_dims: int, kernel_size: int = 7):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
        self.conv = Conv[Conv.CONV, spatial_dims](2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(stats))
