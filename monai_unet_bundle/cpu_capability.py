"""What this CPU can do in bf16, and the one line that names it beside every published figure.

bf16 autocast is only worth it where the CPU multiplies bf16 in hardware: AMX (Intel Sapphire Rapids and later)
or AVX512-BF16 (Intel Cooper Lake, AMD Zen 4 and later). Elsewhere oneDNN emulates bf16 and it is many times slower
than fp32 (a 2048^2 matmul: 0.1 vs 20-29 GFLOP/s on an AVX2-only AMD EPYC, 2026-12-03). The check is the one
oneDNN dispatches on: torch's CPUID probes (which also require the OS to enable the registers), with the kernel's
``/proc/cpuinfo`` flags as the fallback for a torch without them. Every user asks here: inference
(:class:`~monai_unet_bundle.prediction.SegmentationInferer`), training autocast
(:class:`~monai_unet_bundle.engines.AutocastInferer`), the planner's timing probe, the benchmarks and the result
records (``results/machine.py``).
"""

from __future__ import annotations

import functools
import os
import platform

import torch

__all__ = ["bf16_kind", "cpu_bf16_support", "cpu_has_fast_bf16", "cpu_line", "cpu_model", "describe_cpu"]

AMX = "AMX"
AVX512_BF16 = "AVX512-BF16"
NO_BF16 = "none"


def _cpuinfo_lines() -> list[str]:
    try:
        with open("/proc/cpuinfo") as handle:
            return handle.readlines()
    except OSError:
        return []


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    for line in _cpuinfo_lines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def bf16_kind(amx: bool, avx512_bf16: bool) -> str:
    """``"AMX"``, ``"AVX512-BF16"`` or ``"none"``: the fastest native bf16 unit of a CPU with these features."""
    return AMX if amx else AVX512_BF16 if avx512_bf16 else NO_BF16


def _cpuinfo_flags() -> set[str]:
    for line in _cpuinfo_lines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


@functools.lru_cache(maxsize=1)
def cpu_bf16_support() -> str:
    """This CPU's native bf16: ``"AMX"``, ``"AVX512-BF16"`` or ``"none"`` (then bf16 is emulated, and slow)."""
    amx = getattr(torch.cpu, "_is_amx_tile_supported", None)
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", None)
    if amx is not None and avx512_bf16 is not None:
        return bf16_kind(bool(amx()), bool(avx512_bf16()))
    flags = _cpuinfo_flags()
    return bf16_kind("amx_bf16" in flags, "avx512_bf16" in flags)


def cpu_has_fast_bf16() -> bool:
    """True when this CPU computes bf16 natively (AMX or AVX512-BF16); elsewhere bf16 is emulated and slower."""
    return cpu_bf16_support() != NO_BF16


def describe_cpu(model: str, cores: int | None, bf16: str) -> str:
    """``"<model name>, <n> cores, bf16: AMX | AVX512-BF16 | none"``: how every figure names its CPU."""
    return f"{model}, {cores} cores, bf16: {bf16}"


def cpu_line() -> str:
    """:func:`describe_cpu` of this machine."""
    return describe_cpu(cpu_model(), os.cpu_count(), cpu_bf16_support())
