"""Channels-last training: the network's weights and each batch in NHWC / NDHWC layout, where that is faster.

oneDNN's bf16 convolutions are fastest in channels-last layout; in fp32 on an AVX2-only CPU training gained
nothing (see ``configs/train.yaml``'s ``channels_last``). ``auto`` therefore follows the precision the bundle
trains in: on where the forward pass runs under CPU bf16 autocast
(:func:`~monai_unet_bundle.engines.autocast.autocast_dtype`), off elsewhere. The layout changes no value: outputs
equal the default layout's up to float rounding. Example::

    network: $monai_unet_bundle.engines.to_channels_last(@network_def.to(@device), @spatial_dims, @use_channels_last)
"""

from __future__ import annotations

import torch
from torch import nn

from .autocast import autocast_dtype

__all__ = ["channels_last_format", "channels_last_wanted", "to_channels_last"]


def channels_last_format(spatial_dims: int) -> torch.memory_format | None:
    """``channels_last`` for 2D, ``channels_last_3d`` for 3D, None for other dimensions."""
    return {2: torch.channels_last, 3: torch.channels_last_3d}.get(int(spatial_dims))


def channels_last_wanted(setting: bool | str, device: str | torch.device, amp: bool) -> bool:
    """The config's ``channels_last`` (``true`` / ``false`` / ``"auto"``) resolved: auto = with CPU bf16 autocast."""
    if isinstance(setting, str):  # from the command line (`--channels_last true` arrives as text)
        choices = {"auto": None, "true": True, "false": False}
        if setting.lower() not in choices:
            raise ValueError(f"channels_last must be true, false or 'auto', got {setting!r}.")
        if choices[setting.lower()] is not None:
            return choices[setting.lower()]
        return torch.device(device).type == "cpu" and autocast_dtype(device, amp) == torch.bfloat16
    return bool(setting)


def to_channels_last(network: nn.Module, spatial_dims: int, enabled: bool = True) -> nn.Module:
    """``network`` with its 4D / 5D weights in channels-last layout, in place (the same parameter objects, so an
    optimizer built before or after sees them); unchanged when not ``enabled`` or for 1D networks."""
    fmt = channels_last_format(spatial_dims)
    return network.to(memory_format=fmt) if enabled and fmt is not None else network
