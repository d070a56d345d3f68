"""Residual U-blocks (RSU) of U2-Net (Qin et al., Pattern Recognition 2020).

An RSU-L block is a small U-Net inside a residual connection: an input convolution maps ``in_channels`` to
``out_channels`` (the residual branch), an L-level encoder-decoder with ``mid_channels`` extracts multi-scale
context, and its output is added to the residual branch. RSU-L uses L-2 ceil-mode max-poolings and a dilated
(rate 2) convolution at the bottom. RSU-4F replaces pooling by dilations 1, 2, 4, 8 for the low-resolution stages.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.networks.layers.factories import Conv, Pool
from torch import nn

__all__ = ["ConvBNReLU", "RSU", "RSU4F", "upsample_like"]

_INTERP = ("linear", "bilinear", "trilinear")


def upsample_like(x: torch.Tensor, ref: torch.Tensor, mode: str) -> torch.Tensor:
    """(Bi/tri)linear resize of ``x`` to the spatial size of ``ref`` (ceil-mode pooling makes odd sizes exact)."""
    return F.interpolate(x, size=ref.shape[2:], mode=mode, align_corners=False)


class ConvBNReLU(nn.Sequential):
    """3x3 convolution (with bias, dilation ``dilation``, size-preserving padding) -> batch norm -> ReLU."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, dilation: int = 1):
        super().__init__(
            Conv[Conv.CONV, spatial_dims](in_channels, out_channels, 3, padding=dilation, dilation=dilation),
            (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[spatial_dims - 1](out_channels),
            nn.ReLU(inplace=True),
        )


class RSU(nn.Module):
    """RSU-L: residual U-block with ``height`` = L levels (L - 2 poolings).

    Args:
        spatial_dims: number of spatial dimensions.
        height: L (U2-Net uses 7, 6, 5, 4); at least 3.
        in_channels, mid_channels, out_channels: C_in, M, C_out of the paper's RSU-L(C_in, M, C_out).

    Shapes: ``(B, C_in, *spatial)`` -> ``(B, C_out, *spatial)`` for any spatial size.

    Example::

        >>> RSU(2, 7, 3, 16, 64)(torch.rand(1, 3, 33, 47)).shape
        torch.Size([1, 64, 33, 47])
    """

    def __init__(self, spatial_dims: int, height: int, in_channels: int, mid_channels: int, out_channels: int):
        super().__init__()
        if height < 3:
            raise ValueError(f"RSU height must be >= 3, got {height}.")
        self.mode = _INTERP[spatial_dims - 1]
        self.conv_in = ConvBNReLU(spatial_dims, in_channels, out_channels)
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2, ceil_mode=True)
        # encoder: height - 1 plain convolutions (pooling between them) and a dilated one at the bottom
        enc = [ConvBNReLU(spatial_dims, out_channels, mid_channels)]
        enc += [ConvBNReLU(spatial_dims, mid_channels, mid_channels) for _ in range(height - 2)]
        self.encoder = nn.ModuleList(enc)
        self.bottom = ConvBNReLU(spatial_dims, mid_channels, mid_channels, dilation=2)
        # decoder, coarsest first: each takes [upsampled, skip]; the last one restores out_channels
        dec = [ConvBNReLU(spatial_dims, 2 * mid_channels, mid_channels) for _ in range(height - 2)]
        dec.append(ConvBNReLU(spatial_dims, 2 * mid_channels, out_channels))
        self.decoder = nn.ModuleList(dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.conv_in(x)
        h = residual
        skips: list[torch.Tensor] = []
        for i, conv in enumerate(self.encoder):
            if i > 0:
                h = self.pool(h)
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for i, conv in enumerate(self.decoder):
            skip = skips[len(skips) - 1 - i]
            if i > 0:
                h = upsample_like(h, skip, self.mode)
            h = conv(torch.cat([h, skip], dim=1))
        return h + residual


class RSU4F(nn.Module):
    """RSU-4F: a 4-level residual U-block that keeps the resolution and grows the receptive field by dilation
    (rates 1, 2, 4, 8 down, 4, 2, 1 up), used where maps are already small.

    Shapes: ``(B, C_in, *spatial)`` -> ``(B, C_out, *spatial)``.

    Example::

        >>> RSU4F(3, 8, 4, 8)(torch.rand(1, 8, 5, 6, 7)).shape
        torch.Size([1, 8, 5, 6, 7])
    """

    def __init__(self, spatial_dims: int, in_channels: int, mid_channels: int, out_channels: int):
        super().__init__()
        self.conv_in = ConvBNReLU(spatial_dims, in_channels, out_channels)
        self.encoder = nn.ModuleList(
            [
                ConvBNReLU(spatial_dims, out_channels, mid_channels, dilation=1),
                ConvBNReLU(spatial_dims, mid_channels, mid_channels, dilation=2),
                ConvBNReLU(spatial_dims, mid_channels, mid_channels, dilation=4),
            ]
        )
        self.bottom = ConvBNReLU(spatial_dims, mid_channels, mid_channels, dilation=8)
        self.decoder = nn.ModuleList(
            [
                ConvBNReLU(spatial_dims, 2 * mid_channels, mid_channels, dilation=4),
                ConvBNReLU(spatial_dims, 2 * mid_channels, mid_channels, dilation=2),
                ConvBNReLU(spatial_dims, 2 * mid_channels, out_channels, dilation=1),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.conv_in(x)
        h = residual
        skips: list[torch.Tensor] = []
        for conv in self.encoder:
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for i, conv in enumerate(self.decoder):
            h = conv(torch.cat([h, skips[len(skips) - 1 - i]], dim=1))
        return h + residual
