"""Plans from real fingerprints of small on-disk datasets; the step timer is a fixed voxels-per-second rate here
(the real probe runs in test_cli.py), so the choices are deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from monai_unet_bundle.planning import PlanningError, fingerprint_dataset, make_plan, pool_plan
from monai_unet_bundle.planning.fingerprint import median_axis_values
from tests.planning.conftest import write_msd


def rate_timer(voxels_per_second: float, calls: list | None = None):
    """Seconds per step = batch voxels / rate (a machine of known speed)."""

    def timer(kwargs, patch, num_samples):
        if calls is not None:
            calls.append((kwargs, list(patch), num_samples))
        return num_samples * float(np.prod(patch)) / voxels_per_second

    return timer


def test_pool_plan_pools_in_plane_first_for_thick_slices():
    assert pool_plan([256, 256, 24], [0.5, 0.5, 5.0], 5) == [[2, 2, 1]] * 3 + [[2, 2, 2]] * 2
    assert pool_plan([64, 64, 64], [1.0, 1.0, 1.0], 5) == [[2, 2, 2]] * 4  # stops at 4 voxels per axis
    assert pool_plan([128, 96], [1.0, 1.0], 6) == [[2, 2]] * 4 + [[2, 1]]


def test_anisotropic_dataset_plan(tmp_path):
    # 0.5 x 0.5 x 5 mm with a 4 mm case: the coarse axis is > 3x the finest, so it takes its 10th percentile
    root = write_msd(
        tmp_path / "aniso", [(0.5, 0.5, 5.0), (0.5, 0.5, 4.0), (0.5, 0.5, 5.0), (0.5, 0.5, 5.0)], (160, 144, 16)
    )
    fp = fingerprint_dataset(root, progress=False)
    calls = []
    plan = make_plan(fp, rate_timer(2e6, calls), "cpu", memory_gb=8, time_budget_min=10)
    assert plan.spatial_dims == 3
    assert plan.pixdim[:2] == [0.5, 0.5]
    assert plan.pixdim[2] == pytest.approx(np.percentile([5.0, 4.0, 5.0], 10))  # 4.2, not the median 5
    assert "10th percentile" in plan.reasons["pixdim"]
    assert plan.pool_sizes[0] == [2, 2, 1]  # in-plane only first
    factors = np.prod(np.asarray(plan.pool_sizes), axis=0)
    assert all(r % f == 0 for r, f in zip(plan.roi_size, factors))
    assert len(plan.features) == len(plan.pool_sizes) + 1 and plan.features[0] == 16
    assert plan.roi_size[2] < plan.roi_size[0]  # few thick slices, many in-plane voxels
    net = plan.overrides()["network_def"]
    assert net["pool_sizes"] == plan.pool_sizes and net["features"] == plan.features
    # the second probe times the planned network at the planned patch
    assert calls[-1][1] == plan.roi_size and calls[-1][0]["pool_sizes"] == plan.pool_sizes
    assert plan.max_epochs * plan.epoch_length >= 300


def test_one_slice_dataset_plans_a_2d_network(tmp_path):
    root = write_msd(tmp_path / "slices", [(0.8, 0.8)] * 3, (200, 160), modality="fluorescence microscopy")
    fp = fingerprint_dataset(root, progress=False)
    plan = make_plan(fp, rate_timer(5e6), "cpu", memory_gb=8, time_budget_min=10)
    assert plan.spatial_dims == 2 and len(plan.roi_size) == 2 and len(plan.pixdim) == 2
    assert all(len(p) == 2 for p in plan.pool_sizes)
    assert plan.scale_intensity == {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True}
    assert plan.roi_size == [224, 160]  # the whole median slice, rounded up to its 5 poolings (32): it is cheap
    assert plan.num_samples == 4


def test_ct_scaling_is_one_linear_map_of_the_foreground_statistics(tmp_path):
    root = write_msd(tmp_path / "ct", [(1.0, 1.0, 1.0)] * 3, (32, 32, 32), modality="CT")
    fp = fingerprint_dataset(root, progress=False)
    plan = make_plan(fp, rate_timer(2e6), "cpu", memory_gb=8, time_budget_min=10)
    scale, stats = plan.scale_intensity, fp.foreground_intensity
    assert scale["_target_"] == "ScaleIntensityRanged" and scale["clip"] is True
    assert scale["a_min"] == pytest.approx(stats["percentile_00_5"], abs=1e-3)
    assert scale["b_min"] == pytest.approx((stats["percentile_00_5"] - stats["mean"]) / stats["std"], abs=1e-5)
    assert scale["b_max"] == pytest.approx((stats["percentile_99_5"] - stats["mean"]) / stats["std"], abs=1e-5)


def test_a_slow_machine_gets_a_smaller_patch_and_fewer_steps(tmp_path):
    root = write_msd(tmp_path / "iso", [(1.0, 1.0, 1.0)] * 3, (96, 96, 96))
    fp = fingerprint_dataset(root, progress=False)
    fast = make_plan(fp, rate_timer(5e7), "cpu", memory_gb=64, time_budget_min=10)
    slow = make_plan(fp, rate_timer(2e5), "cpu", memory_gb=64, time_budget_min=10)
    assert np.prod(slow.roi_size) < np.prod(fast.roi_size)
    assert np.prod(slow.roi_size) >= 32**3  # not below the smallest useful patch
    small_memory = make_plan(fp, rate_timer(5e7), "cpu", memory_gb=0.05, time_budget_min=10)
    assert np.prod(small_memory.roi_size) < np.prod(fast.roi_size) and "memory" in small_memory.reasons["roi_size"]
    with pytest.raises(PlanningError, match="network must be one of"):
        make_plan(fp, rate_timer(5e7), "cpu", network="resnet")


def test_u2net_patch_is_a_multiple_of_32(tmp_path):
    root = write_msd(tmp_path / "u2", [(1.0, 1.0, 1.0)] * 3, (40, 40, 40))
    fp = fingerprint_dataset(root, progress=False)
    plan = make_plan(fp, rate_timer(5e6), "cpu", memory_gb=8, time_budget_min=10, network="u2net_lite")
    assert all(r % 32 == 0 for r in plan.roi_size)
    overrides = plan.overrides()
    assert overrides["network_def"]["variant"] == "lite" and overrides["loss"]["_target_"] == "DeepSupervisionLoss"


def test_a_fast_machine_still_gets_a_3d_patch_of_at_most_a_quarter_of_the_region(tmp_path):
    # a fast machine and plenty of memory would allow the whole region; the cap leaves class-balanced centres a choice
    root = write_msd(tmp_path / "fast", [(1.0, 1.0, 1.0)] * 3, (64, 96, 96))
    fp = fingerprint_dataset(root, progress=False)
    plan = make_plan(fp, rate_timer(1e9), "cpu", memory_gb=64, time_budget_min=10)
    region = float(np.prod(median_axis_values(np.asarray(fp.cropped_shapes, dtype=float))))
    assert float(np.prod(plan.roi_size)) <= 0.25 * region
    assert "capped at 25% of the region" in plan.reasons["roi_size"]
