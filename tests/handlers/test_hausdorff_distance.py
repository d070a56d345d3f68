"""PhysicalHausdorffDistance: distances in the units of the prediction's affine, as MONAI computes with spacing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.metrics import compute_hausdorff_distance
from monai_unet_bundle.handlers import PhysicalHausdorffDistance


def _one_hot_cubes(shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    pred, label = torch.zeros(2, 12, 12, 12), torch.zeros(2, 12, 12, 12)
    label[1, 3:7, 3:7, 3:7] = 1
    pred[1, 3 + shift : 7 + shift, 3:7, 3:7] = 1
    return torch.stack([1 - pred[1], pred[1]]), torch.stack([1 - label[1], label[1]])


def test_distance_follows_each_cases_spacing():
    spacing = (2.0, 1.0, 0.5)
    affine = torch.from_numpy(np.diag([*spacing, 1.0]))
    handler = PhysicalHausdorffDistance(percentile=95, reduction="mean_batch", save_details=False)
    pred, label = _one_hot_cubes(shift=2)
    handler.update(([MetaTensor(pred, affine=affine)], [MetaTensor(label, affine=affine)]))
    value = float(handler.compute())
    expected = compute_hausdorff_distance(pred[None], label[None], percentile=95, spacing=list(spacing))
    assert value == pytest.approx(expected.item())
    assert value == pytest.approx(4.0), "a 2-voxel shift along a 2 mm axis is 4 mm"


def test_plain_tensors_use_the_given_spacing():
    pred, label = _one_hot_cubes(shift=2)
    voxels = PhysicalHausdorffDistance(percentile=95, save_details=False)
    voxels.update(([pred], [label]))
    scaled = PhysicalHausdorffDistance(percentile=95, spacing=3.0, save_details=False)
    scaled.update(([pred], [label]))
    assert float(voxels.compute()) == pytest.approx(2.0) and float(scaled.compute()) == pytest.approx(6.0)
