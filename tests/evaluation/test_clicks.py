"""The simulated annotator: largest error region, its centre, Dice by clicks."""

from __future__ import annotations

import numpy as np
import pytest
from monai_unet_bundle.evaluation import (
    class_dice,
    click_changes,
    clicks_to_reach,
    foreground_dice,
    next_click,
    region_oracle,
    simulate_clicks,
)


def test_the_click_goes_to_the_centre_of_the_largest_missed_region():
    label = np.zeros((20, 20), dtype=int)
    label[2:5, 2:5] = 1  # 9 pixels missed
    label[8:17, 6:15] = 1  # 81 pixels missed: the click goes here, at its centre
    pred = np.zeros_like(label)
    assert next_click(label, pred, 2) == (1, [12, 10])
    # a false positive is missed background: clicked as background
    pred = label.copy()
    pred[0:6, 15:20] = 1
    cls, point = next_click(label, pred, 2)
    assert cls == 0 and 0 <= point[0] < 6 and 15 <= point[1] < 20
    assert next_click(label, label, 2) is None


def test_foreground_dice_averages_the_classes():
    label = np.array([[0, 1, 1, 2]])
    assert foreground_dice(label, label, 3) == 1.0
    assert foreground_dice(label, np.array([[0, 1, 0, 2]]), 3) == pytest.approx((2 / 3 + 1) / 2)
    assert foreground_dice(np.zeros((2, 2), int), np.zeros((2, 2), int), 2) == 1.0
    assert class_dice(label, np.array([[0, 1, 0, 2]]), 3) == pytest.approx([2 / 3, 1.0])


def test_a_predictor_that_follows_the_clicks_reaches_the_target():
    """Each click of class c paints the missed region around it: the Dice climbs to 1 in as many clicks as regions."""
    label = np.zeros((16, 16, 8), dtype=int)
    label[1:5, 1:5, 1:5] = 1
    label[8:14, 8:14, 2:7] = 2
    from scipy import ndimage

    def predict(clicks):
        pred = np.zeros_like(label)
        for name, points in clicks.items():
            c = {"background": 0, "a": 1, "b": 2}[name]
            for p in points:
                regions, _ = ndimage.label(label == c)
                pred[regions == regions[tuple(p)]] = c
        return pred

    curve, clicks = simulate_clicks(predict, label, {"background": 0, "a": 1, "b": 2}, max_clicks=4)
    assert curve[0] == 0.0 and curve[2] == 1.0 and len(curve) == 5
    assert clicks["b"] and clicks["a"] and not clicks["background"]
    assert clicks_to_reach(curve, 0.9) == 2 and clicks_to_reach([0.1, 0.5], 0.9) is None


def test_a_thin_region_is_clicked_at_its_middle_not_its_first_voxel():
    """A sheet one voxel deep: every voxel is equally deep; the click goes to its middle, not its low-index end."""
    label = np.zeros((12, 30, 30), dtype=int)
    label[0, 4:27, 6:25] = 1  # on the image border, as a hemisphere's cut plane is
    cls, point = next_click(label, np.zeros_like(label), 2)
    assert cls == 1 and point == [0, 15, 15]


def test_a_user_never_clicks_the_same_voxel_twice():
    """A predictor that ignores clicks: the region stays missed; each click lands on a new voxel of it, and once the
    region holds nothing but clicks the next largest region is clicked."""
    label = np.zeros((9, 9), dtype=int)
    label[1:4, 1:4] = 1  # 9 pixels
    label[6:8, 6:8] = 1  # 4 pixels
    pred = np.zeros_like(label)
    curve, clicks = simulate_clicks(lambda clicks: pred, label, {"background": 0, "a": 1}, max_clicks=11)
    points = [tuple(p) for p in clicks["a"]]
    assert len(points) == 11 == len(set(points))
    assert points[0] == (2, 2)  # the centre first
    assert all(1 <= i < 4 and 1 <= j < 4 for i, j in points[:9]) and all(6 <= i < 8 for i, _ in points[9:])
    assert curve == [0.0] * 12
    # every missed voxel clicked: nothing left to click
    assert next_click(label, pred, 2, [tuple(p) for p in np.argwhere(label == 1)]) is None


def test_the_region_oracle_fixes_one_whole_missed_region_per_click():
    label = np.zeros((20, 20), dtype=int)
    label[1:4, 1:9] = 1  # 24 pixels, a thin band
    label[10:12, 2:6] = 1  # 8 pixels
    label[15:17, 15:17] = 2  # 4 pixels
    pred = np.zeros_like(label)
    fixed: list[int] = []
    curve = region_oracle(label, pred, 3, max_clicks=4, fixed=fixed)
    assert fixed == [24, 8, 4], "each click fixes its whole region; the fourth finds nothing left"
    assert len(curve) == 5 and curve[0] == 0.0
    # largest first: class 1 all found after two clicks (Dice 1), class 2 after the third
    assert curve[1] == pytest.approx((2 * 24 / (32 + 24) + 0) / 2)
    assert curve[2] == pytest.approx(0.5) and curve[3] == curve[4] == 1.0
    assert (pred == 0).all(), "the starting prediction is not modified"


def test_click_changes_counts_fixed_and_broken_voxels_not_wrong_to_wrong():
    label = np.array([[0, 1, 1], [2, 2, 0]])
    before = np.array([[0, 0, 1], [1, 2, 0]])  # (0, 1) and (1, 0) wrong
    after = np.array([[1, 1, 1], [0, 2, 0]])  # (0, 1) fixed, (0, 0) broken, (1, 0) wrong to another wrong class
    assert click_changes(label, before, after) == (1, 1)
    assert click_changes(label, before, before) == (0, 0)
    assert click_changes(label, before, label) == (2, 0)
