"""Validate once more when training ends on an epoch that ``ValidationHandler(interval=@val_interval)`` skipped.

MONAI Label overrides ``train#trainer#max_epochs`` (often to fewer epochs than ``val_interval``), and a user may stop
at an epoch count that is not a multiple of it. Without a validation at the end, ``models/model.pt`` would be the
network of an earlier epoch, or not be written at all. The model zoo asks for ``interval: "@val_interval"`` on the
``ValidationHandler``, so this handler adds the final validation instead of changing that interval. Example::

    train#handlers:
      - _target_: ValidationHandler
        validator: "@validate#evaluator"
        epoch_level: true
        interval: "@val_interval"
      - _target_: monai_unet_bundle.handlers.ValidateAtEnd
        validator: "@validate#evaluator"
        interval: "@val_interval"
"""

from __future__ import annotations

from ignite.engine import Engine, Events
from monai.engines import Evaluator

__all__ = ["ValidateAtEnd"]


class ValidateAtEnd:
    """Trainer handler: at ``COMPLETED``, run ``validator`` unless the last epoch was already validated.

    Args:
        validator: the evaluator that ``ValidationHandler`` runs.
        interval: the ``ValidationHandler``'s epoch interval (``@val_interval``).
    """

    def __init__(self, validator: Evaluator, interval: int) -> None:
        if interval < 1:
            raise ValueError(f"ValidateAtEnd: interval must be >= 1, got {interval}")
        self.validator = validator
        self.interval = int(interval)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if engine.state.epoch % self.interval != 0:
            self.validator.run(engine.state.epoch)
