"""LearningRateRecorder: the rate used during each epoch, not the one after the scheduler's step."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events
from monai_unet_bundle.handlers import LearningRateRecorder


def test_records_the_rate_of_the_running_epoch():
    optimizer = torch.optim.SGD(torch.nn.Linear(1, 1).parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    trainer, recorded = Engine(lambda e, b: None), []
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: scheduler.step())  # steps first, like LrScheduleHandler
    LearningRateRecorder(optimizer).attach(trainer)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: recorded.append(engine.state.lr))
    trainer.run([0], max_epochs=3)
    assert recorded == pytest.approx([1.0, 0.5, 0.25])
