"""Timing probe: seconds per training step of a network on this machine, measured with a few real steps.

The steps are the bundle's: forward under the bundle's mixed precision (bf16 autocast on CPUs with native bf16,
fp16 autocast on CUDA) and memory layout (channels-last where train.yaml's ``channels_last: auto`` puts it: with CPU
bf16 autocast), DiceCE loss (summed over deep-supervision outputs), backward, AdamW step. A probe in the default
layout timed a planned brain3d step at 1.50 s where training ran it in 0.72 s (Intel Xeon with AMX, 2026-12-05), and
the run ended after 3.2 of its 7 minutes. The input is random (the arithmetic does not depend on the values); its
shape is the training batch ``(num_samples, C, *patch)``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import torch
from monai.losses import DiceCELoss
from torch import nn

from ..cpu_capability import cpu_has_fast_bf16
from ..engines.channels_last import channels_last_format, channels_last_wanted

__all__ = ["seconds_per_step"]


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    if amp and device.type == "cpu" and cpu_has_fast_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seconds_per_step(
    network: nn.Module,
    patch: Sequence[int],
    num_samples: int,
    in_channels: int = 1,
    device: str | torch.device = "cpu",
    amp: bool = True,
    steps: int = 3,
    warmup: int = 1,
    channels_last: bool | str = "auto",
) -> float:
    """Median wall-clock seconds of one training step on a batch ``(num_samples, in_channels, *patch)``.

    The network is trained in place on random data; pass a fresh one. ``warmup`` steps are not timed (the first
    step allocates memory and picks kernels). ``channels_last``: as train.yaml's setting (``"auto"``: with CPU bf16).
    """
    device = torch.device(device)
    network = network.to(device).train()
    layout = channels_last_format(len(patch)) if channels_last_wanted(channels_last, device, amp) else None
    if layout is not None:
        network = network.to(memory_format=layout)
    out_channels = int(getattr(network, "out_channels", 2))
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    optimizer = torch.optim.AdamW(network.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    image = torch.rand((num_samples, in_channels, *patch), generator=generator).to(device)
    label = torch.randint(0, out_channels, (num_samples, 1, *patch), generator=generator).to(device)
    if layout is not None:
        image = image.contiguous(memory_format=layout)
    times = []
    for step in range(warmup + steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, amp):
            output = network(image)
            outputs = output if isinstance(output, (list, tuple)) else [output]
            loss = sum(loss_fn(o.float(), _resized(label, o.shape[2:])) for o in outputs)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return float(sorted(times)[len(times) // 2])


def _resized(label: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    if tuple(label.shape[2:]) == tuple(shape):
        return label
    return nn.functional.interpolate(label.float(), size=tuple(shape), mode="nearest").long()
