"""TrainingTimeBudget: a run slower than planned is shortened (with its LR decay) or stopped, never beyond its plan.

The unit tests drive a real ignite Engine whose iterations advance a fake clock; the slow test runs the real
``python -m monai.bundle run`` with a budget far below one epoch and checks that it stops after the first epoch
with its final validation and checkpoint.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ignite.engine import Engine, Events
from monai_unet_bundle.handlers import TrainingTimeBudget, ValidateAtEnd
from monai_unet_bundle.handlers.time_budget import process_age_s
from monai_unet_bundle.optim import lr_scheduler
from tests.conftest import TINY_TRAIN, cli_overrides

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(seconds_per_iteration: float, budget_min, max_epochs: int = 10, schedule: str = "poly"):
    """Train nothing for ``max_epochs`` x 2 iterations, each advancing the clock; returns the engine and optimizer."""
    clock = FakeClock()
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = lr_scheduler(optimizer, schedule, max_epochs)

    def step(engine, batch):
        optimizer.step()
        clock.now += seconds_per_iteration

    trainer = Engine(step)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: scheduler.step())
    TrainingTimeBudget(budget_min, lr_scheduler=scheduler, include_start_up=False, clock=clock).attach(trainer)
    completed = []
    trainer.add_event_handler(Events.COMPLETED, lambda engine: completed.append((engine.state.epoch, clock.now)))
    trainer.run([0, 1], max_epochs=max_epochs)
    return trainer, optimizer, scheduler, completed, clock


def test_a_slow_run_is_shortened_to_the_epochs_that_fit_and_its_lr_decay_ends_there():
    # 20 s per epoch, 10 epochs planned (200 s) in a 1-minute budget: after epoch 1 (20 s), one epoch is kept in
    # reserve, so epoch 2 is the last; the poly decay reaches 0 there instead of stopping at 0.8 x lr
    trainer, optimizer, scheduler, completed, clock = _run(10.0, budget_min=1.0)
    assert trainer.state.epoch == 2 and trainer.state.max_epochs == 2
    assert completed == [(2, 1040.0)]
    assert clock.now - 1000.0 <= 60.0
    assert scheduler.total_iters == 2
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_the_cosine_horizon_moves_with_the_shortened_run():
    trainer, optimizer, scheduler, _, _ = _run(10.0, budget_min=1.0, schedule="cosine")
    assert trainer.state.max_epochs == 2 and scheduler.T_max == 2
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_run_without_room_for_another_epoch_stops_and_still_completes():
    # 100 s per epoch in a 1-minute budget: nothing more fits after epoch 1; COMPLETED still fires, so
    # ValidateAtEnd and the savers see the end of the run
    trainer, _, _, completed, _ = _run(50.0, budget_min=1.0)
    assert trainer.state.epoch == 1
    assert completed == [(1, 1100.0)]


@pytest.mark.parametrize("budget_min", [None, 0])
def test_no_budget_leaves_the_run_alone(budget_min):
    trainer, optimizer, scheduler, completed, _ = _run(50.0, budget_min=budget_min, max_epochs=4)
    assert trainer.state.epoch == 4 and scheduler.total_iters == 4
    assert completed[0][0] == 4


def test_a_fast_run_is_never_lengthened():
    trainer, _, scheduler, _, _ = _run(1.0, budget_min=10.0, max_epochs=5)
    assert trainer.state.epoch == 5 and trainer.state.max_epochs == 5 and scheduler.total_iters == 5


def test_a_shortened_run_gets_its_epochs_back_when_the_machine_is_fast_again_but_never_beyond_the_plan():
    # 10 epochs planned in 2 minutes; the first three take 20 s (another job shares the machine), the rest 2 s
    clock = FakeClock()
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = lr_scheduler(optimizer, "poly", 10)
    horizons = []

    def step(engine, batch):
        optimizer.step()
        clock.now += 10.0 if engine.state.epoch <= 3 else 1.0

    trainer = Engine(step)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: scheduler.step())
    TrainingTimeBudget(2.0, lr_scheduler=scheduler, include_start_up=False, clock=clock).attach(trainer)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: horizons.append(engine.state.max_epochs))
    trainer.run([0, 1], max_epochs=10)
    # 20 s epochs: 5 of 10 fit after epoch 1; the fast epochs bring the plan's 10 back, and no more
    assert horizons[0] == 5 and max(horizons) == 10 and horizons[-1] == 10
    assert trainer.state.epoch == 10 and scheduler.total_iters == 10
    assert clock.now - 1000.0 <= 120.0
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_only_this_runs_epochs_time_a_resumed_run():
    # a run resumed at epoch 6 of 10: the clock starts at the resume, 4 epochs of 20 s fit into 2 minutes
    clock = FakeClock()
    trainer = Engine(lambda engine, batch: setattr(clock, "now", clock.now + 10.0))
    TrainingTimeBudget(2.0, include_start_up=False, clock=clock).attach(trainer)
    trainer.state.max_epochs, trainer.state.epoch, trainer.state.epoch_length = 10, 6, 2
    trainer.state.iteration = 12
    trainer.run([0, 1])
    assert trainer.state.epoch == 10


def test_start_up_counts_in_the_budget():
    # the process ran for A seconds before the trainer started (this test's interpreter and imports); with epochs of
    # A seconds and a budget of 3.5 A, start-up + 1 epoch + the reserve leave no room for a second epoch, where the
    # trainer's time alone would have left room for one
    age = process_age_s()
    assert 0.5 < age < 7 * 24 * 3600
    for include_start_up, epochs in ((True, 1), (False, 2)):
        clock = FakeClock()
        trainer = Engine(lambda engine, batch, clock=clock: setattr(clock, "now", clock.now + age / 2))
        TrainingTimeBudget(3.5 * age / 60.0, include_start_up=include_start_up, clock=clock).attach(trainer)
        trainer.run([0, 1], max_epochs=10)
        assert trainer.state.epoch == epochs, include_start_up


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_meaningless_budget_is_refused(bad):
    with pytest.raises(ValueError, match="time_budget_min must be None or >= 0"):
        TrainingTimeBudget(bad)


def test_validate_at_end_validates_the_epoch_where_the_budget_stopped():
    validated = []
    clock = FakeClock()
    trainer = Engine(lambda engine, batch: setattr(clock, "now", clock.now + 50.0))

    class Validator:
        def run(self, epoch):
            validated.append(epoch)

    TrainingTimeBudget(1.0, include_start_up=False, clock=clock).attach(trainer)
    ValidateAtEnd(Validator(), interval=5).attach(trainer)
    trainer.run([0, 1], max_epochs=10)
    assert validated == [1]


@pytest.mark.slow
def test_a_bundle_run_over_its_budget_stops_after_the_first_epoch_with_its_checkpoint(synthetic_dir, tmp_path):
    # 0.001 min = 0.06 s: the first epoch alone is longer, so the run ends after it although 5 were planned
    overrides = cli_overrides({**TINY_TRAIN, "max_epochs": 5, "val_interval": 5})
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.yaml",
               "--bundle_root", str(tmp_path), "--dataset_dir", str(synthetic_dir), "--time_budget_min", "0.001",
               *overrides]  # fmt: skip
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "time budget of 0.001 min: stopping after epoch 1 of 5" in log
    checkpoints = sorted((tmp_path / "models").glob("checkpoint_epoch_*.pt"))
    assert [c.name for c in checkpoints] == ["checkpoint_epoch_0001.pt"]
    assert (tmp_path / "models" / "model.pt").is_file()  # ValidateAtEnd scored the one epoch
    state = torch.load(checkpoints[-1], weights_only=True)
    assert state["trainer"]["epoch"] == 1
