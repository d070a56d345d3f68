"""The literal torchrun commands of the docs, with 2 CPU processes (gloo): training writes from rank 0 only,
resumes under torchrun, and multi-process evaluation gathers the metrics of both ranks' cases."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
import torch
from monai_unet_bundle.networks import UNet
from tests.conftest import REPO, TINY_TRAIN, cli_overrides

TINY = cli_overrides(TINY_TRAIN, without=("max_epochs",))


def _torchrun(configs: list[str], *args: str) -> str:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes=1",
        "--nproc_per_node=2",
        "-m",
        "monai.bundle",
        "run",
        "--config_file",
        repr(configs),
        *args,
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)}\n{output[-5000:]}"
    return output


@pytest.fixture(scope="module")
def two_validation_cases(tmp_path_factory):
    """A synthetic MSD folder with 8 training and 2 validation volumes of 24^3 (one validation case per rank)."""
    from monai_unet_bundle.data import synthetic

    out = tmp_path_factory.mktemp("datasets") / "synthetic"
    synthetic.build(out, num_cases=10, size=24, seed=0)
    return out


@pytest.mark.slow
def test_torchrun_train_resume_and_evaluate(tmp_path, two_validation_cases):
    common = ["--bundle_root", str(tmp_path), "--dataset_dir", str(two_validation_cases), *TINY]
    train = ["configs/train.yaml", "configs/multi_gpu_train.yaml"]
    output = _torchrun(train, *common, "--max_epochs", "1")
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch_0001.pt", "model.pt"]
    assert output.count("saved full training state of epoch 1") == 1, "rank 0 alone writes checkpoints"
    writers = {p.name.split(".")[-2] for p in (tmp_path / "eval").glob("events.out.tfevents.*")}
    assert len(writers) == 1, f"TensorBoard files from one process only, got pids {writers}"

    best = torch.load(models / "model.pt", weights_only=True)
    assert not any(k.startswith("module.") for k in best), "the DDP wrapper is not part of the saved names"
    UNet(3, 1, 4, features=[4, 8, 16, 32], padding="same", norm="batch").load_state_dict(best)

    output = _torchrun(train, *common, "--max_epochs", "2", "--resume", "true")
    assert output.count(f"resumed from {models / 'checkpoint_epoch_0001.pt'}: epoch 1, iteration 2") == 2
    state = torch.load(models / "checkpoint_epoch_0002.pt", weights_only=True)
    assert state["trainer"]["epoch"] == 2 and state["trainer"]["iteration"] == 4

    _torchrun(
        [*train[:1], "configs/evaluate.yaml", "configs/multi_gpu_evaluate.yaml"],
        "--bundle_root",
        str(tmp_path),
        "--dataset_dir",
        str(two_validation_cases),
        "--roi_size",
        "[16,16,16]",
        "--network_def#features",
        "[4,8,16,32]",
    )
    evaluation = tmp_path / "eval" / "evaluation"
    with open(evaluation / "val_class_dice_raw.csv") as handle:
        rows = list(csv.reader(handle))
    assert sorted(row[0].rsplit("/", 1)[-1] for row in rows[1:]) == ["sphere_008.nii.gz", "sphere_009.nii.gz"]
    assert sorted(p.name for p in (evaluation / "predictions").iterdir()) == [
        "sphere_008_seg.nii.gz",
        "sphere_009_seg.nii.gz",
    ]
    # the temperature is fitted once, on the logits of both processes' cases, and written by rank 0
    temperature = json.loads((models / "temperature.json").read_text())
    assert temperature["cases"] == 2 and temperature["voxels"] == 2 * 24**3
