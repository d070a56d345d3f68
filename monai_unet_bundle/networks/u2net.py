"""U2-Net (Qin et al., "U2-Net: Going deeper with nested U-structure for salient object detection", 2020).

A U-Net of residual U-blocks: six encoder stages En_1..En_6 (RSU-7, -6, -5, -4, -4F, -4F) joined by ceil-mode
max-pooling, five decoder stages De_5..De_1 (RSU-4F, -4, -5, -6, -7) each taking its upsampled predecessor
concatenated with the matching encoder map, a 3x3 side-output convolution on De_1..De_5 and En_6, and a 1x1
convolution fusing the six side outputs (upsampled to the input size). Widths follow the paper's Table 1 for the
full model (176.3 MB) and U2-Net† ("lite", 4.7 MB).
"""

from __future__ import annotations

import torch
from monai.networks.layers.factories import Conv, Pool
from monai_unet_bundle.networks.rsu import RSU, RSU4F, upsample_like
from torch import nn

__all__ = ["U2Net"]

# (height, in, mid, out) per stage; height 0 marks RSU-4F. In channels of En_1 are the network's in_channels.
_STAGES = {
    "full": {
        "encoder": [(7, None, 32, 64), (6, 64, 32, 128), (5, 128, 64, 256), (4, 256, 128, 512), (0, 512, 256, 512)],
        "bottom": (0, 512, 256, 512),
        "decoder": [(0, 1024, 256, 512), (4, 1024, 128, 256), (5, 512, 64, 128), (6, 256, 32, 64), (7, 128, 16, 64)],
    },
    "lite": {
        "encoder": [(7, None, 16, 64), (6, 64, 16, 64), (5, 64, 16, 64), (4, 64, 16, 64), (0, 64, 16, 64)],
        "bottom": (0, 64, 16, 64),
        "decoder": [(0, 128, 16, 64), (4, 128, 16, 64), (5, 128, 16, 64), (6, 128, 16, 64), (7, 128, 16, 64)],
    },
}
_INTERP = ("linear", "bilinear", "trilinear")


def _block(spatial_dims: int, height: int, in_channels: int, mid: int, out: int) -> nn.Module:
    if height == 0:
        return RSU4F(spatial_dims, in_channels, mid, out)
    return RSU(spatial_dims, height, in_channels, mid, out)


class U2Net(nn.Module):
    """U2-Net for ``spatial_dims``-D segmentation, returning logits (no sigmoid/softmax).

    Args:
        spatial_dims: 2 or 3 (upsampling is bilinear / trilinear).
        in_channels: input channels C_in.
        out_channels: output channels C_out (classes incl. background for softmax losses).
        variant: ``"full"`` (44.0 M parameters for 3 -> 1 channels in 2D) or ``"lite"`` (U2-Net†, 1.13 M).
        dropout: dropout probability on the bottom stage En_6 (the end of the contracting path, as in
            :class:`~monai_unet_bundle.networks.UNet`); 0 (the paper) adds no layer. MONAI Label's epistemic
            scoring sets it to sample predictions with dropout active.

    Returns:
        training mode: ``[fused, side_1, ..., side_6]``, seven ``(B, C_out, *spatial)`` logit tensors, all at the
        input size (``side_1`` from De_1 ... ``side_6`` from En_6), the form ``monai.losses.DeepSupervisionLoss``
        takes. Eval mode: the fused logits alone, so sliding-window inference, TorchScript and ONNX see one tensor.

    Any input size works (odd sizes included); output size == input size.

    Example::

        >>> net = U2Net(2, 3, 1, "lite")
        >>> [o.shape[-2:] for o in net(torch.rand(2, 3, 45, 37))][0]
        torch.Size([45, 37])
        >>> net.eval()(torch.rand(1, 3, 45, 37)).shape
        torch.Size([1, 1, 45, 37])
    """

    def __init__(
        self, spatial_dims: int, in_channels: int, out_channels: int, variant: str = "full", dropout: float = 0.0
    ):
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        if variant not in _STAGES:
            raise ValueError(f"variant must be one of {tuple(_STAGES)}, got {variant!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.variant = variant
        self.mode = _INTERP[spatial_dims - 1]
        cfg = _STAGES[variant]

        enc = []
        for height, cin, mid, cout in cfg["encoder"]:
            enc.append(_block(spatial_dims, height, in_channels if cin is None else cin, mid, cout))
        self.encoder = nn.ModuleList(enc)  # En_1 .. En_5
        self.bottom = _block(spatial_dims, *cfg["bottom"])  # En_6
        # no parameters: the state_dict is the same with and without dropout
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.decoder = nn.ModuleList([_block(spatial_dims, *s) for s in cfg["decoder"]])  # De_5 .. De_1
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2, ceil_mode=True)

        conv = Conv[Conv.CONV, spatial_dims]
        # side outputs for De_1 .. De_5, then En_6
        side_channels = [s[3] for s in reversed(cfg["decoder"])] + [cfg["bottom"][3]]
        self.sides = nn.ModuleList([conv(c, out_channels, 3, padding=1) for c in side_channels])
        self.fuse = conv(len(side_channels) * out_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        skips: list[torch.Tensor] = []
        h = x
        for i, stage in enumerate(self.encoder):
            if i > 0:
                h = self.pool(h)
            h = stage(h)
            skips.append(h)
        h = self.dropout(self.bottom(self.pool(h)))
        features = [h]  # En_6, then De_5 .. De_1
        for i, stage in enumerate(self.decoder):
            skip = skips[len(skips) - 1 - i]
            h = stage(torch.cat([upsample_like(h, skip, self.mode), skip], dim=1))
            features.append(h)

        sides: list[torch.Tensor] = []
        for i, head in enumerate(self.sides):
            side = head(features[len(features) - 1 - i])  # De_1 first, En_6 last
            if i > 0:
                side = upsample_like(side, x, self.mode)
            sides.append(side)
        fused = self.fuse(torch.cat(sides, dim=1))
        if self.training:
            return [fused] + sides
        return fused
