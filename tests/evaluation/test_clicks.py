"""The simulated annotator: largest error region, its centre, Dice by clicks."""

from __future__ import annotations

import numpy as np
import pytest
from monai_unet_bundle.evaluation import class_dice, clicks_to_reach, foreground_dice, next_click, simulate_clicks


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
