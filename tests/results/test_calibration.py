"""results.calibration: the commands it runs, the Dice it computes, the rows it publishes, and a smoke run."""

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from results.calibration import mean_dice, predict_command, scored_prediction, table_rows
from results.tables import TASKS


def test_mean_dice_over_the_classes_present():
    label = np.array([0, 1, 1, 2, 2, 0])
    prediction = np.array([0, 1, 0, 2, 2, 3])
    # class 1: 2*1/(1+2); class 2: 1.0; class 3: predicted only, 0.0
    assert mean_dice(prediction, label, 4) == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert mean_dice(np.zeros(4), np.zeros(4), 2) == 1.0


def test_plain_softmax_run_switches_the_temperature_off(tmp_path):
    args = (Path("m.pt"), Path("d.json"), tmp_path, {"roi_size": "[32,32,32]"})
    before = predict_command("brain3d", *args, calibrated=False)
    after = predict_command("brain3d", *args, calibrated=True)
    assert before[-2:] == ["--temperature_file", "$None"] and "--temperature_file" not in after
    assert "--save_probabilities" in after and after[after.index("--roi_size") + 1] == "[32,32,32]"
    assert predict_command("nuclei2d", *args, calibrated=False)[-2:] == ["--temperature_file", "$None"]


def test_scored_prediction_reads_the_written_files(tmp_path):
    label = np.zeros((4, 4, 2), np.int64)
    label[:2] = 1
    seg = label.copy()
    seg[0, 0, 0] = 0  # one voxel missed
    prob = np.stack([1.0 - seg, seg], axis=-1).astype(np.float32)  # certain everywhere
    nib.save(nib.Nifti1Image(seg.astype(np.uint8), np.eye(4)), str(tmp_path / "case_seg.nii.gz"))
    nib.save(nib.Nifti1Image(prob, np.eye(4)), str(tmp_path / "case_prob.nii.gz"))
    (tmp_path / "case_qc.json").write_text(json.dumps({"confidence": 1.0, "softmax_temperature": 1.0}))
    scored = scored_prediction(tmp_path, "/in/case.nii.gz", label, 2)
    assert scored["mean_dice"] == pytest.approx(2 * 15 / (15 + 16))
    # confidence 1 everywhere, one voxel of 32 wrong; of the 16 foreground-or-predicted voxels, that one
    assert scored["ece_all"] == pytest.approx(1 / 32) and scored["ece_foreground"] == pytest.approx(1 / 16)


def test_rows_state_t_ece_nll_dice_and_the_budget():
    entry = {
        "title": "UNet 3D",
        "budget": {"max_epochs": 6, "epoch_length": 10},
        "fit": {
            "temperature": 1.5,
            "before": {"nll": 0.3, "ece_all": 0.02, "ece_foreground": 0.1},
            "after": {"nll": 0.25, "ece_all": 0.01, "ece_foreground": 0.04},
        },
        "predictions": {"before": {"mean_dice": 0.8}, "after": {"mean_dice": 0.8012}},
        "dice_change": 0.0012,
    }
    machine = {
        "cpu": "CPU",
        "cpu_count": 2,
        "cpu_bf16": "none",
        "load_average_1min": 3.0,
        "date_utc": "2026-12-03 19:00",
    }
    rows = table_rows({"datasets": {"brain3d": entry}, "machine": machine}, "python -m results.calibration")
    assert len(rows) == 3 and all(r.startswith("| calibration | brain3d: UNet 3D, 6 x 10 iterations |") for r in rows)
    assert "T 1.500; NLL 0.3000 → 0.2500" in rows[0]
    assert "fg-or-predicted-fg voxels 0.1000 → 0.0400; all voxels 0.0200 → 0.0100" in rows[1]
    assert "0.8000 → 0.8012 (change +0.0012)" in rows[2] and "CPU, 2 cores, bf16: none, load 3.0" in rows[2]
    assert "calibration" in TASKS


@pytest.mark.slow
def test_quick_run_fits_t_and_scores_the_2d_task(tmp_path):
    """nuclei2d only, to keep the suite short: the brain3d path differs only in its predict command (above)."""
    from results.calibration import main

    docs = tmp_path / "docs"
    args = ["--quick", "--datasets", "nuclei2d", "--runs-dir", str(tmp_path / "runs"), "--docs-dir", str(docs)]
    assert main(args) == 0
    result = json.loads((docs / "results" / "calibration.json").read_text())
    assert set(result["datasets"]) == {"nuclei2d"}
    for name, entry in result["datasets"].items():
        assert (tmp_path / "runs" / name / "final" / "temperature.json").is_file()
        assert 0.05 <= entry["temperature"] <= 20.0
        assert entry["predictions"]["before"]["qc_softmax_temperature"] == 1.0
        assert entry["predictions"]["after"]["qc_softmax_temperature"] == pytest.approx(entry["temperature"])
    assert len((docs / "results" / "calibration.md").read_text().splitlines()) == 3
