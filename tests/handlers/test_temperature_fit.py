"""TemperatureFitter: the subsample it keeps, the record it writes, and the real evaluate step that runs it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from monai_unet_bundle.evaluation import fit_temperature
from monai_unet_bundle.handlers import TemperatureFitter
from tests.conftest import REPO


def _engine(logits: torch.Tensor, label: torch.Tensor) -> SimpleNamespace:
    return SimpleNamespace(state=SimpleNamespace(output={"pred": logits, "label": label}))


def test_fit_on_collected_cases_writes_the_record(tmp_path):
    generator = torch.Generator().manual_seed(0)
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    fitter = TemperatureFitter(tmp_path / "temperature.json", model_path=model, max_voxels_per_case=100)
    cases = []
    for _ in range(2):
        label = torch.randint(0, 3, (1, 1, 10, 10, 10), generator=generator)
        # overconfident: the right class gets +6, plus noise
        logits = torch.nn.functional.one_hot(label[:, 0], 3).permute(0, 4, 1, 2, 3).float() * 6.0
        logits += torch.randn(logits.shape, generator=generator) * 3.0
        fitter.collect(_engine(logits, label))
        cases.append((logits, label))
    record = fitter.fit()
    # every 10th of the 1000 voxels of each case, in a fixed order: the same fit as on that subsample by hand
    kept_logits = torch.cat([c[0].reshape(3, -1).T[::10] for c in cases])
    kept_labels = torch.cat([c[1].reshape(-1)[::10] for c in cases])
    assert record["voxels"] == 200 and record["cases"] == 2
    assert record["temperature"] == pytest.approx(fit_temperature(kept_logits, kept_labels))
    assert record["model_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert record["after"]["nll"] <= record["before"]["nll"]
    assert set(record["before"]) == {"nll", "ece_all", "ece_foreground", "foreground_voxels"}
    assert json.loads((tmp_path / "temperature.json").read_text()) == record
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "written atomically"


def test_labels_off_the_logits_grid_are_refused(tmp_path):
    fitter = TemperatureFitter(tmp_path / "temperature.json")
    with pytest.raises(ValueError, match="network grid"):
        fitter.collect(_engine(torch.zeros(1, 2, 4, 4), torch.zeros(1, 1, 4, 5)))
    assert fitter.fit() is None and not (tmp_path / "temperature.json").exists()


@pytest.mark.slow
def test_evaluate_step_fits_the_temperature_beside_model_pt(tmp_path, trained_bundle, synthetic_dir):
    """`python -m monai.bundle run` of train.yaml + evaluate.yaml writes models/temperature.json for models/model.pt."""
    (tmp_path / "models").mkdir()
    shutil.copy(trained_bundle / "models" / "model.pt", tmp_path / "models" / "model.pt")
    configs = "['configs/train.yaml','configs/evaluate.yaml']"
    command = [sys.executable, "-m", "monai.bundle", "run", "--config_file", configs]
    command += ["--bundle_root", str(tmp_path), "--dataset_dir", str(synthetic_dir), "--cache_rate", "0.0"]
    command += ["--roi_size", "[16,16,16]", "--network_def#features", "[4,8,16,32]"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["model.pt", "temperature.json"]
    record = json.loads((tmp_path / "models" / "temperature.json").read_text())
    digest = hashlib.sha256((tmp_path / "models" / "model.pt").read_bytes()).hexdigest()
    assert record["model_sha256"] == digest and record["model"] == str(tmp_path / "models" / "model.pt")
    assert record["cases"] == 1 and record["voxels"] == 32**3  # the synthetic validation case on its 1 mm grid
    assert 0.05 <= record["temperature"] <= 20.0 and record["n_bins"] == 15
    assert record["after"]["nll"] <= record["before"]["nll"]
    assert "temperature" in result.stdout + result.stderr
