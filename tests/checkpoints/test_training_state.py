"""training_state / restore_training_state on a real ignite engine, network, optimizer and scheduler."""

from __future__ import annotations

import io

import pytest
import torch
from ignite.engine import Engine, Events
from monai_unet_bundle.checkpoints import restore_training_state, training_state


def _setup(seed: int):
    torch.manual_seed(seed)
    network = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    optimizer = torch.optim.AdamW(network.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=5, power=0.9)

    def step(engine, batch):
        optimizer.zero_grad()
        loss = network(batch).square().mean()
        loss.backward()
        optimizer.step()
        return loss.item()

    trainer = Engine(step)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: scheduler.step())
    return trainer, {"network": network, "optimizer": optimizer, "lr_scheduler": scheduler}


def _round_trip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_restore_continues_counters_and_states():
    data = [torch.randn(2, 4) for _ in range(3)]
    trainer, objects = _setup(0)
    trainer.run(data, max_epochs=2)
    state = _round_trip(training_state(trainer, objects))
    assert state["trainer"] == {"epoch": 2, "iteration": 6, "epoch_length": 3, "max_epochs": 2}

    fresh, fresh_objects = _setup(1)
    fresh.state.max_epochs, fresh.state.epoch_length = 4, 3
    restore_training_state(fresh, fresh_objects, state)
    assert (fresh.state.epoch, fresh.state.iteration) == (2, 6)
    for name, tensor in objects["network"].state_dict().items():
        assert torch.equal(tensor, fresh_objects["network"].state_dict()[name]), name
    assert fresh_objects["lr_scheduler"].last_epoch == 2
    assert fresh_objects["optimizer"].param_groups[0]["lr"] == pytest.approx(objects["optimizer"].param_groups[0]["lr"])
    assert fresh_objects["optimizer"].state_dict()["state"][0]["step"].item() == 6


def test_wrapped_network_is_saved_without_module_prefix():
    trainer, objects = _setup(0)
    trainer.run([torch.randn(2, 4)], max_epochs=1)
    objects["network"] = torch.nn.DataParallel(objects["network"])
    state = training_state(trainer, objects)
    assert not any(key.startswith("module.") for key in state["network"])
    fresh, fresh_objects = _setup(1)
    fresh.state.max_epochs, fresh.state.epoch_length = 1, 1
    restore_training_state(fresh, {**fresh_objects, "network": torch.nn.DataParallel(fresh_objects["network"])}, state)


def test_mismatches_are_reported_with_the_source():
    trainer, objects = _setup(0)
    trainer.run([torch.randn(2, 4)] * 2, max_epochs=2)
    state = training_state(trainer, objects)
    other, other_objects = _setup(1)
    other.state.max_epochs, other.state.epoch_length = 5, 3
    with pytest.raises(ValueError, match="ckpt.pt was written with epoch_length 2"):
        restore_training_state(other, other_objects, state, source="ckpt.pt")
    other.state.max_epochs, other.state.epoch_length = 1, 2
    with pytest.raises(ValueError, match="beyond this run's max_epochs 1"):
        restore_training_state(other, other_objects, state)
    other.state.max_epochs = 3
    with pytest.raises(ValueError, match="no state for \\['extra'\\]"):
        restore_training_state(other, {**other_objects, "extra": torch.nn.Linear(1, 1)}, state)
    wrong = {**other_objects, "network": torch.nn.Linear(4, 2)}
    with pytest.raises(ValueError, match="'network' state does not fit"):
        restore_training_state(other, wrong, state)
    with pytest.raises(ValueError, match="reserved"):
        training_state(trainer, {"rng": objects["network"]})
