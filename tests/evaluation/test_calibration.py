"""ECE, NLL and the temperature fit on inputs whose answers can be worked out by hand."""

import math

import pytest
import torch
from monai_unet_bundle.evaluation import (
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    softmax_with_temperature,
)


def four_voxels():
    # confidences 0.9 (right), 0.9 (wrong), 0.7 (right), 0.65 (right): bins 13, 13, 10, 9 of 15
    probabilities = torch.tensor([[0.9, 0.1], [0.9, 0.1], [0.3, 0.7], [0.65, 0.35]])
    labels = torch.tensor([0, 1, 1, 0])
    return probabilities, labels


def test_ece_by_hand():
    probabilities, labels = four_voxels()
    # bin 13: 2 voxels, accuracy 0.5, confidence 0.9 -> 2 * 0.4; bin 10: |1 - 0.7|; bin 9: |1 - 0.65|; over 4 voxels
    expected = (2 * 0.4 + 0.3 + 0.35) / 4
    assert expected_calibration_error(probabilities, labels, n_bins=15) == pytest.approx(expected)


def test_ece_of_a_mask_counts_only_its_voxels():
    probabilities, labels = four_voxels()
    mask = torch.tensor([True, True, False, False])
    assert expected_calibration_error(probabilities, labels, mask=mask) == pytest.approx(0.4)
    assert expected_calibration_error(probabilities, labels, mask=torch.zeros(4, dtype=torch.bool)) == 0.0


def test_ece_is_zero_when_confidence_matches_accuracy():
    # ten voxels at confidence 0.8, eight of them right
    probabilities = torch.tensor([[0.8, 0.2]] * 10, dtype=torch.float64)
    labels = torch.tensor([0] * 8 + [1] * 2)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0, abs=1e-12)


def test_ece_one_bin_is_the_gap_of_the_means():
    probabilities, labels = four_voxels()
    mean_confidence = (0.9 + 0.9 + 0.7 + 0.65) / 4
    accuracy = 3 / 4
    assert expected_calibration_error(probabilities, labels, n_bins=1) == pytest.approx(abs(accuracy - mean_confidence))


def test_nll_by_hand_and_its_temperature():
    logits = torch.tensor([[math.log(3.0), 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 1])
    assert negative_log_likelihood(logits, labels) == pytest.approx((-math.log(0.75) + math.log(2.0)) / 2)
    # T = 2 halves the logits: p = sqrt(3) / (sqrt(3) + 1)
    p = math.sqrt(3.0) / (math.sqrt(3.0) + 1.0)
    assert negative_log_likelihood(logits, labels, 2.0) == pytest.approx((-math.log(p) + math.log(2.0)) / 2)


def test_fitted_temperature_by_hand():
    # the same logits [2 log 3, 0] on four voxels, three of class 0: the NLL is least where sigmoid(2 log 3 / T) =
    # 3 / 4, i.e. T = 2
    logits = torch.tensor([[2 * math.log(3.0), 0.0]] * 4)
    labels = torch.tensor([0, 0, 0, 1])
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=1e-3)


def test_fit_recovers_an_overconfident_network_and_lowers_ece():
    generator = torch.Generator().manual_seed(0)
    true_logits = torch.randn(50_000, 4, generator=generator) * 2.0
    labels = torch.multinomial(torch.softmax(true_logits, dim=1), 1, generator=generator)[:, 0]
    overconfident = true_logits * 3.0
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, rel=0.05)
    before = calibration_summary(overconfident, labels)
    after = calibration_summary(overconfident, labels, temperature)
    assert after["nll"] < before["nll"]
    assert after["ece_all"] < 0.02 < before["ece_all"]
    # the argmax, and so the segmentation, does not move
    assert torch.equal(softmax_with_temperature(overconfident, temperature).argmax(1), overconfident.argmax(1))


def test_fit_stays_in_its_bounds():
    # always right and already certain: the NLL keeps falling as T shrinks, the fit stops at the lower bound
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
    assert fit_temperature(logits, torch.tensor([0, 1]), bounds=(0.1, 10.0)) == pytest.approx(0.1, rel=1e-3)


def test_summary_foreground_is_label_or_prediction():
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [0.0, 4.0]])  # predicts 0, 1, 1
    labels = torch.tensor([0, 0, 1])
    summary = calibration_summary(logits, labels)
    assert summary["foreground_voxels"] == 2
    confidence = 1 / (1 + math.exp(-4.0))
    assert summary["ece_all"] == pytest.approx(abs(2 / 3 - confidence))
    assert summary["ece_foreground"] == pytest.approx(abs(1 / 2 - confidence))


def test_bad_shapes_and_temperatures_are_refused():
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        negative_log_likelihood(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="> 0"):
        softmax_with_temperature(torch.zeros(3, 2), 0.0)
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), bounds=(2.0, 1.0))
