"""ValidateAtEnd: a run whose last epoch is not a multiple of val_interval still validates at its end, once."""

import pytest
import torch
from ignite.engine import Engine, Events
from monai.engines import SupervisedEvaluator
from monai.handlers import ValidationHandler
from monai_unet_bundle.handlers import ValidateAtEnd


def _trainer_and_validator(interval: int):
    validated_after = []
    data = [{"image": torch.zeros(1, 1, 4, 4), "label": torch.zeros(1, 1, 4, 4)}]
    validator = SupervisedEvaluator(device=torch.device("cpu"), val_data_loader=data, network=torch.nn.Identity())
    trainer = Engine(lambda engine, batch: None)
    ValidationHandler(interval=interval, validator=validator, epoch_level=True).attach(trainer)
    ValidateAtEnd(validator, interval).attach(trainer)
    validator.add_event_handler(Events.COMPLETED, lambda engine: validated_after.append(trainer.state.epoch))
    return trainer, validated_after


@pytest.mark.parametrize("max_epochs, expected", [(1, [1]), (3, [3]), (5, [5]), (7, [5, 7]), (10, [5, 10])])
def test_the_last_epoch_is_validated_exactly_once(max_epochs, expected):
    trainer, validated_after = _trainer_and_validator(interval=5)
    trainer.run([0, 1], max_epochs=max_epochs)
    assert validated_after == expected


def test_an_interval_below_one_is_refused():
    with pytest.raises(ValueError, match="interval must be >= 1"):
        ValidateAtEnd(validator=None, interval=0)
