"""benchmarks/bench_inference.py: a trained model is used only when it is the benchmark's UNet."""

from __future__ import annotations

import torch
from benchmarks.bench_inference import fits, make_network
from monai_unet_bundle.networks import UNet


def test_only_a_state_dict_of_the_benchmarks_unet_fits(tmp_path):
    same, planned = tmp_path / "same.pt", tmp_path / "planned.pt"
    torch.save(make_network(None).state_dict(), same)
    # a planned network (make demo): other widths, so other parameter shapes
    torch.save(UNet(3, 1, 4, features=(16, 32, 64, 128, 256), padding="same", norm="batch").state_dict(), planned)
    assert fits(same)
    assert not fits(planned)
