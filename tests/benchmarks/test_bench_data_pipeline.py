"""bench_data_pipeline in its smoke mode on the real configs: rates and the waiting fraction for both tasks."""

import json

import pytest
from benchmarks.bench_data_pipeline import main


@pytest.mark.slow
def test_quick_mode_times_pipeline_and_steps_of_both_tasks(tmp_path, capsys):
    out = tmp_path / "data_pipeline.json"
    result = main(["--quick", "--out", str(out)])
    names = [line.split(":")[0] for line in capsys.readouterr().out.splitlines() if ": ours " in line]
    assert names == ["data_pipeline_brain3d", "data_wait_brain3d", "data_pipeline_nuclei2d", "data_wait_nuclei2d"]
    assert set(json.loads(out.read_text())["tasks"]) == {"brain3d", "nuclei2d"}
    for task in result["tasks"].values():
        assert len(task["wait_s"]) == len(task["compute_s"]) == 1  # 1 timed iteration after 2 warm-up
        assert 0.0 < task["wait_fraction"] < 1.0
        assert task["ratio"] == pytest.approx(task["pipeline_batches_per_s"] / task["train_steps_per_s"])
