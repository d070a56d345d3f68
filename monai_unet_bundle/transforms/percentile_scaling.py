"""MR intensity scaling by percentiles computed inside the non-zero (foreground) region.

MONAI 1.6's ``ScaleIntensityRangePercentiles`` takes the percentiles over the whole image, so for skull-stripped or
masked MR volumes the zero background (often most voxels) decides the lower percentile. This transform computes
them over the non-zero voxels only (per channel if ``channel_wise``) and then applies MONAI's
``ScaleIntensityRange``. For CT windowing and whole-image percentiles use MONAI's ``ScaleIntensityRanged`` /
``ScaleIntensityRangePercentilesd`` directly.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, ScaleIntensityRange, Transform
from monai.utils import convert_to_dst_type

__all__ = ["ScaleIntensityRangePercentilesNonzero", "ScaleIntensityRangePercentilesNonzerod"]


class ScaleIntensityRangePercentilesNonzero(Transform):
    """Map the ``lower``..``upper`` percentiles of the non-zero voxels to ``b_min``..``b_max``.

    Args:
        lower, upper: percentiles in [0, 100] (e.g. 0.5 and 99.5).
        b_min, b_max: target range.
        clip: clip the output to ``[b_min, b_max]``.
        nonzero: take the percentiles over voxels != 0 only; False gives MONAI's whole-image behaviour.
        channel_wise: percentiles per channel.

    Call:
        img: ``(C, *spatial)`` numpy, torch or MetaTensor. An image (channel) with no non-zero voxel is returned
        unscaled (there is nothing to measure).

    Returns:
        float32 of the input's type with its metadata.

    Example::

        >>> ScaleIntensityRangePercentilesNonzero(0.5, 99.5, 0.0, 1.0, clip=True)(mr)  # (1, H, W, D) -> [0, 1]
    """

    def __init__(
        self,
        lower: float = 0.5,
        upper: float = 99.5,
        b_min: float = 0.0,
        b_max: float = 1.0,
        clip: bool = True,
        nonzero: bool = True,
        channel_wise: bool = False,
    ) -> None:
        if not 0.0 <= lower < upper <= 100.0:
            raise ValueError(f"need 0 <= lower < upper <= 100, got {lower}, {upper}.")
        self.lower, self.upper = float(lower), float(upper)
        self.b_min, self.b_max = float(b_min), float(b_max)
        self.clip = clip
        self.nonzero = nonzero
        self.channel_wise = channel_wise

    def _scale(self, channel: torch.Tensor) -> torch.Tensor:
        values = channel[channel != 0] if self.nonzero else channel.reshape(-1)
        if values.numel() == 0:
            return channel
        a_min, a_max = np.percentile(values.cpu().numpy(), [self.lower, self.upper])
        scale = ScaleIntensityRange(float(a_min), float(a_max), self.b_min, self.b_max, clip=self.clip)
        scaled = torch.as_tensor(scale(channel), dtype=torch.float32)
        return scaled.as_tensor() if hasattr(scaled, "as_tensor") else scaled  # the caller restores the metadata

    def __call__(self, img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        data = torch.as_tensor(img)
        data = (data.as_tensor() if hasattr(data, "as_tensor") else data).to(torch.float32)
        out = torch.stack([self._scale(c) for c in data]) if self.channel_wise else self._scale(data)
        return convert_to_dst_type(out, dst=img, dtype=torch.float32 if torch.is_tensor(img) else np.float32)[0]


class ScaleIntensityRangePercentilesNonzerod(MapTransform):
    """Dictionary twin of :class:`ScaleIntensityRangePercentilesNonzero` (same arguments after ``keys``).

    Example (bundle config)::

        {_target_: monai_unet_bundle.transforms.ScaleIntensityRangePercentilesNonzerod, keys: image,
         lower: 0.5, upper: 99.5, b_min: 0.0, b_max: 1.0, clip: true}
    """

    def __init__(
        self,
        keys: KeysCollection,
        lower: float = 0.5,
        upper: float = 99.5,
        b_min: float = 0.0,
        b_max: float = 1.0,
        clip: bool = True,
        nonzero: bool = True,
        channel_wise: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.scaler = ScaleIntensityRangePercentilesNonzero(lower, upper, b_min, b_max, clip, nonzero, channel_wise)

    def __call__(self, data: Mapping[Hashable, np.ndarray | torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.scaler(d[key])
        return d
