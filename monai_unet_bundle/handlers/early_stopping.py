"""MONAI's ``EarlyStopHandler`` that can be switched off by its patience and whose counter survives a resume.

Attach it to the validator; it stops the trainer after ``patience`` validations without an improvement of the
score. In a bundle config the trainer cannot be passed at construction (it is built from the validator through
the ``ValidationHandler``), so ``initialize`` calls ``set_trainer``. Its ``state_dict()`` (counter, best score)
goes into the full-state checkpoint. ``patience < 1`` turns it into a no-op, so a config can keep it in the
handler list and expose one number. Under ``torchrun`` MONAI's metrics are all-reduced, so every rank decides
alike. Example::

    validate#early_stop:
      _target_: monai_unet_bundle.handlers.ResumableEarlyStopHandler
      patience: 5
      score_function: $monai.handlers.stopping_fn_from_metric('val_mean_dice')
    validate#handlers: [..., "@validate#early_stop"]
    initialize:
      - $@validate#early_stop.set_trainer(@train#trainer)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ignite.engine import Engine
from monai.handlers import EarlyStopHandler

__all__ = ["ResumableEarlyStopHandler"]


class ResumableEarlyStopHandler(EarlyStopHandler):
    """``EarlyStopHandler`` with ``state_dict`` / ``load_state_dict`` and ``patience < 1`` meaning off.

    Args:
        patience: validations (events) without improvement before stopping; ``< 1`` disables the handler.
        score_function, trainer, min_delta, cumulative_delta, epoch_level: as ``EarlyStopHandler``.
    """

    def __init__(
        self,
        patience: int,
        score_function: Callable,
        trainer: Engine | None = None,
        min_delta: float = 0.0,
        cumulative_delta: bool = False,
        epoch_level: bool = True,
    ) -> None:
        self._pending_state: dict[str, Any] | None = None
        super().__init__(
            patience=patience,
            score_function=score_function,
            trainer=trainer,
            min_delta=min_delta,
            cumulative_delta=cumulative_delta,
            epoch_level=epoch_level,
        )

    @property
    def enabled(self) -> bool:
        return self.patience >= 1

    def set_trainer(self, trainer: Engine) -> None:
        if not self.enabled:
            return
        super().set_trainer(trainer)
        if self._pending_state is not None:
            self._handler.load_state_dict(self._pending_state)
            self._pending_state = None

    def attach(self, engine: Engine) -> None:
        if self.enabled:
            super().attach(engine)

    def __call__(self, engine: Engine) -> None:
        if self._handler is None:
            raise RuntimeError("early stopping has no trainer: call set_trainer(trainer) before running")
        super().__call__(engine)

    def state_dict(self) -> dict[str, Any]:
        if self._handler is None:
            return dict(self._pending_state or {})
        state = self._handler.state_dict()
        best = state["best_score"]
        return {
            "counter": int(state["counter"]),
            "best_score": None if best is None else float(best),
            "threshold_mode": str(state["threshold_mode"]),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return  # saved while early stopping was off: counting starts afresh
        if self._handler is None:
            self._pending_state = dict(state)
        else:
            self._handler.load_state_dict(state)
