"""`channels_last: true` in a real `python -m monai.bundle run` training: it trains, and in channels-last layout."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from tests.conftest import REPO


@pytest.mark.slow
def test_a_tiny_channels_last_training_run_through_the_bundle_cli(tmp_path, synthetic_dir):
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", "configs/train.yaml"]
    command += ["--bundle_root", str(tmp_path), "--dataset_dir", str(synthetic_dir), "--channels_last", "true"]
    command += ["--max_epochs", "1", "--epoch_length", "2", "--val_interval", "1", "--roi_size", "[16,16,16]"]
    command += ["--num_samples", "2", "--network_def#features", "[4,8,16,32]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    state = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    kernels = [w for w in state.values() if w.dim() == 5 and w.shape[1] > 1 and w.shape[2] > 1]
    assert kernels and all(w.is_contiguous(memory_format=torch.channels_last_3d) for w in kernels)
    assert not any(w.is_contiguous() for w in kernels)  # trained in channels-last layout, saved as trained
    assert all(torch.isfinite(w).all() for w in state.values() if w.is_floating_point())
