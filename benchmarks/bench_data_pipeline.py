"""Data pipeline vs training step: does the training loop wait for data? Both tasks, the bundle's own configs.

    .venv/bin/python -m benchmarks.bench_data_pipeline [--tasks brain3d nuclei2d] [--iterations 8] [--num-workers N]

For each task the trainer and dataloader are built from the real configs (brain3d: configs/train.yaml;
nuclei2d: + configs/nuclei2d.yaml, with its weight maps, separation ridges and elastic deformation) by MONAI's
ConfigParser, with the training handlers left out (no validation, no checkpoints: only the iterations are timed).

- pipeline: the train dataloader alone, ``--iterations`` batches after the cache is filled (batches/s);
- step: ``SupervisedTrainer`` iterations, timed with ignite's GET_BATCH_STARTED / GET_BATCH_COMPLETED and
  ITERATION_STARTED / ITERATION_COMPLETED events: the compute rate (steps/s, data excluded) and the fraction of each
  iteration spent waiting for its batch. The first two iterations are warm-up and not counted.

Output: ``data_pipeline_<task>: ours <pipeline batches/s>, baseline <training steps/s>, ratio Z`` (Z > 1: the
pipeline alone is faster than the step), ``data_wait_<task>: ...`` with the waiting fraction, and
benchmarks/results/data_pipeline.json. With ``num_workers: 0`` (the configs' default, chosen for 2-core machines)
batches are made in the training process, so every batch is waited for: the fraction is the pipeline's share of the
iteration. ``--num-workers 2`` measures the overlapped loader instead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from results.machine import machine_info  # noqa: E402
from results.publish import save_json  # noqa: E402

NAME = "data_pipeline"
TASKS = {
    "brain3d": {"files": ["configs/train.yaml"], "dataset_dir": "data/brain3d", "quick_roi": [16, 32, 32]},
    "nuclei2d": {
        "files": ["configs/train.yaml", "configs/nuclei2d.yaml"],
        "dataset_dir": "data/nuclei2d",
        "quick_roi": [64, 64],
    },
}


def build(task: str, bundle_root: str, iterations: int, num_workers: int, quick: bool):
    """The task's trainer (no handlers) from its bundle configs."""
    from monai.bundle import ConfigParser

    spec = TASKS[task]
    parser = ConfigParser()
    parser.read_config([str(REPO / f) for f in spec["files"]])
    overrides = {
        "bundle_root": bundle_root,
        "dataset_dir": str(REPO / spec["dataset_dir"]),
        "max_epochs": 1,
        "epoch_length": iterations,
        "num_workers": num_workers,
        "train#handlers": [],
    }
    if quick:
        overrides.update({"roi_size": spec["quick_roi"], "num_samples": 2})
    for key, value in overrides.items():
        parser[key] = value
    return parser.get_parsed_content("train#trainer")


def time_pipeline(loader, batches: int) -> list[float]:
    """Seconds per batch; the loader is restarted when exhausted, as the trainer does (one volume = one batch)."""
    times, iterator = [], iter(loader)
    for _ in range(batches):
        start = time.perf_counter()
        try:
            next(iterator)
        except StopIteration:
            iterator = iter(loader)
            next(iterator)
        times.append(time.perf_counter() - start)
    return times


def time_training(trainer) -> tuple[list[float], list[float]]:
    """Per iteration: seconds waiting for the batch, seconds of compute (forward, loss, backward, step)."""
    from ignite.engine import Events

    marks: dict[str, float] = {}
    waits: list[float] = []
    computes: list[float] = []

    def mark(name):
        return lambda _engine: marks.__setitem__(name, time.perf_counter())

    trainer.add_event_handler(Events.GET_BATCH_STARTED, mark("get"))
    trainer.add_event_handler(Events.GET_BATCH_COMPLETED, lambda _e: waits.append(time.perf_counter() - marks["get"]))
    trainer.add_event_handler(Events.ITERATION_STARTED, mark("step"))
    trainer.add_event_handler(
        Events.ITERATION_COMPLETED, lambda _e: computes.append(time.perf_counter() - marks["step"])
    )
    trainer.run()
    return waits, computes


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--iterations", type=int, default=8, help="timed batches / steps per task (after 2 warm-up)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers (the configs' default: 0)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: small patches, 1 timed iteration")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / f"{NAME}.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.iterations = 1
    warmup = 2
    results: dict = {
        "name": NAME,
        "num_workers": args.num_workers,
        "iterations": args.iterations,
        "machine": machine_info(),
        "tasks": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-data-") as bundle_root:
        for task in args.tasks:
            trainer = build(task, bundle_root, args.iterations + warmup, args.num_workers, args.quick)
            pipeline = time_pipeline(trainer.data_loader, args.iterations + warmup)[warmup:]
            waits, computes = time_training(trainer)
            waits, computes = waits[warmup:], computes[warmup:]
            batch_rate = 1.0 / statistics.median(pipeline)
            step_rate = 1.0 / statistics.median(computes)
            wait_fraction = sum(waits) / (sum(waits) + sum(computes))
            results["tasks"][task] = {
                "pipeline_batch_s": pipeline,
                "wait_s": waits,
                "compute_s": computes,
                "pipeline_batches_per_s": batch_rate,
                "train_steps_per_s": step_rate,
                "ratio": batch_rate / step_rate,
                "wait_fraction": wait_fraction,
            }
            print(
                f"data_pipeline_{task}: ours {batch_rate:.3g} batches/s, baseline {step_rate:.3g} steps/s "
                f"(training compute), ratio {batch_rate / step_rate:.2f}",
                flush=True,
            )
            print(
                f"data_wait_{task}: ours {wait_fraction:.1%} of iteration time waiting for data "
                f"(num_workers {args.num_workers}), baseline 0% (a loop that never waits), "
                f"ratio n/a",
                flush=True,
            )
    save_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
