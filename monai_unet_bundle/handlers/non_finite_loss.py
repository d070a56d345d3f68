"""Stop on (or skip) a NaN / Inf training loss, naming the files of the batch that produced it.

MONAI's ``SupervisedTrainer`` backpropagates a NaN loss like any other: one optimizer step later every weight is
NaN, and the run goes on for hours writing NaN checkpoints. This handler looks at the loss as soon as it is
computed (MONAI's ``IterationEvents.LOSS_COMPLETED``, before the backward pass) and either

- ``mode="stop"``: raises :class:`NonFiniteLossError` with the iteration, the loss and the batch's files, so the
  weights and the last checkpoint stay as they were; or
- ``mode="skip"``: lets the backward pass run on a zero loss and clears the gradients, so the optimizer changes
  nothing for that batch (no step, no momentum update), and puts back the network's buffers (BatchNorm running
  statistics, which the NaN forward pass already changed); the batch is logged with its files and counted in
  ``engine.state.non_finite_losses``. With ``max_skipped`` the run still stops after that many skipped batches.
  Under CUDA fp16 AMP (a GradScaler) the scaler skips the step itself; the batch is only logged and counted.

Example (``configs/train.yaml``)::

    train#handlers:
      - _target_: monai_unet_bundle.handlers.NonFiniteLossHandler
        mode: "@non_finite_loss"        # stop | skip
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from ignite.engine import Engine, Events
from monai.engines.utils import IterationEvents
from monai.utils import CommonKeys

__all__ = ["NonFiniteLossError", "NonFiniteLossHandler", "batch_files"]

logger = logging.getLogger(__name__)

_MODES = ("stop", "skip")


class NonFiniteLossError(RuntimeError):
    """A NaN / Inf loss; the message names the iteration, the loss value and the batch's files."""


def batch_files(batch: Any, key: str = CommonKeys.IMAGE) -> list[str]:
    """Distinct source files of a collated batch (``batch[key].meta["filename_or_obj"]``), in batch order."""
    if not isinstance(batch, dict) or key not in batch:
        return []
    names = (getattr(batch[key], "meta", None) or {}).get("filename_or_obj", [])
    names = [names] if isinstance(names, str) else list(names)
    return list(dict.fromkeys(str(n) for n in names))


class NonFiniteLossHandler:
    """Watch the trainer's loss; stop or skip the batch when it is NaN or infinite (see the module docstring).

    Args:
        mode: ``"stop"`` or ``"skip"``.
        max_skipped: in skip mode, stop once more than this many batches were skipped (None: never).
        image_key: the batch key whose metadata names the files.
    """

    def __init__(self, mode: str = "stop", max_skipped: int | None = None, image_key: str = CommonKeys.IMAGE) -> None:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode
        self.max_skipped = max_skipped
        self.image_key = image_key
        self._skipping = False
        self._loss: torch.Tensor | None = None
        self._buffers: dict[str, torch.Tensor] = {}

    def attach(self, engine: Engine) -> None:
        if not hasattr(engine.state, "non_finite_losses"):
            engine.state.non_finite_losses = 0
        if self.mode == "skip":
            engine.add_event_handler(Events.ITERATION_STARTED, self.iteration_started)
        engine.add_event_handler(IterationEvents.LOSS_COMPLETED, self.loss_completed)
        engine.add_event_handler(IterationEvents.BACKWARD_COMPLETED, self.backward_completed)

    def iteration_started(self, engine: Engine) -> None:
        # running statistics change in the forward pass, before the loss can be looked at: keep a copy (small)
        self._buffers = {name: b.detach().clone() for name, b in engine.network.named_buffers()}

    def _describe(self, engine: Engine, loss: torch.Tensor) -> str:
        files = batch_files(engine.state.batch, self.image_key) or ["<batch without file names>"]
        return (
            f"loss is {float(loss.detach()):g} at epoch {engine.state.epoch}, iteration "
            f"{engine.state.iteration}; batch files: {', '.join(files)}"
        )

    def loss_completed(self, engine: Engine) -> None:
        loss = engine.state.output[CommonKeys.LOSS]
        if bool(torch.isfinite(loss.detach()).all()):
            return
        what = self._describe(engine, loss)
        if self.mode == "stop":
            raise NonFiniteLossError(
                f"{what}. Training stopped before the weights were updated; check those files (NaN / Inf voxels, "
                "labels) or lower lr. To skip such batches instead: --non_finite_loss skip"
            )
        engine.state.non_finite_losses = getattr(engine.state, "non_finite_losses", 0) + 1
        count = engine.state.non_finite_losses
        if self.max_skipped is not None and count > self.max_skipped:
            raise NonFiniteLossError(
                f"{what}. Stopped: {count} batches with a non-finite loss (max_skipped {self.max_skipped})"
            )
        logger.warning("non-finite loss, batch skipped (%d so far): %s", count, what)
        if getattr(engine, "scaler", None) is not None and getattr(engine, "amp", False):
            return  # the GradScaler finds the Inf / NaN gradients and skips this step itself
        # a leaf without parameters: backward() runs and leaves every parameter's gradient as it was
        engine.state.output[CommonKeys.LOSS] = torch.zeros((), device=loss.device, requires_grad=True)
        self._skipping = True
        self._loss = loss.detach()

    def backward_completed(self, engine: Engine) -> None:
        if not self._skipping:
            return
        self._skipping = False
        # without gradients the optimizer skips every parameter: no step, no momentum or weight decay update
        engine.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            for name, buffer in engine.network.named_buffers():
                if name in self._buffers:
                    buffer.copy_(self._buffers[name])
        engine.state.output[CommonKeys.LOSS] = self._loss  # the logs show the real (non-finite) loss
