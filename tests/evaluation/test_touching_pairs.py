import numpy as np
import torch
from monai_unet_bundle.evaluation import TouchingPairsSeparated, count_separated_pairs


def three_nuclei():
    """Objects 1 | 2 touch, 2 | 3 touch (side by side), 1 and 3 do not."""
    inst = np.zeros((10, 20), np.int64)
    inst[2:8, 1:6] = 1
    inst[2:8, 6:12] = 2
    inst[2:8, 12:18] = 3
    return inst


def test_merged_prediction_separates_nothing():
    inst = three_nuclei()
    assert count_separated_pairs(inst > 0, inst) == (0, 2)


def test_gap_separates_one_pair_and_a_one_pixel_bridge_merges_it_again():
    inst = three_nuclei()
    pred = inst > 0
    pred[:, 6] = False  # background ridge between 1 and 2
    assert count_separated_pairs(pred, inst) == (1, 2)
    pred[3, 6] = True  # reconnect through one pixel that touches both sides
    assert count_separated_pairs(pred, inst) == (0, 2)
    pred[3, 6] = False
    pred[:, 12] = False
    assert count_separated_pairs(pred, inst) == (2, 2)
    pred[:, 13:] = False  # object 3 missed: its pair does not count as separated
    assert count_separated_pairs(pred, inst) == (1, 2)


def test_metric_accumulates_over_batches():
    inst = torch.as_tensor(three_nuclei())[None, None]
    merged = torch.nn.functional.one_hot((inst[:, 0] > 0).long(), 2).movedim(-1, 1).float()
    split = merged.clone()
    split[:, 1, :, 6] = 0
    split[:, 0, :, 6] = 1
    metric = TouchingPairsSeparated()
    metric(merged, inst)
    metric(split, inst)
    assert metric.aggregate().item() == 1.0 and metric.total_pairs == 4
    fraction = TouchingPairsSeparated(fraction=True)
    fraction(split, inst)
    assert fraction.aggregate().item() == 0.5
