"""ResumableEarlyStopHandler: stops a real trainer; patience 0 is off; its counter survives a state round trip."""

from __future__ import annotations

import pytest
from ignite.engine import Engine, Events
from monai_unet_bundle.handlers import ResumableEarlyStopHandler


def _run(handler: ResumableEarlyStopHandler, scores: list[float]) -> int:
    """A trainer whose every epoch ends in a 'validation' producing the next score; returns epochs run."""
    trainer, validator = Engine(lambda e, b: None), Engine(lambda e, b: None)
    handler.attach(validator)
    handler.set_trainer(trainer)
    feed = iter(scores)

    @trainer.on(Events.EPOCH_COMPLETED)
    def validate(engine):
        validator.state.metrics = {"val_mean_dice": next(feed)}
        validator._fire_event(Events.EPOCH_COMPLETED)

    trainer.run([0], max_epochs=len(scores))
    return trainer.state.epoch


def _handler(patience: int) -> ResumableEarlyStopHandler:
    return ResumableEarlyStopHandler(patience, score_function=lambda engine: engine.state.metrics["val_mean_dice"])


def test_stops_after_patience_validations_without_improvement():
    assert _run(_handler(2), [0.1, 0.3, 0.2, 0.25, 0.9, 0.9]) == 4


def test_patience_zero_is_off():
    handler = _handler(0)
    assert _run(handler, [0.5, 0.1, 0.1, 0.1]) == 4 and handler.state_dict() == {}


def test_counter_survives_a_round_trip():
    first = _handler(3)
    _run(first, [0.5, 0.4])
    state = first.state_dict()
    assert state["counter"] == 1 and state["best_score"] == pytest.approx(0.5)
    second = _handler(3)
    second.load_state_dict(state)  # before set_trainer, as when a checkpoint is restored
    assert _run(second, [0.4, 0.4, 0.9]) == 2
    _handler(3).load_state_dict({})  # a checkpoint written with early stopping off


def test_running_without_trainer_is_a_clear_error():
    handler, validator = _handler(1), Engine(lambda e, b: None)
    handler.attach(validator)
    validator.state.metrics = {"val_mean_dice": 0.1}
    with pytest.raises(RuntimeError, match="set_trainer"):
        validator._fire_event(Events.EPOCH_COMPLETED)
