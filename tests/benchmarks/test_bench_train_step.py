"""bench_train_step in its smoke mode: both pairs measured, parameter counts similar, a result line each."""

import json

import pytest
from benchmarks.bench_train_step import main, pairs


def test_baselines_are_of_similar_size():
    for name, (ours, baseline, _) in pairs().items():
        n_ours = sum(p.numel() for p in ours.parameters())
        n_base = sum(p.numel() for p in baseline.parameters())
        assert 0.9 < n_base / n_ours < 1.1, (name, n_ours, n_base)


@pytest.mark.slow
def test_quick_mode_measures_both_pairs(tmp_path, capsys):
    out = tmp_path / "train_step.json"
    result = main(["--quick", "--out", str(out)])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["train_step_unet3d", "train_step_u2net_lite3d"]
    assert all(" patches/s, baseline " in line and ", ratio " in line for line in lines)
    assert json.loads(out.read_text()) == json.loads(json.dumps(result))
    for entry in result["networks"].values():
        assert entry["ours_patches_per_s"] > 0 and entry["baseline_patches_per_s"] > 0
        assert entry["ratio"] == pytest.approx(entry["ours_patches_per_s"] / entry["baseline_patches_per_s"])
