"""Clicks-to-Dice result run, smoke mode on nuclei2d (2D, quick): train through the bundle, simulate clicks, publish."""

import json
from pathlib import Path

import pytest
from results.interactive import REPORTED_CLICKS, TASKS, config_files


def test_every_task_trains_with_the_deepedit_override_last():
    for spec in TASKS.values():
        assert spec["configs"][0] == "configs/train.yaml" and spec["configs"][-1] == "configs/deepedit/train.yaml"
        assert all((Path(__file__).resolve().parents[2] / c).is_file() for c in spec["configs"])
    assert config_files(["a.yaml", "b.yaml"]) == "['a.yaml','b.yaml']"
    assert REPORTED_CLICKS == (0, 1, 3, 5, 10)


@pytest.mark.slow
def test_quick_run_writes_dice_by_clicks_and_the_plot(tmp_path):
    from results.interactive import main

    docs = tmp_path / "docs"
    args = ["--quick", "--tasks", "nuclei2d", "--max-clicks", "2", "--runs-dir", str(tmp_path / "runs")]
    assert main([*args, "--docs-dir", str(docs), "--data-root", str(tmp_path / "data")]) == 0
    entry = json.loads((docs / "results" / "interactive.json").read_text())["tasks"]["nuclei2d"]
    assert len(entry["dice_by_clicks"]) == 3 and all(0.0 <= d <= 1.0 for d in entry["dice_by_clicks"])
    assert entry["clicks_to_dice_0.90"] is None or 0 <= entry["clicks_to_dice_0.90"] <= 2
    # the click network starts from the automatic one trained first, whose own Dice is the reference
    automatic = tmp_path / "runs" / "nuclei2d_automatic" / "final" / "model.pt"
    assert automatic.is_file() and f"--pretrained_automatic {automatic}" in entry["train_command"]
    assert "configs/deepedit" not in entry["automatic_train_command"]
    assert 0.0 <= entry["automatic_dice"] <= 1.0 and list(entry["automatic_class_dice"]) == ["nucleus"]
    assert entry["class_dice_by_clicks"]["nucleus"] == pytest.approx(entry["dice_by_clicks"])
    assert sum(len(points) for points in next(iter(entry["clicks_given"].values())).values()) <= 2
    rows = (docs / "results" / "interactive.md").read_text().splitlines()
    bound = "Dice after clicks if each fixed its error region whole (the protocol's bound)"
    changed = "voxels a click fixes / breaks (mean of clicks 1-10)"
    assert [r.split(" | ")[2] for r in rows] == ["Dice after clicks", bound, "clicks to Dice 0.90", changed]
    # per click what it fixed and broke: the wrong voxels left after the clicks cannot go below zero
    changes = next(iter(entry["voxels_fixed_broken_by_click"].values()))
    given = sum(len(points) for points in next(iter(entry["clicks_given"].values())).values())
    assert len(changes) == given >= 1, "one (fixed, broken) count per click the user gave"
    # two classes: a voxel that changes goes from wrong to right or back, so the Dice moves with the counts
    dice = entry["dice_by_clicks"]
    for k, (f, b) in enumerate(changes):
        if f == b == 0:
            assert dice[k + 1] == pytest.approx(dice[k])
        elif b == 0:
            assert dice[k + 1] > dice[k]
        elif f == 0:
            assert dice[k + 1] < dice[k]
    assert entry["wrong_voxels_0_clicks"] - sum(f - b for f, b in changes) >= 0
    assert entry["voxels_fixed_per_click_1_10"] == pytest.approx(sum(f for f, _ in changes) / len(changes))
    assert entry["region_oracle_voxels_fixed_per_click_1_10"] >= 1  # a bound click fixes at least its own voxel
    # the bound starts from the network's own 0-click prediction and never falls
    oracle = entry["region_oracle_dice_by_clicks"]
    assert len(oracle) == 3 and oracle[0] == pytest.approx(entry["dice_by_clicks"][0])
    assert all(later >= earlier for earlier, later in zip(oracle, oracle[1:]))
    assert (docs / "images" / "interactive_clicks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
