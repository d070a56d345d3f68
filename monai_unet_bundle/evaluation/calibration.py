"""How far predicted probabilities can be trusted: expected calibration error, NLL and a fitted softmax temperature.

All functions take voxels as rows: ``logits`` / ``probabilities`` ``(N, C)`` and integer ``labels`` ``(N,)``.

- :func:`expected_calibration_error`: the voxel-weighted gap between confidence (the maximum probability) and
  accuracy (argmax == label) over ``n_bins`` equal-width confidence bins ``(k/n, (k+1)/n]`` (confidence 0 joins the
  first), Guo et al. 2017;
- :func:`negative_log_likelihood`: the mean of ``-log softmax(logits / T)[label]``;
- :func:`fit_temperature`: the one ``T`` minimising that NLL (golden-section search on ``log T`` within bounds; the
  NLL is convex in ``1 / T``, so the search finds its minimum). ``T > 1`` softens an overconfident network; the
  argmax of ``softmax(logits / T)`` is that of ``logits`` for every ``T > 0``;
- :func:`calibration_summary`: NLL and ECE over all voxels and over the foreground-or-predicted-foreground voxels.

Example::

    >>> t = fit_temperature(logits, labels)           # logits (N, 4), labels (N,)
    >>> calibration_summary(logits, labels, t)["ece_all"]
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "calibration_summary",
    "expected_calibration_error",
    "fit_temperature",
    "negative_log_likelihood",
    "softmax_with_temperature",
]


def _check(scores: torch.Tensor, labels: torch.Tensor) -> None:
    if scores.dim() != 2 or labels.dim() != 1 or scores.shape[0] != labels.shape[0]:
        raise ValueError(f"expected scores (N, C) and labels (N,), got {tuple(scores.shape)} and {tuple(labels.shape)}")
    if scores.shape[1] < 2:
        raise ValueError(f"calibration needs at least 2 classes (softmax), got {scores.shape[1]}")


def softmax_with_temperature(logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """``softmax(logits / temperature)`` over the class axis (1) of ``(N, C)`` logits, in float64."""
    if not temperature > 0:
        raise ValueError(f"the temperature must be > 0, got {temperature}")
    return torch.softmax(logits.double() / temperature, dim=1)


def expected_calibration_error(
    probabilities: torch.Tensor, labels: torch.Tensor, n_bins: int = 15, mask: torch.Tensor | None = None
) -> float:
    """ECE of ``probabilities`` ``(N, C)`` against ``labels`` ``(N,)``, over the voxels where ``mask`` ``(N,)`` holds.

    ``sum_k |B_k| / N * |accuracy(B_k) - mean confidence(B_k)|`` over ``n_bins`` equal-width bins of the maximum
    probability. 0.0 when no voxel is selected.
    """
    _check(probabilities, labels)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence, predicted = probabilities.double().max(dim=1)
    correct = (predicted == labels.long()).double()
    if mask is not None:
        confidence, correct = confidence[mask], correct[mask]
    if confidence.numel() == 0:
        return 0.0
    bins = (torch.ceil(confidence * n_bins).long() - 1).clamp_(0, n_bins - 1)
    count = torch.bincount(bins, minlength=n_bins).double()
    confidence_sum = torch.bincount(bins, weights=confidence, minlength=n_bins)
    correct_sum = torch.bincount(bins, weights=correct, minlength=n_bins)
    # |sum correct - sum confidence| per bin / N  ==  |B_k| / N * |acc_k - conf_k|
    return float((correct_sum - confidence_sum).abs().sum() / count.sum())


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    """Mean ``-log softmax(logits / temperature)[label]`` over the ``(N, C)`` logits' rows."""
    _check(logits, labels)
    if not temperature > 0:
        raise ValueError(f"the temperature must be > 0, got {temperature}")
    log_p = torch.log_softmax(logits.double() / temperature, dim=1)
    return float(-log_p.gather(1, labels.long()[:, None]).mean())


def fit_temperature(
    logits: torch.Tensor, labels: torch.Tensor, bounds: tuple[float, float] = (0.05, 20.0), tolerance: float = 1e-4
) -> float:
    """The temperature in ``bounds`` minimising :func:`negative_log_likelihood` of ``(N, C)`` logits.

    Golden-section search on ``log T`` until the bracket is narrower than ``tolerance`` (relative in ``T``).
    """
    _check(logits, labels)
    low, high = (math.log(b) for b in bounds)
    if not low < high:
        raise ValueError(f"bounds must be (low, high) with 0 < low < high, got {bounds}")
    logits = logits.double()

    def nll(log_t: float) -> float:
        return negative_log_likelihood(logits, labels, math.exp(log_t))

    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = low, high
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(c), nll(d)
    while b - a > tolerance:
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(d)
    return math.exp((a + b) / 2.0)


def calibration_summary(
    logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, n_bins: int = 15
) -> dict[str, float]:
    """NLL, ECE over all voxels and ECE over the voxels that are foreground or predicted foreground (label or
    argmax > 0), of ``(N, C)`` logits at ``temperature``."""
    probabilities = softmax_with_temperature(logits, temperature)
    foreground = (labels > 0) | (probabilities.argmax(dim=1) > 0)
    return {
        "nll": negative_log_likelihood(logits, labels, temperature),
        "ece_all": expected_calibration_error(probabilities, labels, n_bins),
        "ece_foreground": expected_calibration_error(probabilities, labels, n_bins, mask=foreground),
        "foreground_voxels": int(foreground.sum()),
    }
