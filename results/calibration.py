"""Calibration result: the softmax temperature evaluate.yaml fits, and ECE / NLL / Dice before and after it.

    python -m results.calibration                  # brain3d and nuclei2d, short budgets: ~20 min on a loaded 2-core CPU
    python -m results.calibration --skip-training  # reuse the runs in --runs-dir
    python -m results.calibration --quick          # smoke run: 2 iterations each, numbers meaningless

Per data set (brain3d: 3D UNet, MNI152 T1 at 2 mm, held-out right hemisphere; nuclei2d: 2D UNet with the weight
map, held-out rows 384-511), in subprocesses, the commands a user would type:

1. train (``configs/train.yaml`` [+ ``configs/nuclei2d.yaml``]) with the short budget of :data:`BUDGETS`, seed 0;
2. the network of the last epoch goes to ``<run>/final/model.pt`` (as results.brain3d / results.nuclei2d do);
3. evaluate it (``[..., 'configs/evaluate.yaml'] --ckpt_dir <run>/final``): the Dice of the plain softmax, and the
   temperature fitted on the validation cases, ``<run>/final/temperature.json`` (NLL and ECE before / after over the
   validation voxels on the network grid; for these two data sets that is the input's own grid);
4. predict the held-out case with ``configs/inference.yaml`` twice, ``--temperature_file '$None'`` (T = 1) and with
   the fitted file beside the model, both with ``--save_probabilities true``: the Dice of the written label maps
   against the label file (before / after; the issue asks them equal within 0.005) and the ECE of the written
   probabilities (uint8, in the input's geometry).

ECE: 15 equal-width bins of the maximum probability, voxel-weighted, over all voxels and over the voxels that are
foreground or predicted foreground. The temperature is fitted and scored on the same validation voxels (one
parameter; there is no third split in these data sets). Written: docs/results/calibration.json and .md (table
rows, copied into README.md and docs/results.md).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai_unet_bundle.data import training_datalist
from monai_unet_bundle.data.datalist import case_name
from monai_unet_bundle.evaluation import expected_calibration_error
from monai_unet_bundle.prediction import PredictionOutput
from results import nuclei2d
from results.brain3d import QUICK as BRAIN3D_QUICK
from results.brain3d import read_metrics
from results.bundle_runs import (
    BUNDLE_RUN,
    REPO,
    final_network,
    result_arguments,
    run_logged,
    shown,
    train_or_reuse,
    write_datalist,
)
from results.machine import machine_info
from results.publish import publish, table_row

#: per data set: title, training configs, and the short budget (this runs on a shared, loaded 2-core CPU)
DATASETS = {
    "brain3d": {
        "title": "UNet 3D (16-32-64-128)",
        "configs": ["configs/train.yaml"],
        # 60 iterations of 2 patches of 32^3 (train.yaml: 400 of 4 x 48x64x64): minutes, not an hour, when shared
        "budget": {"max_epochs": 6, "epoch_length": 10, "val_interval": 6, "num_samples": 2, "roi_size": "[32,32,32]"},
        "quick": BRAIN3D_QUICK,
    },
    "nuclei2d": {
        "title": "UNet 2D + weight map",
        "configs": ["configs/train.yaml", "configs/nuclei2d.yaml"],
        # 100 iterations of 4 patches of 128 x 128 (nuclei2d.yaml: 1000)
        "budget": {"max_epochs": 10, "epoch_length": 10, "val_interval": 10},
        "quick": nuclei2d.QUICK,
    },
}
N_BINS = 15


def config_list(configs: list[str]) -> str:
    return "[" + ",".join(f"'{c}'" for c in configs) + "]"


def predict_command(dataset: str, model: Path, datalist: Path, out_dir: Path, budget: dict, calibrated: bool) -> list:
    """``configs/inference.yaml`` on the held-out case, probabilities saved; T = 1 unless ``calibrated``."""
    if dataset == "nuclei2d":
        command = nuclei2d.predict_command(model, datalist, out_dir, budget.get("roi_size", "[128,128]"))
    else:
        command = BUNDLE_RUN + ["--config_file", "configs/inference.yaml", "--ckpt_path", str(model)]
        command += ["--datalist", str(datalist), "--output_dir", str(out_dir), "--overwrite", "true"]
        command += ["--progress", "false"] + (["--roi_size", budget["roi_size"]] if "roi_size" in budget else [])
    command += ["--save_probabilities", "true"]
    return command if calibrated else command + ["--temperature_file", "$None"]


def mean_dice(prediction: np.ndarray, label: np.ndarray, num_classes: int) -> float:
    """Mean Dice over the foreground classes present in the label or the prediction."""
    scores = []
    for c in range(1, num_classes):
        pred, true = prediction == c, label == c
        if pred.any() or true.any():
            scores.append(2.0 * np.logical_and(pred, true).sum() / (pred.sum() + true.sum()))
    return float(np.mean(scores)) if scores else 1.0


def scored_prediction(out_dir: Path, image: str, label: np.ndarray, num_classes: int) -> dict:
    """Dice of ``<case>_seg`` and ECE of ``<case>_prob`` (uint8 / 255, channels last) against ``label``."""
    output = PredictionOutput()
    seg = np.asarray(nib.load(output.path(image, out_dir)).dataobj)
    prob = nib.load(output.path(image, out_dir, output.probability_postfix)).get_fdata(dtype=np.float32)
    probabilities = torch.from_numpy(prob.reshape(-1, prob.shape[-1]))
    labels = torch.from_numpy(label.reshape(-1).astype(np.int64))
    foreground = (labels > 0) | (torch.from_numpy(seg.reshape(-1).astype(np.int64)) > 0)
    qc = json.loads((out_dir / f"{case_name(image)}_qc.json").read_text())
    return {
        "mean_dice": mean_dice(seg, label, num_classes),
        "ece_all": expected_calibration_error(probabilities, labels, N_BINS),
        "ece_foreground": expected_calibration_error(probabilities, labels, N_BINS, mask=foreground),
        "qc_confidence": qc["confidence"],
        "qc_softmax_temperature": qc["softmax_temperature"],
    }


def run_dataset(dataset: str, args, runs_dir: Path) -> dict:
    spec = DATASETS[dataset]
    budget = dict(spec["quick"]) if args.quick else dict(spec["budget"])
    dataset_dir = Path(args.dataset_dir or REPO / "data" / dataset)
    held_out = training_datalist(dataset_dir, "validation")[0]  # builds the dataset when missing
    run_dir = runs_dir / dataset
    common = ["--bundle_root", str(run_dir), "--dataset_dir", str(dataset_dir), "--seed", "0"]
    extra = [part for key, value in budget.items() for part in (f"--{key}", str(value))]
    train = BUNDLE_RUN + ["--config_file", config_list(spec["configs"]), *common, *extra]
    train_seconds = train_or_reuse(train, run_dir, args.skip_training)
    model, epoch = final_network(run_dir / "models", run_dir / "final" / "model.pt")
    files = config_list(spec["configs"] + ["configs/evaluate.yaml"])
    evaluate = BUNDLE_RUN + ["--config_file", files, *common, *extra, "--ckpt_dir", str(run_dir / "final")]
    run_logged(evaluate, run_dir / "evaluate.log", REPO)
    fit = json.loads((run_dir / "final" / "temperature.json").read_text())
    metrics = read_metrics(run_dir / "eval" / "evaluation" / "metrics.csv")
    label = np.asarray(nib.load(held_out["label"]).dataobj).astype(np.int64)
    num_classes = 2 if dataset == "nuclei2d" else 4
    datalist = write_datalist([held_out["image"]], run_dir / "held_out.json")
    scored, commands = {}, {}
    for name, calibrated in (("before", False), ("after", True)):
        out_dir = run_dir / f"predictions_{name}"
        command = predict_command(dataset, model, datalist, out_dir, budget, calibrated)
        run_logged(command, run_dir / f"predict_{name}.log", REPO)
        scored[name], commands[name] = scored_prediction(out_dir, held_out["image"], label, num_classes), shown(command)
    dice_change = scored["after"]["mean_dice"] - scored["before"]["mean_dice"]
    print(
        f"calibration {dataset}: T {fit['temperature']:.3f}; NLL {fit['before']['nll']:.4f} -> "
        f"{fit['after']['nll']:.4f}; ECE (fg) {fit['before']['ece_foreground']:.4f} -> "
        f"{fit['after']['ece_foreground']:.4f}; Dice {scored['before']['mean_dice']:.4f} -> "
        f"{scored['after']['mean_dice']:.4f}",
        flush=True,
    )
    return {
        "title": spec["title"],
        "budget": budget,
        "train_command": shown(train),
        "evaluate_command": shown(evaluate),
        "predict_commands": commands,
        "final_epoch": epoch,
        "train_seconds": train_seconds,
        "evaluate_val_mean_dice": metrics["val_mean_dice"],
        "temperature": fit["temperature"],
        "fit": fit,
        "predictions": scored,
        "dice_change": dice_change,
        "dice_within_0_005": abs(dice_change) <= 0.005,
    }


def table_rows(result: dict, command: str) -> list[str]:
    rows = []
    for dataset, entry in result["datasets"].items():
        fit, pred = entry["fit"], entry["predictions"]
        budget = entry["budget"]
        network = f"{dataset}: {entry['title']}, {budget['max_epochs']} x {budget['epoch_length']} iterations"
        rows += [
            table_row(
                "calibration",
                network,
                "temperature; NLL (validation voxels)",
                f"T {fit['temperature']:.3f}; NLL {fit['before']['nll']:.4f} → {fit['after']['nll']:.4f}",
                command,
                result["machine"],
            ),
            table_row(
                "calibration",
                network,
                "ECE, 15 bins, T = 1 → T",
                f"fg-or-predicted-fg voxels {fit['before']['ece_foreground']:.4f} → "
                f"{fit['after']['ece_foreground']:.4f}; all voxels {fit['before']['ece_all']:.4f} → "
                f"{fit['after']['ece_all']:.4f}",
                command,
                result["machine"],
            ),
            table_row(
                "calibration",
                network,
                "mean Dice of predict, T = 1 → T",
                f"{pred['before']['mean_dice']:.4f} → {pred['after']['mean_dice']:.4f} "
                f"(change {entry['dice_change']:+.4f})",
                command,
                result["machine"],
            ),
        ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = result_arguments("calibration", __doc__.split("\n\n")[0])
    parser.set_defaults(dataset_dir=None)  # one per data set: data/brain3d, data/nuclei2d
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), choices=list(DATASETS))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs_dir, docs_dir = Path(args.runs_dir), Path(args.docs_dir)
    result: dict = {
        "task": "calibration",
        "n_bins": N_BINS,
        "ece": "maximum softmax probability vs accuracy, equal-width bins, voxel-weighted",
        "fit": "one temperature per model, minimising the NLL of softmax(logits / T) over the validation voxels",
        "quick": args.quick,
        "training_reused": args.skip_training,
        "machine": machine_info(),
        "datasets": {},
    }
    for dataset in args.datasets:
        result["datasets"][dataset] = run_dataset(dataset, args, runs_dir)
    result["seconds"] = time.perf_counter() - started
    command = "python -m results.calibration" + (" --quick" if args.quick else "")
    rows = table_rows(result, command)
    publish(docs_dir / "results", "calibration", result, rows, documents=args.publish and not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
