"""Faults during training (issue 9, part 5): a killed checkpoint write, a full disk, a NaN loss.

Covered elsewhere (docs/errors.md lists them): SIGKILL at an arbitrary moment of a real run, then --resume
(tests/bundle/test_resume.py::test_sigkill_then_resume_continues_the_epoch_count), a damaged newest checkpoint
(::test_damaged_latest_checkpoint_falls_back_to_the_previous_one).
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from ignite.engine import Events
from monai.bundle import ConfigWorkflow
from monai_unet_bundle.atomic_write import TEMPORARY_MARK
from monai_unet_bundle.checkpoints import CheckpointSeries
from monai_unet_bundle.handlers.non_finite_loss import NonFiniteLossError
from tests.conftest import CONFIGS, REPO, TINY_TRAIN, cli_overrides

CLI_TINY = cli_overrides(TINY_TRAIN)

#: writes checkpoints of ~64 MB in a loop, so a SIGKILL lands inside a write
_WRITER_SOURCE = """
    import sys, torch
    from monai_unet_bundle.checkpoints import CheckpointSeries
    series = CheckpointSeries(sys.argv[1], keep=None)
    for epoch in range(1, 1000):
        series.save({"trainer": {"epoch": epoch}, "w": torch.full((16_000_000,), float(epoch))}, epoch)
"""
_WRITER = textwrap.dedent(_WRITER_SOURCE)


@pytest.mark.slow
def test_sigkill_during_a_checkpoint_write(tmp_path):
    """Killed while a checkpoint is being written: no truncated file under a final name; resume uses the last
    whole one, and the saver's start removes the leftover temporary file."""
    process = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path)], cwd=REPO)
    deadline = time.monotonic() + 120
    # wait until epoch 1 is complete and a later write is under way
    while not (CheckpointSeries(tmp_path).files() and list(tmp_path.glob(f".*{TEMPORARY_MARK}*"))):
        assert process.poll() is None and time.monotonic() < deadline, "the writer ended or never wrote"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    leftovers = list(tmp_path.glob(f".*{TEMPORARY_MARK}*"))
    assert leftovers, "the kill landed inside a write"
    series = CheckpointSeries(tmp_path)
    newest = series.files()[0]
    found = series.load_latest()  # every file under a final name is whole: no fallback warning is needed
    assert found.path == newest[1] and found.state["trainer"]["epoch"] == newest[0]
    assert torch.all(found.state["w"] == float(newest[0]))
    assert series.remove_stale_temporaries() == leftovers and not list(tmp_path.glob(".*"))


def _limit_file_size(limit: int):
    def limit_in_child() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write then fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_in_child


@pytest.mark.slow
def test_full_disk_on_output_write(tmp_path, synthetic_dir):
    """A real file-size limit (RLIMIT_FSIZE, what a full disk looks like to the writer): the run fails with an
    error naming the file and the OS's reason, and no truncated model.pt or checkpoint is left."""
    command = [
        sys.executable,
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        "configs/train.yaml",
        "--bundle_root",
        str(tmp_path),
        "--dataset_dir",
        str(synthetic_dir),
        *CLI_TINY,
    ]
    # TensorBoard event files (a few KB) fit; the model (~0.4 MB) does not
    result = subprocess.run(
        command,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size(150_000),
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode != 0
    assert (
        f"OSError: [Errno 27] could not write '{tmp_path / 'models' / 'model.pt'}': File too large; it was "
        "not changed" in result.stderr
    ), result.stderr[-3000:]
    models = tmp_path / "models"
    assert not models.exists() or list(models.iterdir()) == [], "no partial or truncated file"


def _workflow(tmp_path, synthetic_dir, **overrides) -> ConfigWorkflow:
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "train.yaml"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train",
        bundle_root=str(tmp_path),
        dataset_dir=str(synthetic_dir),
        **{**TINY_TRAIN, **overrides},
    )
    workflow.initialize()
    return workflow


# lr 1e30: the first AdamW step moves every weight by ~1e30, the next forward pass overflows and the loss is NaN
DIVERGING = {"lr": 1e30, "epoch_length": 3}


def _snapshot_after_first_iteration(workflow) -> dict[str, torch.Tensor]:
    trainer = workflow.parser.get_parsed_content("train#trainer")
    network = workflow.parser.get_parsed_content("network")
    snapshot: dict[str, torch.Tensor] = {}

    @trainer.on(Events.ITERATION_COMPLETED(once=1))
    def keep(_):
        snapshot.update({k: v.detach().clone() for k, v in network.state_dict().items()})

    return snapshot


def test_nan_loss_stops_naming_the_batch(tmp_path, synthetic_dir):
    workflow = _workflow(tmp_path, synthetic_dir, **DIVERGING)
    weights = _snapshot_after_first_iteration(workflow)
    with pytest.raises(RuntimeError) as raised:  # MONAI wraps errors of config expressions
        workflow.run()
    assert isinstance(raised.value.__cause__, NonFiniteLossError), raised.value
    message = str(raised.value.__cause__)
    assert message.startswith("loss is nan at epoch 1, iteration 2; batch files: ")
    assert str(synthetic_dir / "imagesTr" / "sphere_00") in message and "--non_finite_loss skip" in message
    network = workflow.parser.get_parsed_content("network")
    for name, value in network.named_parameters():  # stopped before the NaN reached the weights
        assert torch.equal(value, weights[name]), name
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").glob("checkpoint_*"))


def test_nan_loss_skip_and_count(tmp_path, synthetic_dir):
    workflow = _workflow(tmp_path, synthetic_dir, non_finite_loss="skip", **DIVERGING)
    weights = _snapshot_after_first_iteration(workflow)
    workflow.run()
    workflow.finalize()
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == 3 and trainer.state.non_finite_losses == 2
    # both NaN batches were skipped whole: no step, no weight decay, no momentum -- the weights of iteration 1
    network = workflow.parser.get_parsed_content("network")
    for name, value in network.state_dict().items():  # parameters and BatchNorm statistics
        assert torch.equal(value, weights[name]), name
    assert (tmp_path / "models" / "checkpoint_epoch_0001.pt").is_file()
