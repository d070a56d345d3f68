"""U-Net (Ronneberger et al., MICCAI 2015) in its paper ("valid") form and its mainstream ("same") form.

``padding="valid"`` reproduces the paper: unpadded 3x3 convolutions shrink every feature map by 2 per
convolution, each skip connection is centre-cropped to the decoder's size before concatenation, and the output is
smaller than the input (572 -> 388 in 2D with four poolings). Such a network is applied tile by tile with
:class:`monai_unet_bundle.prediction.OverlapTileInferer`; :meth:`UNet.valid_output_size` and
:meth:`UNet.valid_input_size` size those tiles and training crops.

``padding="same"`` is the form most users know (zero-padded convolutions, output size == input size). Pooling uses
ceil mode and the upsampled decoder map is cropped to its skip, so any input size works, not only multiples of
``2 ** depth``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.networks.layers.factories import Conv, Pool
from monai_unet_bundle.networks.attention import SpatialAttentionGate
from monai_unet_bundle.networks.crop import crop_to
from torch import nn

__all__ = ["UNet"]

_PADDINGS = ("same", "valid")
_NORMS = ("batch", "instance", None)
_UPSAMPLES = ("deconv", "interp")


def _norm_layer(norm: str | None, spatial_dims: int, channels: int) -> nn.Module:
    if norm is None:
        return nn.Identity()
    if norm == "batch":
        return (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)[spatial_dims - 1](channels)
    # affine instance norm, as nnU-Net uses it; MONAI's default (affine=False) cannot rescale features.
    return (nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d)[spatial_dims - 1](channels, affine=True)


class DoubleConv(nn.Sequential):
    """Two (3x3 conv -> norm -> ReLU) units, one U-Net level. ``padding`` is 1 ("same") or 0 ("valid")."""

    def __init__(self, spatial_dims: int, in_channels: int, out_channels: int, padding: int, norm: str | None):
        conv = Conv[Conv.CONV, spatial_dims]
        # a bias in front of a normalisation layer is cancelled by its mean subtraction
        bias = norm is None
        super().__init__(
            conv(in_channels, out_channels, 3, padding=padding, bias=bias),
            _norm_layer(norm, spatial_dims, out_channels),
            nn.ReLU(inplace=True),
            conv(out_channels, out_channels, 3, padding=padding, bias=bias),
            _norm_layer(norm, spatial_dims, out_channels),
            nn.ReLU(inplace=True),
        )


class UpSample(nn.Module):
    """Multiplies the spatial size by ``scale`` (2, or one factor per axis) and maps ``in_channels`` to ``out_channels``.

    ``"deconv"`` is the paper's 2x2 up-convolution (stride-2 transposed convolution); ``"interp"`` is
    (bi/tri)linear interpolation followed by a 1x1 convolution, which avoids checkerboard artefacts.
    """

    def __init__(
        self, spatial_dims: int, in_channels: int, out_channels: int, mode: str, scale: int | Sequence[int] = 2
    ):
        super().__init__()
        if mode == "deconv":
            self.up: nn.Module = Conv[Conv.CONVTRANS, spatial_dims](in_channels, out_channels, scale, stride=scale)
        else:
            interp = ("linear", "bilinear", "trilinear")[spatial_dims - 1]
            factor = tuple(float(s) for s in scale) if isinstance(scale, Sequence) else float(scale)
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=factor, mode=interp, align_corners=False),
                Conv[Conv.CONV, spatial_dims](in_channels, out_channels, 1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class UNet(nn.Module):
    """U-Net for ``spatial_dims``-D segmentation, returning logits.

    Args:
        spatial_dims: 2 or 3 (1 also works).
        in_channels: input channels C_in.
        out_channels: output channels (classes incl. background) C_out.
        features: channels per level, finest first; ``len(features) - 1`` poolings (the depth).
            The paper uses (64, 128, 256, 512, 1024).
        padding: ``"same"`` (output size == input size, any input size) or ``"valid"`` (paper form: no padding,
            skips centre-cropped; output smaller than input, see :meth:`valid_output_size`).
        norm: ``"batch"``, ``"instance"`` (affine) or ``None`` (the paper; convolutions then carry a bias).
        upsample: ``"deconv"`` (2x2 transposed convolution, the paper) or ``"interp"`` (linear interpolation + 1x1
            convolution).
        dropout: dropout probability applied at the end of the contracting path (the paper uses 0.5).
        attention: gate every skip with a spatial attention map (channel mean and max -> 7x7 conv -> sigmoid)
            before concatenation. Adds ``depth * (2 * 7**spatial_dims + 1)`` parameters.
        pool_sizes: per pooling (coarsest last), its kernel = stride: an int for every axis or one per axis, e.g.
            ``[[2, 2, 1], [2, 2, 1], [2, 2, 2]]`` pools an anisotropic volume in-plane only for the first two levels
            (nnU-Net's plan for thick slices). ``None``: 2 on every axis at every level. Up-sampling mirrors it.
            ``"same"`` padding only.
        deep_supervision: add 1x1 heads on the coarser decoder levels. In training mode the forward then returns a
            list ``[final, coarser_1, ..., coarser_{depth-1}]`` of logits (each at its level's resolution, finest
            first), the form ``monai.losses.DeepSupervisionLoss`` takes. Eval mode always returns one tensor.

    Shapes:
        input ``(B, C_in, *spatial)``; output ``(B, C_out, *spatial)`` for ``"same"``, and
        ``(B, C_out, *UNet.valid_output_size(spatial))`` for ``"valid"``.

    Example::

        >>> net = UNet(2, 1, 2, padding="valid", norm=None)  # the 2015 paper network, 31,030,658 parameters
        >>> net.valid_output_size(572)
        (388,)
        >>> net(torch.rand(1, 1, 572, 572)).shape
        torch.Size([1, 2, 388, 388])
        >>> UNet(3, 1, 4, features=(16, 32, 64, 128))(torch.rand(2, 1, 40, 37, 33)).shape
        torch.Size([2, 4, 40, 37, 33])
    """

    def __init__(
        self,
        spatial_dims: int,
        in_channels: int,
        out_channels: int,
        features: Sequence[int] = (64, 128, 256, 512, 1024),
        padding: str = "same",
        norm: str | None = "batch",
        upsample: str = "deconv",
        dropout: float = 0.0,
        attention: bool = False,
        deep_supervision: bool = False,
        pool_sizes: Sequence[int | Sequence[int]] | None = None,
    ):
        super().__init__()
        if spatial_dims not in (1, 2, 3):
            raise ValueError(f"spatial_dims must be 1, 2 or 3, got {spatial_dims}.")
        features = [int(f) for f in features]
        if len(features) < 2:
            raise ValueError(f"features needs at least two levels (one pooling), got {features}.")
        if padding not in _PADDINGS:
            raise ValueError(f"padding must be one of {_PADDINGS}, got {padding!r}.")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}.")
        if upsample not in _UPSAMPLES:
            raise ValueError(f"upsample must be one of {_UPSAMPLES}, got {upsample!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")

        self.spatial_dims = spatial_dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.features = tuple(features)
        self.depth = len(features) - 1
        self.padding = padding
        self.valid = padding == "valid"
        self.attention = attention
        self.deep_supervision = deep_supervision
        self.pool_sizes = self._checked_pool_sizes(pool_sizes, spatial_dims, self.depth, self.valid)

        conv_pad = 0 if self.valid else 1
        self.encoder = nn.ModuleList()
        prev = in_channels
        for f in features:
            self.encoder.append(DoubleConv(spatial_dims, prev, f, conv_pad, norm))
            prev = f
        # ceil mode lets "same" accept any size; "valid" sizes are checked to be even before every pooling
        self.pool = Pool[Pool.MAX, spatial_dims](kernel_size=2, stride=2, ceil_mode=not self.valid)
        # the pooling in front of each encoder level (none before the first); sizes other than 2 from pool_sizes.
        # Max pooling has no weights, so the state_dict is the same as without pool_sizes.
        self.pools = nn.ModuleList(
            [nn.Identity()]
            + [
                self.pool if size == 2 else Pool[Pool.MAX, spatial_dims](kernel_size=size, stride=size, ceil_mode=True)
                for size in self.pool_sizes
            ]
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

        self.ups = nn.ModuleList()
        self.gates = nn.ModuleList()
        self.decoder = nn.ModuleList()
        for level in reversed(range(self.depth)):
            f, f_below = features[level], features[level + 1]
            self.ups.append(UpSample(spatial_dims, f_below, f, upsample, self.pool_sizes[level]))
            self.gates.append(SpatialAttentionGate(spatial_dims) if attention else nn.Identity())
            self.decoder.append(DoubleConv(spatial_dims, 2 * f, f, conv_pad, norm))

        # a valid U-Net crops each skip by the same amount whatever the (legal) input size
        self.skip_offsets = self._valid_skip_offsets(self.depth) if self.valid else [0] * self.depth

        conv = Conv[Conv.CONV, spatial_dims]
        self.head = conv(features[0], out_channels, 1)
        # heads for decoder levels 1 .. depth-1 (coarser than the final level), finest first
        self.aux_heads = nn.ModuleList(
            [conv(features[level], out_channels, 1) for level in range(1, self.depth)] if deep_supervision else []
        )

    @staticmethod
    def _checked_pool_sizes(
        pool_sizes: Sequence[int | Sequence[int]] | None, spatial_dims: int, depth: int, valid: bool
    ) -> list[int | tuple[int, ...]]:
        """``pool_sizes`` as ``depth`` entries, each 2 (the default) or a tuple of ``spatial_dims`` ints >= 1."""
        if pool_sizes is None:
            return [2] * depth
        if len(pool_sizes) != depth:
            raise ValueError(f"pool_sizes needs one entry per pooling ({depth}), got {list(pool_sizes)}.")
        sizes: list[int | tuple[int, ...]] = []
        for entry in pool_sizes:
            size = (int(entry),) * spatial_dims if isinstance(entry, (int, float)) else tuple(int(v) for v in entry)
            if len(size) != spatial_dims or min(size) < 1:
                raise ValueError(f"each pool_sizes entry needs {spatial_dims} sizes >= 1, got {entry}.")
            sizes.append(2 if all(v == 2 for v in size) else size)
        if valid and any(size != 2 for size in sizes):
            raise ValueError(f"pool_sizes other than 2 need padding='same', got {list(pool_sizes)}.")
        return sizes

    # ----------------------------------------------------------------------------------------------- sizes
    @staticmethod
    def _valid_output_1d(size: int, depth: int) -> int | None:
        """Output length of a valid-padded U-Net of ``depth`` poolings, or None when ``size`` is illegal."""
        for _ in range(depth):
            size -= 4
            if size < 2 or size % 2:
                return None
            size //= 2
        size -= 4
        if size < 1:
            return None
        for _ in range(depth):
            size = 2 * size - 4
            if size < 1:
                return None
        return size

    @staticmethod
    def _valid_skip_offsets(depth: int) -> list[int]:
        """Voxels cropped from the start of each skip (decoder order, coarsest first) in the valid form."""
        # any legal input gives the same offsets; use the one with a bottleneck of length 4
        skips, n = [], UNet._valid_input_1d(4, depth)
        for _ in range(depth):
            n -= 4
            skips.append(n)
            n //= 2
        up = n - 4
        offsets = []
        for skip in reversed(skips):
            up *= 2
            offsets.append((skip - up) // 2)
            up -= 4
        return offsets

    @staticmethod
    def _valid_input_1d(bottom: int, depth: int) -> int:
        """Input length whose bottleneck (after its two convolutions) has length ``bottom``."""
        size = bottom + 4
        for _ in range(depth):
            size = 2 * size + 4
        return size

    @classmethod
    def _legal_inputs_around(cls, size: int, depth: int) -> tuple[int | None, int]:
        """The largest legal input length <= ``size`` (None if none) and the smallest one >= ``size``."""
        below, above, bottom = None, None, 1
        while above is None:
            n = cls._valid_input_1d(bottom, depth)
            if cls._valid_output_1d(n, depth) is not None:
                if n <= size:
                    below = n
                if n >= size:
                    above = n
            bottom += 1
        return below, above

    def _as_sizes(self, size: int | Sequence[int]) -> tuple[int, ...]:
        return (size,) if isinstance(size, int) else tuple(int(s) for s in size)

    def valid_output_size(self, input_size: int | Sequence[int]) -> tuple[int, ...]:
        """Spatial output size for ``input_size`` (int or per-axis sequence) of this network.

        For ``padding="same"`` this is ``input_size``. For ``"valid"`` every axis must be a legal length (each
        pooling sees an even length, nothing shrinks to zero); otherwise a ``ValueError`` names the nearest legal
        lengths. Example: depth 4 -> ``valid_output_size(572) == (388,)``.
        """
        return self.output_size_for(input_size, self.depth) if self.valid else self._as_sizes(input_size)

    def valid_input_size(self, min_output_size: int | Sequence[int]) -> tuple[int, ...]:
        """Smallest legal input size whose output covers ``min_output_size`` (int or per-axis sequence).

        For ``padding="same"`` this is ``min_output_size``. Example (depth 4): ``valid_input_size(388) == (572,)``,
        ``valid_input_size(389) == (588,)`` (output 404).
        """
        return self.input_size_for(min_output_size, self.depth) if self.valid else self._as_sizes(min_output_size)

    def valid_border(self) -> int:
        """Context lost on each side of each axis: ``(input - output) / 2`` (92 for depth 4; 0 for "same")."""
        if not self.valid:
            return 0
        n = self._valid_input_1d(8, self.depth)
        return (n - self._valid_output_1d(n, self.depth)) // 2

    @classmethod
    def output_size_for(cls, input_size: int | Sequence[int], depth: int) -> tuple[int, ...]:
        """Class form of :meth:`valid_output_size` for a valid-padded U-Net with ``depth`` poolings."""
        sizes = (input_size,) if isinstance(input_size, int) else tuple(input_size)
        out = []
        for axis, n in enumerate(sizes):
            o = cls._valid_output_1d(int(n), depth)
            if o is None:
                below, above = cls._legal_inputs_around(int(n), depth)
                nearest = f"{below} or {above}" if below is not None else f"{above} (the smallest)"
                raise ValueError(
                    f"input length {n} on spatial axis {axis} is illegal for a valid-padded U-Net of depth {depth}: "
                    f"each pooling needs an even length and no map may vanish. Nearest legal lengths: {nearest}."
                )
            out.append(o)
        return tuple(out)

    @classmethod
    def input_size_for(cls, min_output_size: int | Sequence[int], depth: int) -> tuple[int, ...]:
        """Class form of :meth:`valid_input_size` for a valid-padded U-Net with ``depth`` poolings."""
        sizes = (min_output_size,) if isinstance(min_output_size, int) else tuple(min_output_size)
        out = []
        for m in sizes:
            bottom = 1
            while True:
                n = cls._valid_input_1d(bottom, depth)
                o = cls._valid_output_1d(n, depth)
                if o is not None and o >= int(m):
                    out.append(n)
                    break
                bottom += 1
        return tuple(out)

    # --------------------------------------------------------------------------------------------- forward
    @torch.jit.unused
    def _check_input(self, x: torch.Tensor) -> None:
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            return
        if x.dim() != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input of shape (B, {self.in_channels}, {', '.join(['*'] * self.spatial_dims)}), "
                f"got {tuple(x.shape)}."
            )
        if self.valid:
            self.output_size_for(tuple(x.shape[2:]), self.depth)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if not torch.jit.is_scripting():
            self._check_input(x)
        skips: list[torch.Tensor] = []
        for pool, level in zip(self.pools, self.encoder):
            x = level(pool(x))
            skips.append(x)
        x = self.dropout(skips.pop())

        aux: list[torch.Tensor] = []
        for i, (up, gate, level) in enumerate(zip(self.ups, self.gates, self.decoder)):
            x = up(x)
            skip = gate(skips[-1 - i])
            if self.valid:
                skip = crop_to(skip, x.shape[2:], self.skip_offsets[i])
            else:
                # ceil-mode pooling can make the upsampled map one voxel longer than its skip: trim its far end
                x = crop_to(x, skip.shape[2:])
            x = level(torch.cat([skip, x], dim=1))
            aux.append(x)

        out = self.head(x)
        if self.deep_supervision and self.training:
            outs = [out]
            # aux[-1] is the final level; the coarser levels are aux[-2], aux[-3], ... (finest first)
            for j, head in enumerate(self.aux_heads):
                outs.append(head(aux[len(aux) - 2 - j]))
            return outs
        return out
