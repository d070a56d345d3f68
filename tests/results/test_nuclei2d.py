"""nuclei2d result run, smoke mode: real bundle training and prediction in subprocesses, then metrics and pictures."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from results.nuclei2d import foreground_dice, summarise, table_values, train_command

REPO = Path(__file__).resolve().parents[2]


def test_foreground_dice():
    a = np.zeros((4, 4), np.uint8)
    b = a.copy()
    a[:2], b[1:3] = 1, 1
    assert foreground_dice(a, b) == pytest.approx(0.5) and foreground_dice(a, a) == 1.0


def test_the_two_variants_differ_only_in_the_weight_map(tmp_path):
    weighted = train_command(tmp_path / "a", tmp_path / "data", "weight_map", {"max_epochs": 3})
    plain = train_command(tmp_path / "a", tmp_path / "data", "no_weight_map", {"max_epochs": 3})
    assert plain[: len(weighted)] == weighted and plain[len(weighted) :] == ["--w0", "0", "--class_weights", "$None"]
    assert weighted[:4] == [sys.executable, "-m", "monai.bundle", "run"]
    assert weighted[weighted.index("--seed") + 1] == "0"
    assert train_command(tmp_path, tmp_path, "weight_map", {}, seed=2)[weighted.index("--seed") + 1] == "2"


def test_seeds_are_summarised_by_their_mean_and_listed_in_seed_order():
    runs = {
        2: {"foreground_dice": 0.90, "pairs_separated": 1, "touching_pairs": 8},
        0: {"foreground_dice": 0.94, "pairs_separated": 3, "touching_pairs": 8},
    }
    entry = summarise(runs)
    assert entry["seeds"] == [0, 2] and entry["foreground_dice"] == pytest.approx(0.92)
    assert entry["pairs_separated_per_seed"] == [3, 1] and entry["pairs_separated"] == 2.0
    assert table_values(entry) == ("mean 0.920; seeds 0, 2: 0.940, 0.900", "mean 2.00 / 8; seeds 0, 2: 3, 1")
    assert table_values(summarise({0: runs[0]})) == ("0.940 (seed 0)", "3 / 8 (seed 0)")


@pytest.mark.slow
def test_quick_run_writes_json_table_and_pictures(tmp_path, capsys):
    from results.nuclei2d import main

    docs = tmp_path / "docs"
    repo_model = REPO / "models" / "model.pt"
    before = repo_model.stat().st_mtime_ns if repo_model.exists() else None
    assert main(["--quick", "--runs-dir", str(tmp_path / "runs"), "--docs-dir", str(docs)]) == 0
    result = json.loads((docs / "results" / "nuclei2d.json").read_text())
    assert set(result["variants"]) == {"weight_map", "no_weight_map"} and result["quick"]
    for entry in result["variants"].values():
        assert entry["seeds"] == [0] and list(entry["runs"]) == ["0"]
        assert 0.0 <= entry["foreground_dice"] <= 1.0
        assert entry["touching_pairs"] == 8 and 0 <= entry["pairs_separated"] <= 8  # the held-out rows' 8 pairs
        run = entry["runs"]["0"]
        assert run["final_epoch"] == 1 and run["validation_during_training"][0]["epoch"] == 1
    rows = (docs / "results" / "nuclei2d.md").read_text().splitlines()
    assert len(rows) == 4 and all(row.startswith("| nuclei2d |") for row in rows)
    assert rows[0] in capsys.readouterr().out
    for name in ("nuclei2d_overlay.png", "nuclei2d_curves.png"):
        assert (docs / "images" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the runs train in their own bundle_root: the repository's model is never touched
    assert (repo_model.stat().st_mtime_ns if repo_model.exists() else None) == before
    assert (tmp_path / "runs" / "weight_map" / "seed0" / "models" / "model.pt").is_file()
