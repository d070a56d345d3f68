"""End to end: the nuclei2d task (weight map, elastic, safe crops, weighted loss) via `python -m monai.bundle run`."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_nuclei2d_trains_one_epoch_with_the_weighted_loss(tmp_path):
    data = tmp_path / "nuclei2d"
    subprocess.run(
        [sys.executable, "-m", "monai_unet_bundle.data", "nuclei2d", "--out", str(data)],
        check=True,
        cwd=REPO,
        capture_output=True,
    )
    cmd = [
        sys.executable, "-m", "monai.bundle", "run",
        "--config_file", "['configs/train.yaml','configs/nuclei2d.yaml']",
        "--bundle_root", str(tmp_path), "--dataset_dir", str(data),
        "--max_epochs", "1", "--epoch_length", "3", "--val_interval", "1", "--num_samples", "2", "--log_every", "1",
    ]  # fmt: skip
    run = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]
    losses = [float(v) for v in re.findall(r"train_loss: ([0-9.]+)", log)]
    assert losses and all(0 < v < 20 for v in losses), log[-2000:]
    metrics = re.search(r"val_mean_dice: ([0-9.]+) val_pairs_separated: ([0-9.]+)", log)
    assert metrics, log[-2000:]
    dice, pairs = float(metrics.group(1)), float(metrics.group(2))
    assert 0.0 <= dice <= 1.0 and pairs in {float(n) for n in range(9)}  # 8 touching pairs in the held-out rows
    state = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    assert any(k.endswith("weight") for k in state)
