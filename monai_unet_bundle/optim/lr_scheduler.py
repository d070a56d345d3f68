"""The epoch-level learning-rate schedules a training config picks by name with one id, ``lr_schedule``.

- ``poly``: ``lr * (1 - epoch / max_epochs) ** 0.9``, nnU-Net's schedule (torch ``PolynomialLR``);
- ``cosine``: cosine annealing from ``lr`` to ``min_lr`` over ``max_epochs`` (torch ``CosineAnnealingLR``);
- ``constant``: no decay.

Step it once per epoch (MONAI's ``LrScheduleHandler`` with ``epoch_level=True``). Example::

    lr_scheduler: $monai_unet_bundle.optim.lr_scheduler(@optimizer, @lr_schedule, @max_epochs)
"""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import ConstantLR, CosineAnnealingLR, LRScheduler, PolynomialLR

__all__ = ["LR_SCHEDULES", "lr_scheduler"]

LR_SCHEDULES = ("poly", "cosine", "constant")


def lr_scheduler(
    optimizer: torch.optim.Optimizer, name: str, max_epochs: int, power: float = 0.9, min_lr: float = 0.0
) -> LRScheduler:
    """The scheduler ``name`` (one of ``LR_SCHEDULES``) over ``max_epochs`` epoch steps.

    Args:
        optimizer: the optimizer whose rate is scheduled (its current ``lr`` is the start value).
        name: "poly", "cosine" or "constant".
        max_epochs: the epochs of the run; the decay reaches its end there.
        power: exponent of ``poly``.
        min_lr: final rate of ``cosine``.

    Raises:
        ValueError: an unknown ``name`` (the message lists the choices).
    """
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
    if name == "poly":
        return PolynomialLR(optimizer, total_iters=max_epochs, power=power)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=max_epochs, eta_min=min_lr)
    if name == "constant":
        return ConstantLR(optimizer, factor=1.0, total_iters=0)
    raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {name!r}")
