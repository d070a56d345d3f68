"""Keep a training run inside a wall-clock budget, however much slower the machine is than when the run was planned.

``python -m monai_unet_bundle plan`` sizes ``max_epochs x epoch_length`` from a timing probe of a few training
steps. The probe is short, so a machine that gets busier later (other jobs, thermal limits, a neighbour on a
shared host) makes the run overshoot: a 2D plan probed at 0.87 s per step trained at 1.85 s per step under load
and took 13.7 minutes of an 8-minute budget. This handler watches the real epochs instead.

After every epoch (attach it after ``ValidationHandler``, so a validation's time counts in its epoch), the mean
time of the last ``recent_epochs`` epochs predicts the rest (recent, because a shared machine's load comes and goes:
on 2026-12-05 one demo's epochs took 1 to 27 s as other jobs started and stopped). When the remaining epochs no
longer fit into ``time_budget_min`` (counted from the start of the process, so that start-up and caching count too,
as they do for the user waiting; one epoch's time is kept in reserve for the last validation), the run is shortened
to the epochs that fit: ``engine.state.max_epochs`` is lowered and so is the learning-rate scheduler's horizon
(``PolynomialLR.total_iters``, ``CosineAnnealingLR.T_max``), so the decay still ends at the last epoch
instead of being cut off half-way. When the machine gets faster again, a shortened run gets its epochs back, up
to the planned ``max_epochs`` and never beyond it (the plan's schedule is the most the run asks for). When not even
one more epoch fits, the run ends now (``ValidateAtEnd`` then validates the last epoch, ``FullStateSaver`` saves
it). ``None`` or 0: no budget.

Example (``configs/train.yaml``; plan.yaml sets ``time_budget_min``)::

    train#handlers:
      - _target_: ValidationHandler
        ...
      - _target_: monai_unet_bundle.handlers.TrainingTimeBudget
        time_budget_min: "@time_budget_min"
        lr_scheduler: "@lr_scheduler"
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from torch.optim.lr_scheduler import CosineAnnealingLR, PolynomialLR

__all__ = ["TrainingTimeBudget", "process_age_s"]

logger = logging.getLogger(__name__)


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc; 0.0 where it cannot be read)."""
    try:
        # /proc/self/stat: the fields after the command name's closing parenthesis start at field 3; starttime is 22
        start_ticks = float(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return max(0.0, uptime_s - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


class TrainingTimeBudget:
    """Trainer handler: shorten the run so that it ends within ``time_budget_min`` minutes (never beyond its plan).

    Args:
        time_budget_min: wall-clock minutes from the trainer's start to the end of its last epoch; None or 0: off.
        lr_scheduler: the epoch-level scheduler whose horizon moves with ``max_epochs`` (``PolynomialLR`` and
            ``CosineAnnealingLR``; any other, such as a constant rate, is left alone).
        include_start_up: count the seconds the process ran before the trainer started (Linux: from /proc; where
            that cannot be read, the budget starts with the trainer).
        clock: seconds from an arbitrary origin (tests pass a fake clock; default ``time.monotonic``).
        recent_epochs: how many of the last epochs time the rest (5: one validation with the plan's interval).
    """

    def __init__(
        self,
        time_budget_min: float | None,
        lr_scheduler: Any = None,
        include_start_up: bool = True,
        clock: Any = time.monotonic,
        recent_epochs: int = 5,
    ) -> None:
        if time_budget_min is not None and (not math.isfinite(float(time_budget_min)) or time_budget_min < 0):
            raise ValueError(f"time_budget_min must be None or >= 0 minutes, got {time_budget_min}")
        self.budget_s = 60.0 * float(time_budget_min) if time_budget_min else None
        self.lr_scheduler = lr_scheduler
        self.include_start_up = include_start_up
        self.clock = clock
        if recent_epochs < 1:
            raise ValueError(f"recent_epochs must be >= 1, got {recent_epochs}")
        self.recent_epochs = int(recent_epochs)
        self._started = 0.0
        self._epoch_ends: list[float] = []
        self._planned = 0

    def attach(self, engine: Engine) -> None:
        if self.budget_s is None:
            return
        engine.add_event_handler(Events.STARTED, self._start)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _start(self, engine: Engine) -> None:
        trainer_started = self.clock()
        self._started = trainer_started - (process_age_s() if self.include_start_up else 0.0)
        # a resumed run starts at its checkpoint's epoch: only this run's epochs time this run
        self._epoch_ends = [trainer_started]
        self._planned = int(engine.state.max_epochs)

    def __call__(self, engine: Engine) -> None:
        now = self.clock()
        self._epoch_ends.append(now)
        if self.budget_s is None or len(self._epoch_ends) < 2:
            return
        elapsed = now - self._started
        recent = self._epoch_ends[-(self.recent_epochs + 1) :]
        epoch_s = max((recent[-1] - recent[0]) / (len(recent) - 1), 1e-9)
        current, epoch = int(engine.state.max_epochs), engine.state.epoch
        # one epoch in reserve: the final validation and the jitter of the next epoch
        fit = min(self._planned, epoch + int(max(0.0, self.budget_s - elapsed - epoch_s) // epoch_s))
        # epochs come back only two at a time: at the budget's edge, one epoch's jitter would flip the end each epoch
        if fit == current or current < fit < current + 2:
            return
        budget_min = self.budget_s / 60.0
        if fit <= epoch:
            logger.warning(
                f"time budget of {budget_min:g} min: stopping after epoch {epoch} of {current} "
                f"({elapsed / 60:.1f} min so far, {epoch_s:.1f} s per epoch; the machine is slower than planned)"
            )
            engine.terminate()
            return
        change = "now end" if fit < current else f"get back epochs (plan: {self._planned}) and end"
        logger.warning(
            f"time budget of {budget_min:g} min: {epoch_s:.1f} s per epoch here, so {fit} of the planned "
            f"{self._planned} epochs fit; the run and its learning-rate decay {change} at epoch {fit}"
        )
        engine.state.max_epochs = fit
        if isinstance(self.lr_scheduler, PolynomialLR):
            self.lr_scheduler.total_iters = fit
        elif isinstance(self.lr_scheduler, CosineAnnealingLR):
            self.lr_scheduler.T_max = fit
