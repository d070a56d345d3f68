"""nuclei2d result run, smoke mode: real bundle training and prediction in subprocesses, then metrics and pictures."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from monai_unet_bundle.results.nuclei2d import foreground_dice, train_command

REPO = Path(__file__).resolve().parents[2]


def test_foreground_dice():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    a[:2], b[1:3] = 1, 1
    assert foreground_dice(a, b) == pytest.approx(0.5) and foreground_dice(a, a) == 1.0


def test_the_two_variants_differ_only_in_the_weight_map(tmp_path):
    weighted = train_command(tmp_path / "a", tmp_path / "data", "weight_map", {"max_epochs": 3})
    plain = train_command(tmp_path / "a", tmp_path / "data", "no_weight_map", {"max_epochs": 3})
    assert plain[:len(weighted)] == weighted and plain[len(weighted):] == ["--w0", "0", "--class_weights", "$None"]
    assert weighted[:4] == [sys.executable, "-m", "monai.bundle", "run"] and "--seed" in weighted


@pytest.mark.slow
def test_quick_run_writes_json_table_and_pictures(tmp_path, capsys):
    from monai_unet_bundle.results.nuclei2d import main

    docs = tmp_path / "docs"
    repo_model = REPO / "models" / "model.pt"
    before = repo_model.stat().st_mtime_ns if repo_model.exists() else None
    assert main(["--quick", "--runs-dir", str(tmp_path / "runs"), "--docs-dir", str(docs)]) == 0
    result = json.loads((docs / "results" / "nuclei2d.json").read_text())
    assert set(result["variants"]) == {"weight_map", "no_weight_map"} and result["quick"]
    for entry in result["variants"].values():
        assert 0.0 <= entry["foreground_dice"] <= 1.0
        assert entry["touching_pairs"] == 8 and 0 <= entry["pairs_separated"] <= 8  # the held-out rows' 8 pairs
        assert entry["final_epoch"] == 1 and entry["validation_during_training"][0]["epoch"] == 1
    rows = (docs / "results" / "nuclei2d.md").read_text().splitlines()
    assert len(rows) == 4 and all(row.startswith("| nuclei2d |") for row in rows)
    assert rows[0] in capsys.readouterr().out
    for name in ("nuclei2d_overlay.png", "nuclei2d_curves.png"):
        assert (docs / "images" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the runs train in their own bundle_root: the repository's model is never touched
    assert (repo_model.stat().st_mtime_ns if repo_model.exists() else None) == before
    assert (tmp_path / "runs" / "weight_map" / "models" / "model.pt").is_file()
