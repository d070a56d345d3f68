"""brain3d result run, smoke mode (U2-Net-lite only, to keep it short): train, evaluate, metrics, pictures."""

import json

import pytest
from results.brain3d import config_files, read_metrics


def test_config_files_is_a_bundle_list():
    assert config_files(["configs/train.yaml", "configs/u2net.yaml"]) == "['configs/train.yaml','configs/u2net.yaml']"


def test_read_metrics_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="metrics.csv"):
        read_metrics(tmp_path / "metrics.csv")
    (tmp_path / "metrics.csv").write_text("val_mean_dice,0.5\nval_hd95/csf,3.25\n")
    assert read_metrics(tmp_path / "metrics.csv") == {"val_mean_dice": 0.5, "val_hd95/csf": 3.25}


@pytest.mark.slow
def test_quick_run_writes_per_class_dice_hd95_and_pictures(tmp_path):
    from results.brain3d import main

    docs = tmp_path / "docs"
    assert (
        main(["--quick", "--networks", "u2net_lite", "--runs-dir", str(tmp_path / "runs"), "--docs-dir", str(docs)])
        == 0
    )
    entry = json.loads((docs / "results" / "brain3d.json").read_text())["networks"]["u2net_lite"]
    assert set(entry["dice"]) == set(entry["hd95_mm"]) == {"csf", "gray_matter", "white_matter"}
    assert all(0.0 <= v <= 1.0 for v in entry["dice"].values())
    assert all(v >= 0.0 or v != v for v in entry["hd95_mm"].values())  # NaN where a class is never predicted
    assert (tmp_path / "runs" / "u2net_lite" / "final" / "model.pt").is_file()
    rows = (docs / "results" / "brain3d.md").read_text().splitlines()
    assert [r.split(" | ")[2] for r in rows] == ["Dice", "HD95 (mm)"]
    for name in ("brain3d_overlay_u2net_lite.png", "brain3d_curves.png"):
        assert (docs / "images" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
