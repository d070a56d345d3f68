"""FullStateSaver + ResumeFromCheckpoint on a real ignite engine: interval, final save, and exact continuation."""

from __future__ import annotations

import pytest
import torch
from ignite.engine import Engine, Events
from monai_unet_bundle.handlers import FullStateSaver, ResumeFromCheckpoint


def _trainer(seed: int):
    torch.manual_seed(seed)
    network = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(network.parameters(), lr=0.5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5)
    seen = []

    def step(engine, batch):
        optimizer.zero_grad()
        # torch.rand draws from the global generator: a restored RNG state replays the same noise
        loss = (network(batch) + torch.rand(1)).square().mean()
        loss.backward()
        optimizer.step()
        seen.append((engine.state.epoch, engine.state.iteration))
        return loss.item()

    trainer = Engine(step)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda _: scheduler.step())
    return trainer, {"network": network, "optimizer": optimizer, "lr_scheduler": scheduler}, seen


DATA = [torch.ones(2, 4) * i for i in range(3)]


def test_interval_and_final_checkpoints(tmp_path):
    trainer, objects, _ = _trainer(0)
    FullStateSaver(str(tmp_path), objects, save_interval=2, n_saved=None).attach(trainer)
    trainer.run(DATA, max_epochs=5)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint_epoch_0002.pt",
        "checkpoint_epoch_0004.pt",
        "checkpoint_epoch_0005.pt",
    ]


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(tmp_path):
    reference, reference_objects, _ = _trainer(0)
    reference.run(DATA, max_epochs=4)

    first, objects, _ = _trainer(0)
    FullStateSaver(str(tmp_path), objects).attach(first)
    first.run(DATA, max_epochs=2)  # "killed" after epoch 2

    second, second_objects, seen = _trainer(7)  # other initial weights: they must be replaced
    FullStateSaver(str(tmp_path), second_objects).attach(second)
    ResumeFromCheckpoint(str(tmp_path), second_objects, enabled=True).attach(second)
    second.run(DATA, max_epochs=4)
    assert seen[0] == (3, 7) and (second.state.epoch, second.state.iteration) == (4, 12)
    for name, value in reference_objects["network"].state_dict().items():
        assert torch.allclose(value, second_objects["network"].state_dict()[name]), name
    assert second_objects["lr_scheduler"].last_epoch == 4
    assert [p.name for p in sorted(tmp_path.iterdir())] == ["checkpoint_epoch_0003.pt", "checkpoint_epoch_0004.pt"]


def test_resume_without_checkpoint_starts_at_epoch_zero_with_a_warning(tmp_path):
    trainer, objects, seen = _trainer(0)
    ResumeFromCheckpoint(str(tmp_path), objects).attach(trainer)
    with pytest.warns(RuntimeWarning, match="starts from epoch 0"):
        trainer.run(DATA, max_epochs=1)
    assert seen[0] == (1, 1)


def test_disabled_resume_ignores_checkpoints(tmp_path):
    trainer, objects, _ = _trainer(0)
    FullStateSaver(str(tmp_path), objects).attach(trainer)
    trainer.run(DATA, max_epochs=1)
    again, again_objects, seen = _trainer(0)
    ResumeFromCheckpoint(str(tmp_path), again_objects, enabled=False).attach(again)
    again.run(DATA, max_epochs=1)
    assert seen[0] == (1, 1)


def test_stale_temporaries_are_removed_when_training_starts(tmp_path):
    stale = tmp_path / ".checkpoint_epoch_0003.pt.999999999.0123abcd.part.pt"  # written by a process that is gone
    stale.write_bytes(b"half")
    trainer, objects, _ = _trainer(0)
    FullStateSaver(str(tmp_path), objects).attach(trainer)
    trainer.run(DATA, max_epochs=1)
    assert not stale.exists()


def test_bad_interval():
    with pytest.raises(ValueError, match="save_interval"):
        FullStateSaver("x", {}, save_interval=0)
