"""One prediction path: the validation Dice of training is the Dice of the files `predict` writes for those cases.

Real commands in subprocesses: `python -m monai.bundle run` trains one epoch (validated once, so models/model.pt is
the validated network and the checkpoint holds its val_mean_dice), then `python -m monai_unet_bundle predict`
segments the validation images with it, and the Dice of the written files against the label files is computed
here with numpy, as MONAI's MeanDice reduces it (mean over all case x foreground-class pairs where the class is in
the ground truth).
"""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import torch
from monai_unet_bundle.data import synthetic, training_datalist
from monai_unet_bundle.prediction import PredictionOutput
from tests.conftest import REPO, TINY_TRAIN


def _run(*command: str) -> None:
    result = subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def _offline_dice(predictions: list[np.ndarray], labels: list[np.ndarray], num_classes: int) -> float:
    scores = []
    for prediction, label in zip(predictions, labels):
        for c in range(1, num_classes):
            truth, guess = label == c, prediction == c
            if truth.any():  # MeanDice's ignore_empty: a class absent from the ground truth is not scored
                scores.append(2.0 * np.logical_and(truth, guess).sum() / (truth.sum() + guess.sum()))
    return float(np.mean(scores))


@pytest.mark.slow
def test_validation_dice_equals_the_dice_of_the_predicted_files(tmp_path):
    data = synthetic.build(
        tmp_path / "synthetic", num_cases=8, size=32, seed=0
    ).parent  # 32^3 at 2 mm, 2 for validation
    validation = training_datalist(data, "validation")
    assert len(validation) == 2
    # a 3 mm network grid: predictions go back to the 2 mm input grid, in validation as in predict
    overrides = [f"--{key}={json.dumps(value)}" for key, value in {**TINY_TRAIN, "pixdim": [3.0, 3.0, 3.0]}.items()]
    _run("-m", "monai.bundle", "run", "--config_file", "configs/train.yaml", "--bundle_root", str(tmp_path),
         "--dataset_dir", str(data), *overrides)  # fmt: skip
    state = torch.load(tmp_path / "models" / "checkpoint_epoch_0001.pt", weights_only=True)
    validation_dice = state["best_model"]["best_metric"]
    assert state["best_model"]["best_epoch"] == 1 and 0.0 < validation_dice < 1.0

    out = tmp_path / "predicted"
    _run("-m", "monai_unet_bundle", "predict", *[item["image"] for item in validation], "--output-dir", str(out),
         "--model", str(tmp_path / "models" / "model.pt"), "--roi-size", "16", "16", "16", "--no-progress",
         "--set", "network_def#features=[4,8,16,32]", "--set", "pixdim=[3.0,3.0,3.0]")  # fmt: skip
    output = PredictionOutput()
    predictions = [np.asarray(nib.load(output.path(item["image"], out)).dataobj) for item in validation]
    labels = [np.asarray(nib.load(item["label"]).dataobj) for item in validation]
    assert all(p.shape == label.shape == (32, 32, 32) for p, label in zip(predictions, labels))
    assert _offline_dice(predictions, labels, num_classes=4) == pytest.approx(validation_dice, abs=1e-6)
