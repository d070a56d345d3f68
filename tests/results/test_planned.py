"""Planned result run, smoke mode on nuclei2d: plan -> train (2 iterations) -> evaluate, the record and the rows."""

import json

import pytest


@pytest.mark.slow
def test_quick_planned_run_writes_the_plan_and_held_out_dice(tmp_path):
    from results.planned import main

    docs = tmp_path / "docs"
    argv = ["--quick", "--datasets", "nuclei2d", "--time-budget-min", "1", "--data-root", str(tmp_path / "data")]
    assert main(argv + ["--runs-dir", str(tmp_path / "runs"), "--docs-dir", str(docs)]) == 0
    entry = json.loads((docs / "results" / "planned.json").read_text())["nuclei2d"]
    assert entry["plan"]["spatial_dims"] == 2 and entry["plan"]["class_names"] == ["nucleus"]
    assert set(entry["planned"]["dice"]) == {"nucleus"} and 0.0 <= entry["planned"]["mean_dice"] <= 1.0
    assert "plan.yaml" in entry["planned"]["train_command"]
    (row,) = (docs / "results" / "planned.md").read_text().splitlines()
    assert row.startswith("| nuclei2d | UNet planned: patch ") and "held-out Dice" in row
