"""`python -m benchmarks`: runs the benchmarks in subprocesses, passes their result lines through, writes a summary."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.__main__ import LINE, commands, markdown_table, publish_refusal

REPO = Path(__file__).resolve().parents[2]


def test_result_line_pattern_splits_name_ours_baseline_ratio():
    match = LINE.match("weight_map: ours 50.0 ms, baseline 1711.3 ms, ratio 34.2 (max |diff| 6.02e-05)")
    assert match and match["name"] == "weight_map" and match["ours"] == "50.0 ms"
    assert match["baseline"] == "1711.3 ms" and match["ratio"] == "34.2 (max |diff| 6.02e-05)"
    assert LINE.match("loading: ours took 3 s") is None
    match = LINE.match(
        "160x160x160 argmax agreement (trained weights): ours 99.960% of voxels equal to the "
        "baseline's, baseline 100%, ratio 0.9996"
    )
    assert match and match["name"] == "160x160x160 argmax agreement (trained weights)" and match["ratio"] == "0.9996"


def test_every_benchmark_script_exists_and_full_adds_the_large_volume():
    quick, default, full = commands(False, True, None), commands(False, False, None), commands(True, False, None)
    assert set(default) == {
        "peak_share",
        "end_to_end",
        "weight_map",
        "elastic",
        "train_step",
        "data_pipeline",
        "inference",
        "inference_rss",
    }
    for args in default.values():
        assert (REPO / "benchmarks" / args[0]).is_file()
    assert "300,370,320" in full["inference"] and "--e2e" in full["inference"]
    assert "300,370,320" not in default["inference"] and "--quick" in quick["train_step"]


def test_the_nnunet_comparison_runs_only_with_peers():
    assert "vs_nnunet" not in commands(False, False, None)
    peers = commands(False, False, None, peers=True)
    assert peers["vs_nnunet"] == ["bench_vs_nnunet.py"] and (REPO / "benchmarks" / "bench_vs_nnunet.py").is_file()
    assert commands(False, True, None, peers=True, publish=False)["vs_nnunet"][1:] == ["--quick", "--no-publish"]


@pytest.mark.slow
def test_runner_prints_one_line_per_measure_and_writes_the_summary(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks",
            "--quick",
            "--only",
            "weight_map",
            "elastic",
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lines = [line for line in run.stdout.splitlines() if LINE.match(line)]
    assert [line.split(":")[0] for line in lines] == ["weight_map", "elastic"], run.stdout
    for line in lines:
        assert float(re.search(r"ratio ([0-9.]+)", line).group(1)) > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [b["benchmark"] for b in summary["benchmarks"]] == ["weight_map", "elastic"]
    assert all(b["exit_status"] == 0 and len(b["lines"]) == 1 for b in summary["benchmarks"])
    assert {"cpu", "cpu_count", "load_average_1min", "date_utc", "torch"} <= set(summary["machine_at_start"])
    assert json.loads((tmp_path / "weight_map.json").read_text())["max_abs_diff"] < 1e-3
    table = (tmp_path / "summary.md").read_text()
    assert table == markdown_table(summary) and "| weight_map |" in table and "| elastic |" in table


def test_runner_refuses_an_unknown_benchmark(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--only", "nope", "--results-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2 and "unknown benchmark" in run.stderr


def test_only_a_complete_successful_run_is_published():
    assert publish_refusal(True, False, None, []) is None
    assert "inference failed" in publish_refusal(True, False, None, ["inference"])
    assert publish_refusal(True, True, None, []) and publish_refusal(True, False, ["elastic"], [])
    assert publish_refusal(False, False, None, []) == "--no-publish"
