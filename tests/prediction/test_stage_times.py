"""Seconds per stage of a prediction: each transform by name, the inferer's windows and stitching, one summary."""

from __future__ import annotations

import re
import time

import numpy as np
import torch
from monai.transforms import Lambdad, Orientationd, Spacing
from monai_unet_bundle.prediction import SegmentationInferer, StageTimes, TimedCompose
from monai_unet_bundle.prediction.stage_times import stage_name


class _Sleep:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __call__(self, data: dict) -> dict:
        time.sleep(self.seconds)
        return {**data, "steps": data.get("steps", 0) + 1}


def test_each_transform_is_a_stage_in_pipeline_order_and_the_result_is_composes():
    times = StageTimes()
    compose = TimedCompose([_Sleep(0.02), Lambdad("x", func=lambda v: v + 1)], times=times, count_volumes=True)
    for _ in range(2):
        assert compose({"x": 1}) == {"x": 2, "steps": 1}
    assert list(times.seconds) == ["_Sleep", "Lambdad(<lambda>)"] and times.volumes == 2
    assert times.seconds["_Sleep"] >= 0.04 and times.seconds["Lambdad(<lambda>)"] < times.seconds["_Sleep"]
    assert re.fullmatch(r"time per stage \(2 volume\(s\), [0-9.]+ s\): _Sleep [0-9.]+ s \(\d+%\), .*", times.summary())
    assert TimedCompose([_Sleep(0)])({"x": 0}) == {"x": 0, "steps": 1}  # without times: a plain Compose


def test_stage_names_say_what_the_transform_does():
    assert stage_name(Orientationd("image", axcodes="RAS")) == "Orientationd"
    assert stage_name(Lambdad("image", func=Spacing(pixdim=2.0))) == "Lambdad(Spacing)"
    assert StageTimes().summary() == ""


def test_the_inferer_splits_its_time_into_windows_and_stitching():
    torch.manual_seed(0)
    net = torch.nn.Conv3d(1, 2, 3, padding=1).eval()
    times = StageTimes()
    x = torch.rand(1, 1, 30, 28, 20)
    timed = SegmentationInferer((16, 16, 16), amp=False, times=times)(x, net)
    assert set(times.seconds) == {"windows", "stitching"} and all(s > 0 for s in times.seconds.values())
    assert torch.equal(timed, SegmentationInferer((16, 16, 16), amp=False)(x, net))  # timing changes nothing
    assert np.isfinite(list(times.seconds.values())).all()
