"""Run every benchmark, ours against the MONAI baseline in the same run: ``make bench`` / ``python -m benchmarks``.

    .venv/bin/python -m benchmarks [--only NAME ...] [--full] [--quick] [--weights models/model.pt] [--peers]

Each benchmark runs in its own subprocess (its memory and threads are its own) and prints
``name: ours X, baseline Y, ratio Z`` lines, which are passed through here as they come. Afterwards the lines of all
benchmarks are collected, with the machine, date and load average, into benchmarks/results/summary.json and a
markdown table benchmarks/results/summary.md; each benchmark also writes its own benchmarks/results/<name>.json.
A run of every benchmark (no ``--only``, no ``--quick``) in which none failed is published: the summary is copied to
docs/results/benchmarks.{json,md} and the benchmark tables of README.md and docs/results.md are rewritten from it.

Default sizes keep the whole suite to roughly 10-15 minutes on an idle 2-core CPU: inference on a 160^3 volume
(``--full`` adds the 300x370x320 volume and the end-to-end predict run, about 15 minutes more) and 50 volumes for
the RSS benchmark. ``--quick`` is a smoke mode (seconds to a minute each), not a measurement.

``--peers`` (``make bench PEERS=1``) adds ``vs_nnunet``: ours against nnU-Net v2 at equal training CPU time on
brain3d and headct (benchmarks/bench_vs_nnunet.py; the ``peers`` extra; about an hour on a 2-core CPU). It publishes
its own docs/results/vs_nnunet.{json,md} unless ``--no-publish`` / ``--quick``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results.machine import machine_info, machine_summary  # noqa: E402
from results.publish import save_json  # noqa: E402
from results.tables import publish_tables  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"
LINE = re.compile(r"^(?P<name>[^:\n]+): ours (?P<ours>.+?), baseline (?P<baseline>.+?), ratio (?P<ratio>.+)$")


def commands(
    full: bool, quick: bool, weights: str | None, peers: bool = False, publish: bool = True
) -> dict[str, list[str]]:
    """benchmark name -> its command line (arguments after the script); ``peers`` adds the nnU-Net comparison."""
    inference = (
        ["--sizes", "64,64,64"]
        if quick
        else (["--sizes", "160,160,160", "300,370,320", "--e2e"] if full else ["--sizes", "160,160,160"])
    )
    if weights:
        inference += ["--weights", weights]
    return {
        "peak_share": ["bench_peak_share.py"] + (["--quick"] if quick else []),
        "end_to_end": ["bench_end_to_end.py"] + (["--weights", weights] if weights else []),
        "weight_map": ["bench_weight_map.py"],
        "elastic": ["bench_elastic.py"] + (["--repeats", "1"] if quick else []),
        "train_step": ["bench_train_step.py"] + (["--quick"] if quick else []),
        "data_pipeline": ["bench_data_pipeline.py"] + (["--quick"] if quick else []),
        "inference": ["bench_inference.py"] + inference,
        "inference_rss": ["bench_inference_rss.py"] + (["--volumes", "20"] if quick else []),
    } | (
        {"vs_nnunet": ["bench_vs_nnunet.py"] + (["--quick"] if quick else []) + ([] if publish else ["--no-publish"])}
        if peers
        else {}
    )


def run_one(name: str, args: list[str], results_dir: Path) -> dict:
    """Run one benchmark script, echo its output, return its result lines and status."""
    script, *rest = args
    # as modules from the checkout: the scripts import the result helpers of results/ beside benchmarks/
    command = [sys.executable, "-m", f"benchmarks.{Path(script).stem}", *rest]
    # every script takes its JSON destination: the runner decides where results go (tests use a scratch folder)
    out = results_dir / f"{name}.json"
    command += [str(out)] if script in ("bench_weight_map.py", "bench_elastic.py") else ["--out", str(out)]
    print(f"--- {name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, output = [], []
    for raw in process.stdout:
        output.append(raw)
        line = raw.rstrip("\n")
        match = LINE.match(line)
        if match:
            lines.append({key: value.strip() for key, value in match.groupdict().items()})
            print(line, flush=True)
    status = process.wait()
    if status != 0:
        print(f"{name} FAILED (exit {status}):\n{''.join(output[-40:])}", flush=True)
    return {
        "benchmark": name,
        "command": command[1:],
        "exit_status": status,
        "lines": lines,
        "seconds": time.perf_counter() - started,
    }


def markdown_table(summary: dict) -> str:
    rows = ["| benchmark | ours | baseline | ratio |", "|---|---|---|---|"]
    for bench in summary["benchmarks"]:
        for line in bench["lines"]:
            cells = [line[key].replace("|", "\\|") for key in ("name", "ours", "baseline", "ratio")]
            rows.append("| " + " | ".join(cells) + " |")
    machine = summary["machine_at_start"]
    rows.append("")
    rows.append(
        f"Machine: {machine_summary(machine)}; {machine['date_utc']} UTC; load average "
        f"{machine['load_average_1min']} at start, {summary['machine_at_end']['load_average_1min']} at end; "
        f"command: `{summary['command']}`."
    )
    return "\n".join(rows) + "\n"


def publish_refusal(publish: bool, quick: bool, only: list[str] | None, failed: list[str]) -> str | None:
    """Why this run is not published to docs/results and the README; None: it is (a complete, successful run)."""
    if not publish:
        return "--no-publish"
    if quick or only:
        return "not a complete measurement (--quick / --only)"
    if failed:
        return f"{', '.join(failed)} failed (docs/results and the README keep the last complete run)"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--full", action="store_true", help="inference on the 35 M-voxel volume and end to end too")
    parser.add_argument("--quick", action="store_true", help="smoke mode: tiny sizes, not a measurement")
    parser.add_argument("--weights", default=None, help="trained UNet state_dict for the inference benchmark")
    parser.add_argument("--peers", action="store_true", help="also ours vs nnU-Net v2 (the peers extra; ~1 hour)")
    parser.add_argument("--results-dir", default=str(RESULTS))
    parser.add_argument(
        "--docs-dir",
        default=str(REPO / "docs" / "results"),
        help="a run of every benchmark (no --only, no --quick) also writes benchmarks.json / .md here",
    )
    parser.add_argument(
        "--no-publish",
        dest="publish",
        action="store_false",
        help="write nothing to docs/results, README.md and docs/results.md",
    )
    args = parser.parse_args(argv)
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    selected = commands(args.full, args.quick, args.weights, args.peers, args.publish)
    unknown = set(args.only or []) - set(selected)
    if unknown:
        parser.error(f"unknown benchmark(s) {sorted(unknown)}; choose from {sorted(selected)}")
    summary: dict = {
        "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        "machine_at_start": machine_info(),
        "benchmarks": [],
    }
    print(
        f"machine: {machine_summary(summary['machine_at_start'])}, load average "
        f"{summary['machine_at_start']['load_average_1min']} ({summary['machine_at_start']['date_utc']} UTC)"
    )
    for name, args_ in selected.items():
        if args.only and name not in args.only:
            continue
        summary["benchmarks"].append(run_one(name, args_, results_dir))
    summary["machine_at_end"] = machine_info()
    save_json(results_dir / "summary.json", summary)
    (results_dir / "summary.md").write_text(markdown_table(summary))
    print(f"\nsummary: {results_dir / 'summary.json'}, {results_dir / 'summary.md'}")
    failed = [b["benchmark"] for b in summary["benchmarks"] if b["exit_status"] != 0]
    reason = publish_refusal(args.publish, args.quick, args.only, failed)
    if reason:
        print(f"not published: {reason}")
    else:
        docs_dir = Path(args.docs_dir)
        save_json(docs_dir / "benchmarks.json", summary)
        (docs_dir / "benchmarks.md").write_text(markdown_table(summary))
        print(f"published: {docs_dir / 'benchmarks.json'}, {docs_dir / 'benchmarks.md'}")
        updated = publish_tables(docs_dir)
        print("updated the tables of " + ", ".join(map(str, updated)) if updated else "README.md left alone")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
