"""benchmarks/bench_peak_share.py: the bundle's training step against the reference way (fp32, default layout)."""

from __future__ import annotations

import pytest
import torch
from benchmarks.bench_peak_share import bundle_speedup


def case(network: str, seconds: list[float]) -> dict:
    return {"network": network, "seconds": seconds}


def test_speedup_uses_bf16_channels_last_where_the_cpu_has_bf16() -> None:
    cases = {
        "u2net_lite2d_training_fp32": case("u2net_lite2d", [8.0, 7.0, 9.0]),
        "u2net_lite2d_training_bf16_cl": case("u2net_lite2d", [2.0, 3.0, 4.0]),
        "u2net_lite2d_training_fp32_cl": case("u2net_lite2d", [1.0]),  # not the bundle's choice under auto
        "u2net_lite2d_inference_fp32": case("u2net_lite2d", [0.1]),
    }
    speedup = bundle_speedup(cases, {"fp32": torch.float32, "bf16": torch.bfloat16})
    assert speedup["u2net_lite2d"]["ours"] == "bf16 + channels-last"
    assert speedup["u2net_lite2d"]["ratio"] == pytest.approx(8.0 / 3.0)


def test_without_bf16_the_bundle_runs_the_fp32_default_layout() -> None:
    cases = {"unet3d_training_fp32": case("unet3d", [5.0]), "unet3d_training_fp32_cl": case("unet3d", [4.0])}
    speedup = bundle_speedup(cases, {"fp32": torch.float32})
    assert speedup["unet3d"]["ours"] == "fp32"
    assert speedup["unet3d"]["ratio"] == pytest.approx(1.0)
