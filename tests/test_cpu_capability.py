"""The CPU's native bf16 unit: one answer for inference, training, benchmarks and result records."""

from __future__ import annotations

import os

import torch
from monai_unet_bundle.cpu_capability import bf16_kind, cpu_bf16_support, cpu_has_fast_bf16, cpu_line, cpu_model
from monai_unet_bundle.engines.autocast import autocast_dtype
from results.machine import machine_info, machine_summary


def test_amx_outranks_avx512_bf16_and_neither_means_none():
    assert bf16_kind(amx=True, avx512_bf16=True) == "AMX"
    assert bf16_kind(amx=False, avx512_bf16=True) == "AVX512-BF16"
    assert bf16_kind(amx=False, avx512_bf16=False) == "none"


def test_the_answer_is_torchs_cpuid_probe_and_every_user_follows_it():
    expected = bf16_kind(torch.cpu._is_amx_tile_supported(), torch.cpu._is_avx512_bf16_supported())
    assert cpu_bf16_support() == expected
    assert cpu_has_fast_bf16() == (expected != "none")
    assert autocast_dtype("cpu", amp=True) == (torch.bfloat16 if expected != "none" else None)
    assert autocast_dtype("cpu", amp=False) is None


def test_the_kernel_flags_agree_with_the_probe_where_the_kernel_reports_them():
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return
    if "avx512_bf16" not in flags and "amx_bf16" not in flags:  # the OS cannot run what the CPU does not report
        assert cpu_bf16_support() == "none"


def test_records_and_tables_name_the_cpu_with_its_bf16_unit():
    info = machine_info()
    assert info["cpu"] == cpu_model() and info["cpu_bf16"] == cpu_bf16_support()
    assert machine_summary(info) == cpu_line() + (f" + {info['gpu']}" if info["gpu"] else "")
    assert cpu_line() == f"{cpu_model()}, {os.cpu_count()} cores, bf16: {cpu_bf16_support()}"
    old = {"cpu": "Intel(R) Xeon(R) Processor", "cpu_count": 2, "gpu": None}  # a record from before the field
    assert machine_summary(old) == "Intel(R) Xeon(R) Processor, 2 cores, bf16: not recorded"
