"""Mixed precision for MONAI engines on any device: bf16 autocast on CPUs with native bf16, fp16 on CUDA.

MONAI's engines autocast only on CUDA (``amp=True`` enters ``torch.autocast("cuda")``). :class:`AutocastInferer`, the
engine's ``inferer``, runs the forward pass under CPU bf16 autocast and hands float32 outputs to the loss; on CUDA
it leaves it to the engine's ``amp`` (and GradScaler). No private engine method is touched. Example::

    trainer:
      _target_: SupervisedTrainer
      amp: $monai_unet_bundle.engines.autocast.native_amp(@device, @amp)
      inferer: {_target_: monai_unet_bundle.engines.AutocastInferer, device: "@device", amp: "@amp"}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from monai.inferers import Inferer, SimpleInferer
from monai_unet_bundle.cpu_capability import cpu_has_fast_bf16

__all__ = ["AutocastInferer", "autocast_dtype", "cpu_has_fast_bf16", "native_amp"]


def autocast_dtype(device: str | torch.device, amp: bool = True) -> torch.dtype | None:
    """The autocast dtype on ``device``: fp16 on CUDA, bf16 on a CPU with native bf16, else None (also without amp)."""
    kind = torch.device(device).type
    if amp and kind == "cuda":
        return torch.float16
    return torch.bfloat16 if amp and kind == "cpu" and cpu_has_fast_bf16() else None


def native_amp(device: str | torch.device, amp: bool) -> bool:
    """The value for the engine's own ``amp`` flag: only on CUDA, where MONAI's autocast path applies."""
    return bool(amp) and torch.device(device).type == "cuda"


def _as_float(output: Any) -> Any:
    if isinstance(output, (list, tuple)):  # deep supervision: every output
        return type(output)(_as_float(o) for o in output)
    return output.float() if isinstance(output, torch.Tensor) and output.is_floating_point() else output


class AutocastInferer(Inferer):
    """``inferer(inputs, network)`` under CPU bf16 autocast when ``amp`` and the CPU has native bf16.

    Args:
        device: the engine's device; on anything but a CPU this inferer only forwards to ``inferer``.
        amp: the config's ``amp`` switch.
        inferer: the inferer run inside (default ``SimpleInferer``).
        dtype: autocast dtype (None: bf16 where the CPU has it natively, else no autocast).
        channels_last: hand 4D / 5D batches to the network in channels-last layout (the network's weights are
            converted by :func:`~monai_unet_bundle.engines.channels_last.to_channels_last`); on any device.

    Outputs come back as float32 (a list of them for deep supervision), so the loss runs in full precision.
    """

    def __init__(
        self,
        device: str | torch.device = "cpu",
        amp: bool = True,
        inferer: Inferer | None = None,
        dtype: torch.dtype | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.inferer = inferer or SimpleInferer()
        self.channels_last = bool(channels_last)
        on_cpu = bool(amp) and torch.device(device).type == "cpu"
        self.dtype = (dtype or autocast_dtype(device, amp)) if on_cpu else None

    def __call__(self, inputs: torch.Tensor, network: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.channels_last and inputs.dim() in (4, 5):
            layout = torch.channels_last if inputs.dim() == 4 else torch.channels_last_3d
            inputs = inputs.contiguous(memory_format=layout)
        if self.dtype is None:
            return self.inferer(inputs, network, *args, **kwargs)
        with torch.autocast("cpu", dtype=self.dtype):
            return _as_float(self.inferer(inputs, network, *args, **kwargs))
