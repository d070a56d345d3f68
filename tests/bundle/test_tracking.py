"""MLflow tracking through MONAI's `--tracking mlflow` (skipped where mlflow is not installed: it is optional).

The documented command, in a subprocess; the run in the local store must hold the loss, the learning rate and
the per-class validation Dice by class name (MLflow rejects vector metrics, which PerClassMetrics splits)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import REPO, TINY_TRAIN, cli_overrides

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")  # MONAI's default store is an SQLite file next to the TensorBoard logs


@pytest.mark.slow
def test_tracking_mlflow_logs_named_metrics(tmp_path, synthetic_dir):
    from mlflow.tracking import MlflowClient

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
        *cli_overrides(TINY_TRAIN),
        "--tracking",
        "mlflow",
    ]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'eval' / 'mlruns.db'}")
    (experiment,) = [e for e in client.search_experiments() if e.name == "monai_experiment"]
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    names = ["class_1", "class_2", "class_3"]
    assert {"train_loss", "lr_group_0", "val_mean_dice", *(f"val_class_dice/{n}" for n in names)} <= set(
        run.data.metrics
    )
