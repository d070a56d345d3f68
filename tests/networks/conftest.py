"""Shared pieces of the network tests.

They run single-threaded: the 2 CPU cores are shared, and oversubscribed intra-op threads make these small-tensor
workloads many times slower.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _disc_sample(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One noisy 2D image ``(1, 1, size, size)`` of an off-centre disc and its label ``(1, 1, size, size)``."""
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    label = (((yy - 0.42 * size) ** 2 + (xx - 0.56 * size) ** 2) < (0.22 * size) ** 2).long()[None, None]
    return torch.rand(1, 1, size, size) * 0.3 + label * 0.7, label


@pytest.fixture
def fit_disc() -> Callable[..., list[float]]:
    """``fit_disc(net, loss_fn, size, steps, lr)``: Adam on one disc sample; returns the loss of every step."""

    def fit(net: nn.Module, loss_fn: nn.Module, size: int, steps: int, lr: float) -> list[float]:
        x, label = _disc_sample(size)
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        losses = []
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(net(x), label)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    return fit


@pytest.fixture
def params_without_gradient() -> Callable[[nn.Module, torch.Tensor], list[str]]:
    """``params_without_gradient(net, x)``: names of parameters a backward pass from every output leaves at zero."""

    def check(net: nn.Module, x: torch.Tensor) -> list[str]:
        out = net.train()(x)
        outs = out if isinstance(out, list) else [out]
        sum(o.square().mean() for o in outs).backward()
        return [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]

    return check
