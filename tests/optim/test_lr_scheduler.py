"""lr_scheduler: the named schedules over max_epochs epoch steps."""

from __future__ import annotations

import math

import pytest
import torch
from monai_unet_bundle.optim import lr_scheduler


def _rates(name: str, epochs: int = 10, **kwargs) -> list[float]:
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.01)
    scheduler = lr_scheduler(optimizer, name, epochs, **kwargs)
    rates = []
    for _ in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates + [optimizer.param_groups[0]["lr"]]


def test_poly_is_nnunets_formula():
    assert _rates("poly") == pytest.approx([0.01 * (1 - e / 10) ** 0.9 for e in range(11)])


def test_cosine_and_constant():
    expected = [1e-4 + (0.01 - 1e-4) * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(11)]
    assert _rates("cosine", min_lr=1e-4) == pytest.approx(expected)
    assert _rates("constant") == pytest.approx([0.01] * 11)


def test_unknown_name_lists_the_choices():
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=0.01)
    with pytest.raises(ValueError, match="poly, cosine, constant; got 'step'"):
        lr_scheduler(optimizer, "step", 10)
