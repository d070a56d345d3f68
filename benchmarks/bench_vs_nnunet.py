"""Ours (planned from the data) against nnU-Net v2 at equal training seconds: plans side by side, held-out Dice.

    pip install -e '.[peers]'     # nnunetv2==2.8.1, after the CPU torch (see docs/planning.md)
    make bench PEERS=1            # or: python -m benchmarks.bench_vs_nnunet [--datasets brain3d headct]
    python -m benchmarks.bench_vs_nnunet --quick   # smoke run: a few iterations each, numbers meaningless

Per dataset (brain3d, headct; built at run time by monai_unet_bundle.data; the "training" half trains, the
"validation" half is held out):

1. ours, as results.planned does it: ``python -m monai_unet_bundle plan --time_budget_min M``, train the planned
   bundle (seed 0), evaluate the last epoch's network on the held-out case (prediction in the input geometry);
2. nnU-Net: the training case in its raw format (benchmarks.nnunet_raw), ``nnUNetv2_plan_and_preprocess -d N -c
   3d_fullres --verify_dataset_integrity``, then nnU-Net's own trainer on fold ``all`` for the CPU seconds our
   training process used (benchmarks.nnunet_budget; on a shared machine CPU time is what can be made equal, wall
   time follows the load: both are reported), then nnUNetPredictor on the held-out case;
3. both predictions are scored against the held-out label file by the same function
   (:func:`monai_unet_bundle.demo.dice_per_class`, in the input's own geometry).

nnU-Net's three folders (nnUNet_raw / _preprocessed / _results) are set for its subprocesses only, under
``--work-dir``. Both sides run with the thread count of this process's environment (set ``OMP_NUM_THREADS``) and
without data-loading worker processes (ours: ``num_workers: 0``; nnU-Net: ``nnUNet_n_proc_DA=0``).
Written: ``--out`` (JSON), and unless ``--no-publish`` / ``--quick``, docs/results/vs_nnunet.{json,md} with the rows
copied into the results tables of README.md and docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from benchmarks.nnunet_raw import nnunet_dataset_name, to_nnunet_raw  # noqa: E402
from monai_unet_bundle.data import case_name, training_datalist  # noqa: E402
from monai_unet_bundle.demo import dice_per_class  # noqa: E402
from monai_unet_bundle.prediction import PredictionOutput  # noqa: E402
from results.bundle_runs import run_logged, shown  # noqa: E402
from results.machine import machine_info, machine_summary  # noqa: E402
from results.planned import QUICK, plan_dataset, train_and_evaluate  # noqa: E402
from results.publish import publish, save_json, table_row  # noqa: E402

#: the nnU-Net dataset id each dataset gets in the benchmark's own nnUNet_raw folder
DATASET_IDS = {"brain3d": 501, "headct": 502}
NNUNET_VERSION = "2.8.1"
QUICK_NNUNET_SECONDS = 20.0


def nnunet_env(work_dir: Path, workers: int) -> list[str]:
    """``env nnUNet_raw=... nnUNet_preprocessed=... nnUNet_results=... nnUNet_n_proc_DA=<workers>``: the prefix of
    every nnU-Net command (its folders for that process only; shown in the logged commands, so they can be retyped).
    """
    return [
        "env",
        f"nnUNet_raw={work_dir / 'nnUNet_raw'}",
        f"nnUNet_preprocessed={work_dir / 'nnUNet_preprocessed'}",
        f"nnUNet_results={work_dir / 'nnUNet_results'}",
        f"nnUNet_n_proc_DA={workers}",
    ]


def our_plan_summary(plan: dict) -> dict:
    """The comparable choices of our plan.yaml: spacing, patch, batch, network, normalisation, schedule."""
    net = plan["network_def"]
    scaling = plan["scale_intensity"]
    if scaling["_target_"].endswith("ScaleIntensityRanged"):
        normalisation = f"CT: clip [{scaling['a_min']:g}, {scaling['a_max']:g}] HU, z-score (foreground mean / std)"
    else:
        normalisation = "z-score over nonzero voxels" if scaling.get("nonzero") else "z-score"
    pools = net.get("pool_sizes") or [[2] * plan["spatial_dims"]] * (len(net["features"]) - 1)
    return {
        "spacing_mm": plan["pixdim"],
        "patch": plan["roi_size"],
        "batch": plan["num_samples"],
        "network": f"UNet {len(net['features'])} levels, features {net['features']}",
        "pooling": pools,
        "norm": f"{net.get('norm', 'batch')} norm",
        "normalisation": normalisation,
        "schedule": f"{plan['max_epochs']} epochs x {plan['epoch_length']} iterations (from the time probe)",
    }


def nnunet_plan_summary(plans: dict, configuration: str = "3d_fullres") -> dict:
    """The same choices from nnU-Net's nnUNetPlans.json (``configurations[configuration]``)."""
    config = plans["configurations"][configuration]
    arch = config["architecture"]["arch_kwargs"]
    schemes = [
        s.replace("Normalization", "") + (" (mask)" if mask else "")
        for s, mask in zip(config["normalization_schemes"], config["use_mask_for_norm"])
    ]
    return {
        "spacing_mm": config["spacing"],
        "patch": config["patch_size"],
        "batch": config["batch_size"],
        "network": f"{config['architecture']['network_class_name'].rsplit('.', 1)[1]} {arch['n_stages']} stages, "
        f"features {arch['features_per_stage']}",
        "pooling": arch["strides"][1:],
        "norm": arch["norm_op"].rsplit(".", 1)[1],
        "normalisation": ", ".join(schemes),
        "schedule": "1000 epochs x 250 iterations (stopped at the time budget here)",
    }


