"""atomic_write / atomic_torch_save: the destination holds the old or the new file, never a partial one; the one
clean-up rule for the temporaries of killed writers."""

from __future__ import annotations

import os

import pytest
import torch
from monai_unet_bundle.atomic_write import atomic_torch_save, remove_abandoned_temporaries


def test_round_trip_with_weights_only(tmp_path):
    state = {"w": torch.arange(6.0).reshape(2, 3), "epoch": 3, "name": "x"}
    path = atomic_torch_save(state, tmp_path / "sub" / "state.pt")
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and loaded["epoch"] == 3 and loaded["name"] == "x"
    assert os.listdir(path.parent) == ["state.pt"], "no temporary file is left behind"


def test_a_failing_write_keeps_the_previous_file(tmp_path):
    path = atomic_torch_save({"version": torch.tensor(1)}, tmp_path / "model.pt")
    with pytest.raises(Exception):  # noqa: B017 - pickling a lambda fails inside torch.save, whatever its type
        atomic_torch_save({"version": torch.tensor(2), "bad": lambda: None}, path)
    assert torch.load(path, weights_only=True)["version"].item() == 1
    assert os.listdir(tmp_path) == ["model.pt"]


def test_remove_stale_temporaries_only_touches_partial_files(tmp_path):
    dead = 999_999_999  # above any pid_max: no such process
    keep = [tmp_path / "checkpoint_epoch_0001.pt", tmp_path / "model.pt"]
    stale = [
        tmp_path / f".checkpoint_epoch_0002.pt.{dead}.0123abcd.part.pt",
        tmp_path / f".model.pt.{dead}.0123abcd.part.pt",
    ]
    for path in keep + stale:
        path.write_bytes(b"x")
    removed = remove_abandoned_temporaries(tmp_path, min_age_s=0, name="checkpoint_epoch_*.pt")
    assert removed == [stale[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in keep + stale[1:])
    assert remove_abandoned_temporaries(tmp_path / "missing") == []


WRITER = """
import sys, torch
from monai_unet_bundle.atomic_write import atomic_torch_save
path, version = sys.argv[1], 0
while True:
    version += 1
    # ~8 MB per file: a kill lands mid-write often
    atomic_torch_save({"version": version, "data": torch.full((2_000_000,), float(version))}, path)
"""


@pytest.mark.slow
def test_sigkill_at_random_moments_never_leaves_a_partial_file(tmp_path):
    import random
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import REPO

    path = tmp_path / "state.pt"
    rng = random.Random(0)
    for _ in range(4):
        path.unlink(missing_ok=True)  # waiting for it below waits until the writer is running
        process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], cwd=REPO)
        deadline = time.monotonic() + 60
        while not path.exists():
            assert time.monotonic() < deadline and process.poll() is None, "the writer did not start"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        process.send_signal(signal.SIGKILL)
        process.wait()
        state = torch.load(path, weights_only=True)
        assert state["data"].shape == (2_000_000,)
        assert torch.all(state["data"] == float(state["version"])), "the file holds one whole write"


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_only_old_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = _dead_pid()
    abandoned = tmp_path / f".a_seg.nii.gz.{dead}.0123abcd.part.nii.gz"
    recent = tmp_path / f".b_seg.nii.gz.{dead}.0123abcd.part.nii.gz"
    live = tmp_path / f".c_seg.nii.gz.{os.getpid()}.0123abcd.part.nii.gz"
    unrelated = [tmp_path / "d_seg.nii.gz", tmp_path / f".e.{dead}.part.nii.gz", tmp_path / ".hidden"]
    for path in [abandoned, recent, live, *unrelated]:
        path.write_bytes(b"x")
    old = os.stat(abandoned).st_mtime - 600
    for path in [abandoned, live, *unrelated]:
        os.utime(path, (old, old))
    assert remove_abandoned_temporaries(tmp_path) == [abandoned]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in [recent, live, *unrelated])
    assert remove_abandoned_temporaries(tmp_path / "missing") == []
