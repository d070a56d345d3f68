"""CheckpointSeries: numbering, pruning, and falling back past damaged newest files."""

from __future__ import annotations

import warnings

import pytest
import torch
from monai_unet_bundle.checkpoints import CheckpointError, CheckpointSeries


def _state(epoch: int) -> dict:
    return {"trainer": {"epoch": epoch}, "network": {"w": torch.full((3,), float(epoch))}}


def test_save_numbers_and_prunes(tmp_path):
    series = CheckpointSeries(tmp_path, keep=2)
    for epoch in (1, 2, 3, 10):
        series.save(_state(epoch), epoch)
    assert [e for e, _ in series.files()] == [10, 3]
    assert series.path_for(10).name == "checkpoint_epoch_0010.pt"
    found = series.load_latest()
    assert found.epoch == 10 and found.state["network"]["w"][0].item() == 10.0


def test_other_prefixes_and_files_are_ignored(tmp_path):
    CheckpointSeries(tmp_path, prefix="other").save(_state(5), 5)
    torch.save({"w": torch.zeros(1)}, tmp_path / "model.pt")
    series = CheckpointSeries(tmp_path)
    assert series.files() == [] and series.load_latest() is None


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flat_state_dict"])
def test_damaged_newest_falls_back_with_a_warning(tmp_path, damage):
    series = CheckpointSeries(tmp_path, keep=None)
    series.save(_state(1), 1)
    newest = series.save(_state(2), 2)
    data = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        newest.write_bytes(b"\x00not a checkpoint" * 50)
    elif damage == "empty":
        newest.write_bytes(b"")
    else:
        torch.save({"w": torch.zeros(2)}, newest)
    with pytest.warns(RuntimeWarning, match="checkpoint_epoch_0002.pt"):
        found = series.load_latest()
    assert found.epoch == 1 and found.path.name == "checkpoint_epoch_0001.pt"


def test_all_damaged_is_an_error_naming_the_files(tmp_path):
    series = CheckpointSeries(tmp_path)
    for epoch in (1, 2):
        series.save(_state(epoch), epoch).write_bytes(b"broken")
    with pytest.raises(CheckpointError, match="checkpoint_epoch_0002.pt.*checkpoint_epoch_0001.pt"):
        series.load_latest()


def test_intact_newest_loads_without_warning(tmp_path):
    series = CheckpointSeries(tmp_path)
    series.save(_state(1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert series.load_latest().epoch == 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="keep"):
        CheckpointSeries("x", keep=0)
    with pytest.raises(ValueError, match="prefix"):
        CheckpointSeries("x", prefix="a/b")
