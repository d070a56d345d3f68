"""Record the learning rate of the current epoch in ``engine.state`` for the metric writers.

An epoch-level LR scheduler steps on ``EPOCH_COMPLETED``, before the writers run, so reading the optimizer there
gives the next epoch's rate. This handler copies the rate at ``EPOCH_STARTED`` into ``engine.state.<attribute>``;
``TensorBoardStatsHandler(state_attributes=["lr"])`` (or ``StatsHandler``) then logs the rate that was used.
Example::

    train#handlers:
      - _target_: monai_unet_bundle.handlers.LearningRateRecorder
        optimizer: "@optimizer"
      - _target_: TensorBoardStatsHandler
        log_dir: "@output_dir"
        state_attributes: [lr]
"""

from __future__ import annotations

import torch
from ignite.engine import Engine, Events

__all__ = ["LearningRateRecorder"]


class LearningRateRecorder:
    """Set ``engine.state.<attribute>`` to the first parameter group's learning rate at every epoch start.

    Args:
        optimizer: the trainer's optimizer.
        attribute: the ``engine.state`` attribute name.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, attribute: str = "lr") -> None:
        self.optimizer = optimizer
        self.attribute = attribute

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self)

    def __call__(self, engine: Engine) -> None:
        setattr(engine.state, self.attribute, float(self.optimizer.param_groups[0]["lr"]))
