"""Mixed precision for MONAI engines on any device: bf16 autocast on CPUs with native bf16, fp16 on CUDA.

MONAI's SupervisedTrainer / SupervisedEvaluator only autocast on CUDA (``amp=True`` enters
``torch.autocast("cuda")``), so on a CPU their ``amp`` flag does nothing. :class:`AutocastIteration` is passed as
the engine's ``iteration_update``: it runs the engine's own iteration inside ``torch.autocast("cpu", bfloat16)``.
On CUDA it is not used; the engine's own ``amp=True`` path (with its GradScaler for fp16) is kept. Example::

    trainer:
      _target_: SupervisedTrainer
      amp: $monai_unet_bundle.engines.autocast.native_amp(@device, @amp)
      iteration_update: $monai_unet_bundle.engines.autocast.cpu_autocast(@device, @amp)
"""

from __future__ import annotations

from typing import Any

import torch


def cpu_has_fast_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated and slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


class AutocastIteration:
    """An ``iteration_update`` callable that runs the engine's own ``_iteration`` under ``torch.autocast``.

    Args:
        device_type: "cpu" (the CUDA path is MONAI's own ``amp``).
        dtype: autocast dtype, bf16 by default (fp16 autocast on CPU is slow and loses range).
    """

    def __init__(self, device_type: str = "cpu", dtype: torch.dtype = torch.bfloat16) -> None:
        self.device_type = device_type
        self.dtype = dtype

    def __call__(self, engine: Any, batchdata: dict) -> dict:
        with torch.autocast(self.device_type, dtype=self.dtype):
            # MONAI engines define `_iteration(self, engine, batchdata)` with engine is self
            return engine._iteration(engine, batchdata)


def _device_type(device: str | torch.device) -> str:
    return torch.device(device).type


def native_amp(device: str | torch.device, amp: bool) -> bool:
    """The value for the engine's own ``amp`` flag: only on CUDA, where MONAI's autocast path applies."""
    return bool(amp) and _device_type(device) == "cuda"


def cpu_autocast(device: str | torch.device, amp: bool) -> AutocastIteration | None:
    """The engine's ``iteration_update``: bf16 autocast on a CPU with native bf16 when ``amp``; else None."""
    if amp and _device_type(device) == "cpu" and cpu_has_fast_bf16():
        return AutocastIteration("cpu", torch.bfloat16)
    return None
