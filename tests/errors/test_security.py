"""Security (issue 9, part 6): no file is unpickled, and nothing listens on a network port."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigWorkflow
from monai_unet_bundle.checkpoints import CheckpointError
from monai_unet_bundle.checks import UnsafeCheckpointError, checked_checkpoint
from tests.conftest import CONFIGS, REPO, TINY_TRAIN, write_nifti
from tests.errors.conftest import AFFINE_2MM, noise


class _Payload:
    """Unpickling this object would create ``marker``: proof of whether a loader ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


def _pickled_checkpoint(path: Path, marker: Path, state: dict | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({**(state or {}), "payload": _Payload(marker)}, path)
    return path


def test_pickled_object_checkpoint_refused_by_the_inference_config(tmp_path, trained_bundle):
    """configs/inference.yaml's CheckpointLoader path: refused with the file named, the payload never runs."""
    marker = tmp_path / "payload-ran"
    weights = torch.load(trained_bundle / "models" / "model.pt", weights_only=True)
    checkpoint = _pickled_checkpoint(tmp_path / "model.pt", marker, weights)
    write_nifti(tmp_path / "in" / "case.nii.gz", noise(), AFFINE_2MM)
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "inference.yaml"),
        meta_file=str(CONFIGS / "metadata.json"),
        workflow_type="infer",
        bundle_root=str(trained_bundle),
        ckpt_path=str(checkpoint),
        dataset_dir=str(tmp_path / "in"),
        output_dir=str(tmp_path / "out"),
        roi_size=[16, 16, 16],
        **{"network_def#features": [4, 8, 16, 32]},
    )

    def initialize_and_run():
        workflow.initialize()
        workflow.run()

    with pytest.raises(RuntimeError) as raised:
        initialize_and_run()
    error = raised.value.__cause__
    assert isinstance(error, UnsafeCheckpointError), raised.value
    assert str(error).startswith(
        f"checkpoint '{checkpoint}' refused: it holds a pickled Python object "
        "(io.open), and checkpoints are loaded with torch.load(weights_only=True)"
    )
    assert not marker.exists() and not (tmp_path / "out").exists()
    checked_checkpoint(trained_bundle / "models" / "model.pt")  # a plain state_dict passes


def test_pickled_object_checkpoint_refused_by_resume(tmp_path, synthetic_dir):
    """The resume loader (train.yaml, --resume true): the file is named, the payload never runs, nothing is
    overwritten."""
    marker = tmp_path / "payload-ran"
    checkpoint = _pickled_checkpoint(
        tmp_path / "models" / "checkpoint_epoch_0001.pt", marker, {"trainer": {"epoch": 1}}
    )
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "train.yaml"),
        meta_file=str(CONFIGS / "metadata.json"),
        workflow_type="train",
        bundle_root=str(tmp_path),
        dataset_dir=str(synthetic_dir),
        resume=True,
        **TINY_TRAIN,
    )
    workflow.initialize()
    with pytest.raises(RuntimeError) as raised:
        workflow.run()
    error = raised.value.__cause__
    assert isinstance(error, CheckpointError), raised.value
    assert (
        f"no usable checkpoint in '{tmp_path / 'models'}': {checkpoint} (UnpicklingError: Weights only load "
        "failed" in str(error)
    )
    assert "Unsupported global: GLOBAL io.open" in str(error)
    assert not marker.exists()
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["checkpoint_epoch_0001.pt"]


_TRAIN_THEN_PREDICT_SOURCE = """
    import sys
    from monai.bundle import run
    from monai_unet_bundle.__main__ import main
    root, data, images = sys.argv[1:4]
    tiny = dict(max_epochs=1, epoch_length=2, val_interval=1, roi_size=[16, 16, 16], num_samples=2, cache_rate=0.0)
    tiny["network_def#features"] = [4, 8, 16, 32]
    run(config_file="configs/train.yaml", bundle_root=root, dataset_dir=data, **tiny)
    status = main(["predict", images, "--output-dir", root + "/out", "--model", root + "/models/model.pt",
                   "--roi-size", "16", "16", "16", "--set", "network_def#features=[4,8,16,32]", "--no-progress"])
    sys.exit(status)
"""
_TRAIN_THEN_PREDICT = textwrap.dedent(_TRAIN_THEN_PREDICT_SOURCE)


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _listening(pid: int) -> list[str]:
    """Listening TCP sockets and bound UDP sockets owned by ``pid`` (from /proc/<pid>/net and its fds)."""
    owned = _socket_inodes(pid)
    found = []
    for table, states in (("tcp", {"0A"}), ("tcp6", {"0A"}), ("udp", {"07"}), ("udp6", {"07"})):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] in states and fields[9] in owned:
                found.append(f"{table} {fields[1]}")
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_no_listening_socket_during_training_and_inference(tmp_path, synthetic_dir):
    """A short training and a prediction in one process, watched every few ms: it never listens on a port."""
    log = tmp_path / "run.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                _TRAIN_THEN_PREDICT,
                str(tmp_path),
                str(synthetic_dir),
                str(synthetic_dir / "imagesTr" / "sphere_003.nii.gz"),
            ],
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    seen: list[str] = []
    samples = 0
    while process.poll() is None:
        try:
            seen += _listening(process.pid)
            samples += 1
        except (FileNotFoundError, ProcessLookupError):
            break  # the process ended between poll() and the read
        time.sleep(0.01)
    process.wait()
    output = log.read_text()
    assert process.returncode == 0, output[-3000:]
    assert samples > 20, "the process was watched while it ran"
    assert seen == [], f"listening sockets: {sorted(set(seen))}"
    assert (tmp_path / "out" / "sphere_003_seg.nii.gz").is_file()