def plans_side_by_side(ours: dict, theirs: dict) -> str:
    """A text table: one row per choice, ours and nnU-Net's."""
    rows = [("", "ours", f"nnU-Net {NNUNET_VERSION} 3d_fullres")] + [
        (key, str(ours[key]), str(theirs[key])) for key in ours
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"  {a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows)


def held_out_dice(prediction: str | Path, label: str | Path, class_names: list[str]) -> dict[str, float]:
    """Per-class Dice of a prediction file against the label file, both in the input's own geometry."""
    pred = np.asarray(nib.load(str(prediction)).dataobj)
    true = np.asarray(nib.load(str(label)).dataobj)
    if pred.shape != true.shape:
        raise ValueError(f"prediction {prediction} has shape {pred.shape}, the label {label} {true.shape}")
    scores = dice_per_class(np.rint(pred).astype(np.int64), np.rint(true).astype(np.int64), len(class_names) + 1)
    return dict(zip(class_names, scores))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_nnunet(dataset_dir: Path, task: str, work_dir: Path, seconds: float, held_out: list[dict]) -> dict:
    """Convert, plan and preprocess, train for ``seconds`` of CPU time, predict the held-out cases; returns the
    record."""
    dataset_id = DATASET_IDS[task]
    name = nnunet_dataset_name(dataset_id, json.loads((dataset_dir / "dataset.json").read_text())["name"])
    shutil.rmtree(work_dir, ignore_errors=True)  # a fresh nnU-Net tree: no stale plans or checkpoints
    to_nnunet_raw(dataset_dir, work_dir / "nnUNet_raw", dataset_id)
    console = Path(sys.executable).parent / "nnUNetv2_plan_and_preprocess"
    # planning sizes its VRAM estimate's threads from nnUNet_n_proc_DA: it must be >= 1 there
    plan_command = nnunet_env(work_dir, 1) + [
        str(console), "-d", str(dataset_id), "-c", "3d_fullres", "--verify_dataset_integrity", "-np", "1", "-npfp", "1",
    ]  # fmt: skip
    plan_seconds = run_logged(plan_command, work_dir / "plan_and_preprocess.log", REPO)
    plans = json.loads((work_dir / "nnUNet_preprocessed" / name / "nnUNetPlans.json").read_text())
    summary_path = work_dir / "train_summary.json"
    train_command = nnunet_env(work_dir, 0) + [
        sys.executable, "-m", "benchmarks.nnunet_budget", "train", "--dataset", name, "--cpu-seconds", f"{seconds:.1f}",
        "--out", str(summary_path),
    ]  # fmt: skip
    cpu_before = _cpu_seconds()
    wall = run_logged(train_command, work_dir / "train.log", REPO)
    cpu = _cpu_seconds() - cpu_before
    predictions = []
    for item in held_out:
        predict_command = nnunet_env(work_dir, 0) + [
            sys.executable, "-m", "benchmarks.nnunet_budget", "predict", "--dataset", name,
            "--image", str(Path(item["image"]).resolve()), "--out-dir", str(work_dir / "predictions"),
        ]  # fmt: skip
        run_logged(predict_command, work_dir / f"predict_{case_name(item['image'])}.log", REPO)
        predictions.append(work_dir / "predictions" / f"{case_name(item['image'])}.nii.gz")
    return {
        "dataset": name,
        "plan_and_preprocess_command": shown(plan_command),
        "plan_and_preprocess_seconds": plan_seconds,
        "train_command": shown(train_command),
        "train_seconds": wall,
        "train_cpu_seconds": cpu,
        "training": json.loads(summary_path.read_text()),
        "plans_3d_fullres": plans["configurations"]["3d_fullres"],
        "plan": nnunet_plan_summary(plans),
        "predictions": [str(p) for p in predictions],
    }


def _mean_scores(per_case: list[dict[str, float]]) -> dict[str, float]:
    return {name: float(np.nanmean([case[name] for case in per_case])) for name in per_case[0]}


def run_dataset(task: str, data_root: Path, work_dir: Path, budget_min: float, quick: bool) -> dict:
    """Ours, then nnU-Net with our measured training seconds, on one dataset; both scored the same way."""
    dataset_dir = data_root / task
    held_out = training_datalist(dataset_dir, "validation")  # builds the embedded dataset when missing
    plan_command = plan_dataset(dataset_dir, budget_min, work_dir / task / "ours" / "plan.log")
    plan = yaml.safe_load((dataset_dir / "plan.yaml").read_text())
    class_names = list(plan["class_names"])
    extra = [part for key, value in (QUICK if quick else {}).items() for part in (f"--{key}", str(value))]
    ours = train_and_evaluate(
        ["configs/train.yaml", str(dataset_dir / "plan.yaml")], work_dir / task / "ours", dataset_dir, extra, False,
        class_names,
    )  # fmt: skip
    ours["plan_command"] = shown(plan_command)
    ours["plan"] = our_plan_summary(plan)
    ours["monai_mean_dice"] = ours.pop("mean_dice")  # evaluate.yaml's own numbers, kept as a cross-check
    ours["monai_dice"] = ours.pop("dice")
    predictions = [PredictionOutput().path(item["image"], ours["prediction_dir"]) for item in held_out]
    ours["dice"] = _mean_scores([held_out_dice(p, i["label"], class_names) for p, i in zip(predictions, held_out)])
    seconds = QUICK_NNUNET_SECONDS if quick else ours["train_cpu_seconds"]
    theirs = run_nnunet(dataset_dir, task, work_dir / task / "nnunet", seconds, held_out)
    theirs["dice"] = _mean_scores(
        [held_out_dice(p, i["label"], class_names) for p, i in zip(theirs["predictions"], held_out)]
    )
    for side in (ours, theirs):
        side["mean_dice"] = float(np.nanmean(list(side["dice"].values())))
    return {"held_out": [case_name(i["image"]) for i in held_out], "ours": ours, "nnunet": theirs}


def _row_value(side: dict) -> str:
    dice = ", ".join(f"{c.replace('_', ' ')} {v:.3f}" for c, v in side["dice"].items())
    return (
        f"{dice}; mean {side['mean_dice']:.3f}; training {side['train_seconds'] / 60:.1f} min wall, "
        f"{side['train_cpu_seconds'] / 60:.1f} min CPU"
    )


def _plan_text(plan: dict) -> str:
    spacing = "x".join(f"{s:.3g}" for s in plan["spacing_mm"])
    patch = "x".join(map(str, plan["patch"]))
    return f"{spacing} mm, patch {patch}, batch {plan['batch']}, {plan['network']}, {plan['norm']}, {plan['normalisation']}"


def table_rows(task: str, entry: dict, command: str, machine: dict, budget_min: float) -> list[str]:
    """The README rows of one dataset: ours, then nnU-Net, at the same training seconds."""
    metric = (
        f"held-out Dice; nnU-Net trains for our training CPU seconds, at least 1 epoch (our plan: {budget_min:g} min "
        "budget)"
    )
    return [
        table_row(task, "ours, planned: " + _plan_text(entry["ours"]["plan"]), metric, _row_value(entry["ours"]),
                  command, machine),
        table_row(task, f"nnU-Net {NNUNET_VERSION} 3d_fullres, fold all, {entry['nnunet']['training']['epochs']} x "
                  f"{entry['nnunet']['training']['iterations'] // max(1, entry['nnunet']['training']['epochs'])} "
                  "iterations: " + _plan_text(entry["nnunet"]["plan"]), metric, _row_value(entry["nnunet"]), command,
                  machine),
    ]  # fmt: skip


def line_names(class_names: list[str]) -> list[str]:
    """The measures of :func:`result_lines`, in order, after ``vs_nnunet_<dataset>_``."""
    return [f"dice_{name}" for name in [*class_names, "mean"]] + ["train_seconds", "train_cpu_seconds"]


def result_lines(task: str, entry: dict) -> list[str]:
    """``name: ours X, baseline Y, ratio Z`` lines (what ``python -m benchmarks`` collects)."""
    lines = []
    for name in [*entry["ours"]["dice"], "mean"]:
        ours = entry["ours"]["mean_dice"] if name == "mean" else entry["ours"]["dice"][name]
        theirs = entry["nnunet"]["mean_dice"] if name == "mean" else entry["nnunet"]["dice"][name]
        ratio = f"{ours / theirs:.2f}" if theirs else "n/a"
        lines.append(f"vs_nnunet_{task}_dice_{name}: ours {ours:.3f}, baseline {theirs:.3f}, ratio {ratio}")
    for key in ("train_seconds", "train_cpu_seconds"):
        ours_s, theirs_s = entry["ours"][key], entry["nnunet"][key]
        lines.append(
            f"vs_nnunet_{task}_{key}: ours {ours_s:.0f}, baseline {theirs_s:.0f}, ratio {ours_s / theirs_s:.2f}"
        )
    return lines


def _require_nnunet() -> None:
    try:
        version = metadata.version("nnunetv2")
    except metadata.PackageNotFoundError:
        raise SystemExit(
            "nnunetv2 is not installed: pip install -e '.[peers]' (after the CPU torch; see docs/planning.md)"
        ) from None
    if version != NNUNET_VERSION:
        print(f"WARNING: nnunetv2 {version} installed, the benchmark is written for {NNUNET_VERSION}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_vs_nnunet", description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASET_IDS), choices=list(DATASET_IDS))
    parser.add_argument("--time-budget-min", type=float, default=7.0, help="our plan's training budget; nnU-Net "
                        "then gets the CPU seconds our training actually used")  # fmt: skip
    parser.add_argument("--data-root", default=str(REPO / "data"), help="holds <dataset>/ (built when missing)")
    parser.add_argument("--work-dir", default=str(REPO / "outputs" / "vs_nnunet"), help="runs and nnU-Net folders")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "vs_nnunet.json"))
    parser.add_argument("--docs-dir", default=str(REPO / "docs"), help="results/vs_nnunet.{json,md} go here")
    parser.add_argument("--quick", action="store_true", help="smoke run: a few iterations each, numbers meaningless")
    parser.add_argument("--no-publish", dest="publish", action="store_false", help="leave docs/ and README.md alone")
    args = parser.parse_args(argv)
    _require_nnunet()
    started = time.perf_counter()
    machine = machine_info()
    command = " ".join(
        ["python -m benchmarks.bench_vs_nnunet", "--datasets", *args.datasets, "--time-budget-min",
         f"{args.time_budget_min:g}"] + (["--quick"] if args.quick else [])
    )  # fmt: skip
    print(f"machine: {machine_summary(machine)}, load average {machine['load_average_1min']}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)  # fmt: skip
    record: dict = {
        "task": "vs_nnunet",
        "command": command,
        "budget_min": args.time_budget_min,
        "quick": args.quick,
        "nnunetv2": metadata.version("nnunetv2"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "machine": machine,
    }
    for task in args.datasets:
        entry = run_dataset(task, Path(args.data_root), Path(args.work_dir), args.time_budget_min, args.quick)
        record[task] = entry
        print(f"\n{task}: plans side by side\n" + plans_side_by_side(entry["ours"]["plan"], entry["nnunet"]["plan"]))
        for side in ("ours", "nnunet"):
            print(f"{task} {side}: {_row_value(entry[side])}")
        print("\n".join(result_lines(task, entry)), flush=True)
        entry["rows"] = table_rows(task, entry, command, machine, args.time_budget_min)
    record["machine_at_end"] = machine_info()
    record["seconds"] = time.perf_counter() - started
    save_json(args.out, record)
    print(f"wrote {args.out}")
    if args.publish and not args.quick:
        # datasets not run this time keep their earlier entry and rows (one table for both)
        earlier = Path(args.docs_dir) / "results" / "vs_nnunet.json"
        kept = json.loads(earlier.read_text()) if earlier.is_file() else {}
        for task in DATASET_IDS:
            if task not in record and "rows" in kept.get(task, {}):
                record[task] = kept[task]
        rows = [row for task in DATASET_IDS if task in record for row in record[task]["rows"]]
        publish(Path(args.docs_dir) / "results", "vs_nnunet", record, rows, documents=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
