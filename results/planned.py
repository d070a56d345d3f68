"""Planned runs: plan from the data, train in the demo's budget, evaluate the held-out case, per-class Dice.

    python -m results.planned                                  # brain3d, nuclei2d, headct; 10 min of training each
    python -m results.planned --datasets brain3d --with-default   # and the hand-tuned config, same seed and budget
    python -m results.planned --quick                          # smoke run: 2 iterations each, numbers meaningless

Per dataset, in subprocesses, the commands a user would type:

1. ``python -m monai_unet_bundle plan --dataset_dir data/<task> --time_budget_min <budget>`` (the timing probe runs
   on this machine, so the schedule fits its speed and load);
2. train: ``python -m monai.bundle run --config_file "['configs/train.yaml','data/<task>/plan.yaml']" --seed 0``;
3. the network of the last epoch (``<run>/final/model.pt``, not the best-validation model.pt, which is chosen on
   the held-out case) is evaluated with ``"['configs/train.yaml','configs/evaluate.yaml','data/<task>/plan.yaml']"``.

``--with-default`` also trains the hand-tuned config (brain3d: configs/train.yaml; nuclei2d: + configs/nuclei2d.yaml)
with the same seed in the same time budget (``--time_budget_min``: its fixed schedule is cut, with its LR decay, to
the epochs that fit on this machine; handlers/time_budget.py).
Written: docs/results/planned.json and docs/results/planned.md (table rows).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import yaml
from monai_unet_bundle.data import training_datalist
from results.brain3d import config_files, read_metrics
from results.bundle_runs import BUNDLE_RUN, REPO, final_network, result_arguments, run_logged, shown, train_or_reuse
from results.machine import machine_info
from results.publish import publish, table_row

DATASETS = ("brain3d", "nuclei2d", "headct")
DEFAULT_CONFIGS = {"brain3d": ["configs/train.yaml"], "nuclei2d": ["configs/train.yaml", "configs/nuclei2d.yaml"]}
QUICK = {"max_epochs": 1, "epoch_length": 2, "val_interval": 1}


def plan_dataset(dataset_dir: Path, budget_min: float, log_path: Path, reuse: bool = False) -> list[str]:
    """``python -m monai_unet_bundle plan`` on ``dataset_dir`` (skipped with ``reuse`` when plan.yaml exists);
    returns the command."""
    command = [sys.executable, "-m", "monai_unet_bundle", "plan", "--dataset_dir", str(dataset_dir),
               "--time_budget_min", f"{budget_min:g}", "--no-progress"]  # fmt: skip
    if not (reuse and (dataset_dir / "plan.yaml").is_file()):
        run_logged(command, log_path, REPO)
    return command


def train_and_evaluate(
    configs: list[str], run_dir: Path, dataset_dir: Path, extra: list[str], reuse: bool, class_names: list[str]
) -> dict:
    """Train ``configs`` (seed 0) in ``run_dir``, evaluate the last epoch's network on the validation cases.

    Returns the commands, training wall / CPU seconds, per-class and mean Dice (evaluate.yaml's metrics) and
    ``prediction_dir``, where the evaluation wrote the held-out predictions in the input geometry.
    """
    common = ["--bundle_root", str(run_dir), "--dataset_dir", str(dataset_dir), "--seed", "0", *extra]
    train = BUNDLE_RUN + ["--config_file", config_files(configs), *common]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    seconds = train_or_reuse(train, run_dir, reuse)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_seconds = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    _, epoch = final_network(run_dir / "models", run_dir / "final" / "model.pt")
    # evaluate.yaml goes before the plan: the plan's ids win, evaluate.yaml's validation parts stay
    eval_configs = configs[:1] + ["configs/evaluate.yaml"] + configs[1:]
    evaluate = BUNDLE_RUN + ["--config_file", config_files(eval_configs), *common, "--ckpt_dir", str(run_dir / "final")]
    run_logged(evaluate, run_dir / "evaluate.log", REPO)
    metrics = read_metrics(run_dir / "eval" / "evaluation" / "metrics.csv")
    dice = {name.split("/", 1)[1]: value for name, value in metrics.items() if name.startswith("val_class_dice/")}
    if not dice and "val_class_dice" in metrics:  # one foreground class: the metric stays a scalar
        dice = {class_names[0]: metrics["val_class_dice"]}
    if not dice and len(class_names) == 1:  # configs/nuclei2d.yaml reports the foreground Dice as the mean only
        dice = {class_names[0]: metrics["val_mean_dice"]}
    return {
        "train_command": shown(train),
        "evaluate_command": shown(evaluate),
        "train_seconds": seconds,
        "train_cpu_seconds": None if reuse else cpu_seconds,
        "final_epoch": epoch,
        "dice": dice,
        "mean_dice": metrics["val_mean_dice"],
        "prediction_dir": str(run_dir / "eval" / "evaluation" / "predictions"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = result_arguments("planned", __doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--time-budget-min", type=float, default=10.0, help="the plan's training budget")
    parser.add_argument("--data-root", default=str(REPO / "data"), help="holds <task>/ (built when missing)")
    parser.add_argument("--with-default", action="store_true", help="also train the hand-tuned config, same seed")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs_dir, docs_dir = Path(args.runs_dir), Path(args.docs_dir)
    machine = machine_info()
    extra = [part for key, value in (QUICK if args.quick else {}).items() for part in (f"--{key}", str(value))]
    record: dict = {"task": "planned", "budget_min": args.time_budget_min, "quick": args.quick, "machine": machine}
    command = " ".join(
        ["python -m results.planned", "--datasets", *args.datasets, "--time-budget-min", f"{args.time_budget_min:g}"]
        + (["--with-default"] if args.with_default else [])
        + (["--quick"] if args.quick else [])
    )
    for task in args.datasets:
        dataset_dir = Path(args.data_root) / task
        training_datalist(dataset_dir, "validation")  # builds the embedded dataset when missing
        plan_command = plan_dataset(dataset_dir, args.time_budget_min, runs_dir / task / "plan.log", args.skip_training)
        plan_path = dataset_dir / "plan.yaml"
        plan = yaml.safe_load(plan_path.read_text())
        entry = {"plan_command": shown(plan_command), "plan": plan}
        entry["planned"] = train_and_evaluate(
            ["configs/train.yaml", str(plan_path)],
            runs_dir / task / "planned",
            dataset_dir,
            extra,
            args.skip_training,
            plan["class_names"],
        )
        net = plan["network_def"]
        title = f"UNet planned: patch {'x'.join(map(str, plan['roi_size']))}, features {net.get('features')}"
        runs = [("planned", title)]
        if args.with_default and task in DEFAULT_CONFIGS:
            entry["default"] = train_and_evaluate(
                DEFAULT_CONFIGS[task],
                runs_dir / task / "default",
                dataset_dir,
                extra + ["--time_budget_min", f"{args.time_budget_min:g}"],
                args.skip_training,
                plan["class_names"],
            )
            runs.append(
                (
                    "default",
                    "hand-tuned config, " + " + ".join(Path(c).name for c in DEFAULT_CONFIGS[task]) + ", same budget",
                )
            )
        for key, name in runs:
            result = entry[key]
            text = ", ".join(f"{c.replace('_', ' ')} {v:.3f}" for c, v in result["dice"].items())
            text += f"; mean {result['mean_dice']:.3f}; {result['train_seconds'] / 60:.1f} min training"
            entry.setdefault("rows", []).append(table_row(task, name, "held-out Dice", text, command, machine))
            print(f"{task} {key}: {text}", flush=True)
        record[task] = entry
    record["seconds"] = time.perf_counter() - started
    # datasets not run this time keep their earlier entry and rows (one table for all planned runs)
    earlier = docs_dir / "results" / "planned.json"
    if earlier.is_file() and not args.quick:
        kept = json.loads(earlier.read_text())
        for task in DATASETS:
            if task not in record and "rows" in kept.get(task, {}):
                record[task] = kept[task]
    rows = [row for task in DATASETS if task in record for row in record[task]["rows"]]
    publish(docs_dir / "results", "planned", record, rows, documents=args.publish and not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
