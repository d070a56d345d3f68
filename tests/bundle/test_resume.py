"""Resuming training: after SIGKILL at an arbitrary moment (real `python -m monai.bundle run` subprocesses), and
past a damaged newest checkpoint (in process)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from monai.bundle import ConfigWorkflow
from tests.conftest import CONFIGS, REPO, TINY_TRAIN, cli_overrides

CLI_TINY = cli_overrides(TINY_TRAIN, without=("max_epochs",))


def _train_command(root, dataset, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "configs/train.yaml",
        "--bundle_root",
        str(root),
        "--dataset_dir",
        str(dataset),
        *CLI_TINY,
        *extra,
    ]


@pytest.mark.slow
def test_sigkill_then_resume_continues_the_epoch_count(tmp_path, synthetic_dir):
    models = tmp_path / "models"
    log = open(tmp_path / "first.log", "w")
    process = subprocess.Popen(
        _train_command(tmp_path, synthetic_dir, "--max_epochs", "3"), cwd=REPO, stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 300
    while not (models / "checkpoint_epoch_0001.pt").exists():
        assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint after 300 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    log.close()
    assert process.returncode == -signal.SIGKILL

    pattern = re.compile(r"checkpoint_epoch_(\d+)\.pt")
    epochs = sorted(int(m.group(1)) for p in models.iterdir() if (m := pattern.fullmatch(p.name)))
    assert epochs and epochs[-1] < 3, f"killed before the end: {epochs}"
    killed_at = epochs[-1]

    result = subprocess.run(
        _train_command(tmp_path, synthetic_dir, "--max_epochs", "3", "--resume", "true"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert (
        f"resumed from {models / f'checkpoint_epoch_{killed_at:04d}.pt'}: epoch {killed_at}, iteration "
        f"{2 * killed_at}" in output
    )
    assert f"Epoch[{killed_at + 1}] Complete" in output and f"Epoch[{killed_at}] Complete" not in output
    final = torch.load(models / "checkpoint_epoch_0003.pt", weights_only=True)
    assert final["trainer"]["epoch"] == 3 and final["trainer"]["iteration"] == 6
    assert (models / "model.pt").is_file()
    assert not [p.name for p in models.iterdir() if p.name.startswith(".")], "no partial file is left"


def _train(root, dataset, **overrides) -> ConfigWorkflow:
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "train.yaml"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train",
        bundle_root=str(root),
        dataset_dir=str(dataset),
        **{**TINY_TRAIN, **overrides},
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return workflow


def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, synthetic_dir):
    _train(tmp_path, synthetic_dir, max_epochs=2)
    models = tmp_path / "models"
    epoch_1 = torch.load(models / "checkpoint_epoch_0001.pt", weights_only=True)
    newest = models / "checkpoint_epoch_0002.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # as a disk-full or half-copied file would be

    with pytest.warns(RuntimeWarning, match="falling back to checkpoint_epoch_0001.pt.*checkpoint_epoch_0002.pt"):
        workflow = _train(tmp_path, synthetic_dir, max_epochs=2, resume=True)
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert (trainer.state.epoch, trainer.state.iteration) == (2, 4)
    # epoch 2 ran again from epoch 1's state and rewrote a whole file
    again = torch.load(newest, weights_only=True)
    assert again["trainer"]["epoch"] == 2 and again["lr_scheduler"]["last_epoch"] == 2
    assert epoch_1["lr_scheduler"]["last_epoch"] == 1
    assert any(not torch.equal(value, epoch_1["network"][key]) for key, value in again["network"].items())
