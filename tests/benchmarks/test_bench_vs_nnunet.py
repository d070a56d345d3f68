"""The nnU-Net comparison's own logic without nnunetv2: plan summaries, scoring in the input geometry, result lines.

The benchmark itself (an hour of training) is not part of the tests; its conversion is in test_nnunet_raw.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from benchmarks.__main__ import LINE
from benchmarks.bench_vs_nnunet import (
    held_out_dice,
    line_names,
    nnunet_plan_summary,
    our_plan_summary,
    plans_side_by_side,
    result_lines,
)
from tests.conftest import write_nifti

#: the 3d_fullres part of the nnUNetPlans.json nnU-Net 2.8.1 wrote for brain3d (trimmed to the keys used)
NNUNET_BRAIN3D = {
    "configurations": {
        "3d_fullres": {
            "batch_size": 2,
            "patch_size": [80, 96, 40],
            "spacing": [2.0, 2.0, 2.0],
            "normalization_schemes": ["ZScoreNormalization"],
            "use_mask_for_norm": [True],
            "architecture": {
                "network_class_name": "dynamic_network_architectures.architectures.unet.PlainConvUNet",
                "arch_kwargs": {
                    "n_stages": 5,
                    "features_per_stage": [32, 64, 128, 256, 320],
                    "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 1]],
                    "norm_op": "torch.nn.modules.instancenorm.InstanceNorm3d",
                },
            },
        }
    }
}

OUR_PLAN = {
    "spatial_dims": 3,
    "pixdim": [2.0, 2.0, 2.0],
    "roi_size": [16, 48, 40],
    "num_samples": 2,
    "max_epochs": 26,
    "epoch_length": 5,
    "scale_intensity": {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True},
    "network_def": {"features": [16, 32, 64, 128], "norm": "batch", "pool_sizes": [[2, 2, 2], [2, 2, 2], [1, 2, 2]]},
}


def test_both_plans_are_summarised_with_the_same_keys():
    theirs = nnunet_plan_summary(NNUNET_BRAIN3D)
    assert theirs["spacing_mm"] == [2.0, 2.0, 2.0] and theirs["patch"] == [80, 96, 40] and theirs["batch"] == 2
    assert theirs["network"] == "PlainConvUNet 5 stages, features [32, 64, 128, 256, 320]"
    assert theirs["pooling"] == [[2, 2, 2], [2, 2, 2], [2, 2, 2], [2, 2, 1]]
    assert theirs["norm"] == "InstanceNorm3d" and theirs["normalisation"] == "ZScore (mask)"
    ours = our_plan_summary(OUR_PLAN)
    assert list(ours) == list(theirs)
    assert ours["normalisation"] == "z-score over nonzero voxels" and ours["pooling"][-1] == [1, 2, 2]
    table = plans_side_by_side(ours, theirs).splitlines()
    assert len(table) == 1 + len(ours) and "[80, 96, 40]" in table[2] and "[16, 48, 40]" in table[2]


def test_a_ct_plan_names_its_clip_range():
    plan = dict(OUR_PLAN, scale_intensity={"_target_": "ScaleIntensityRanged", "a_min": -114.0, "a_max": 1531.0})
    assert our_plan_summary(plan)["normalisation"].startswith("CT: clip [-114, 1531] HU")


def test_held_out_dice_per_class_in_the_input_geometry(tmp_path):
    label = np.zeros((6, 6, 4), np.uint8)
    label[:3] = 1
    label[3:] = 2
    prediction = label.copy()
    prediction[0] = 2  # 24 of the 72 class-1 voxels called class 2
    affine = np.diag([0.9, 0.9, 1.5, 1.0])
    label_path = write_nifti(tmp_path / "label.nii.gz", label, affine)
    pred_path = write_nifti(tmp_path / "pred.nii.gz", prediction, affine)
    dice = held_out_dice(pred_path, label_path, ["soft_tissue", "bone"])
    assert dice["soft_tissue"] == pytest.approx(2 * 48 / (48 + 72))
    assert dice["bone"] == pytest.approx(2 * 72 / (96 + 72))
    wrong_grid = write_nifti(tmp_path / "small.nii.gz", prediction[:5], affine)
    with pytest.raises(ValueError, match="small.nii.gz has shape"):
        held_out_dice(wrong_grid, label_path, ["soft_tissue", "bone"])


def test_result_lines_are_what_the_benchmark_runner_collects():
    side = {"dice": {"csf": 0.5, "gm": 0.8}, "mean_dice": 0.65, "train_seconds": 400.0, "train_cpu_seconds": 200.0}
    other = {"dice": {"csf": 0.25, "gm": 0.4}, "mean_dice": 0.325, "train_seconds": 420.0, "train_cpu_seconds": 190.0}
    lines = result_lines("brain3d", {"ours": side, "nnunet": other})
    matches = [LINE.match(line) for line in lines]
    assert all(matches)
    assert [m["name"] for m in matches] == [f"vs_nnunet_brain3d_{name}" for name in line_names(["csf", "gm"])]
    assert matches[0]["ratio"] == "2.00" and matches[2]["ours"] == "0.650"
