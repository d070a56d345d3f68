"""brain3d result: 3D UNet and U2-Net-lite on the MNI152 T1, held-out right hemisphere, per-class Dice and HD95.

    python -m results.brain3d            # UNet ~7 min, U2-Net-lite ~50 min, on an idle 2-core CPU
    python -m results.brain3d --quick    # smoke run: 2 iterations each, numbers meaningless

Per network, in subprocesses, the commands a user would type:

1. train: ``python -m monai.bundle run --config_file configs/train.yaml`` (U2-Net-lite: ``"['configs/train.yaml',
   'configs/u2net.yaml']"``) with its own ``--bundle_root`` and the config's budget (40 epochs x 10 iterations of
   4 patches of 48 x 64 x 64, bf16 where the CPU has it, seed 0), trained on the left hemisphere;
2. the network of the last epoch goes to ``<run>/final/model.pt`` (not models/model.pt, the best validation epoch,
   which is chosen on the held-out hemisphere itself);
3. evaluate it: ``--config_file "[..., 'configs/evaluate.yaml']" --ckpt_dir <run>/final``, which writes per-class
   Dice and HD95 (mm, on the 2 mm training grid) to ``<run>/eval/evaluation/metrics.csv`` and the prediction in the
   input's geometry.

Written: docs/results/brain3d.json, docs/results/brain3d.md (table rows), docs/images/brain3d_overlay_<net>.png
(axial slice: image | ground truth | prediction) and docs/images/brain3d_curves.png (training loss and validation
Dice from the runs' TensorBoard files).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from monai_unet_bundle.data import training_datalist
from monai_unet_bundle.prediction import PredictionOutput
from monai_unet_bundle.visualize import save_overlay
from monai_unet_bundle.visualize.curves import plot_curves, read_scalars
from results.bundle_runs import BUNDLE_RUN, REPO, final_network, result_arguments, run_logged, shown, train_or_reuse
from results.machine import machine_info
from results.publish import publish, table_row

NETWORKS = {
    "unet": {"title": "UNet 3D (16-32-64-128)", "configs": ["configs/train.yaml"]},
    "u2net_lite": {"title": "U2-Net-lite 3D", "configs": ["configs/train.yaml", "configs/u2net.yaml"]},
}
CLASSES = ["csf", "gray_matter", "white_matter"]
QUICK = {"max_epochs": 1, "epoch_length": 2, "val_interval": 1, "num_samples": 2, "roi_size": "[32,32,32]"}


def config_files(configs: list[str]) -> str:
    return "[" + ",".join(f"'{c}'" for c in configs) + "]"


def read_metrics(csv_path: Path) -> dict[str, float]:
    """``metrics.csv`` of the evaluation: ``name,value`` per line."""
    if not csv_path.is_file():
        raise FileNotFoundError(f"the evaluation wrote no {csv_path}")
    return {name: float(value) for name, value in (line.split(",") for line in csv_path.read_text().splitlines())}


def main(argv: list[str] | None = None) -> int:
    parser = result_arguments("brain3d", __doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="*", default=list(NETWORKS), choices=list(NETWORKS))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    dataset_dir, runs_dir, docs_dir = Path(args.dataset_dir), Path(args.runs_dir), Path(args.docs_dir)
    held_out = training_datalist(dataset_dir, "validation")[0]  # builds the dataset when missing
    budget = dict(QUICK) if args.quick else {}
    machine = machine_info()
    result: dict = {
        "task": "brain3d",
        "held_out": "MNI152 2009a T1 at 2 mm, right hemisphere",
        "budget": budget
        or "configs/train.yaml defaults: 40 epochs x 10 iterations, 4 patches of "
        "48x64x64, AdamW lr 3e-3 poly, bf16 autocast where native, seed 0",
        "quick": args.quick,
        "training_reused": args.skip_training,
        "machine": machine,
        "networks": {},
    }
    images_dir = docs_dir / "images"
    for network in args.networks:
        run_dir = runs_dir / network
        common = ["--bundle_root", str(run_dir), "--dataset_dir", str(dataset_dir), "--seed", "0"]
        extra = [part for key, value in budget.items() for part in (f"--{key}", str(value))]
        train = BUNDLE_RUN + ["--config_file", config_files(NETWORKS[network]["configs"]), *common, *extra]
        train_seconds = train_or_reuse(train, run_dir, args.skip_training)
        _, epoch = final_network(run_dir / "models", run_dir / "final" / "model.pt")
        files = config_files(NETWORKS[network]["configs"] + ["configs/evaluate.yaml"])
        evaluate = BUNDLE_RUN + ["--config_file", files, *common, *extra, "--ckpt_dir", str(run_dir / "final")]
        run_logged(evaluate, run_dir / "evaluate.log", REPO)
        metrics = read_metrics(run_dir / "eval" / "evaluation" / "metrics.csv")
        dice = {c: metrics[f"val_class_dice/{c}"] for c in CLASSES}
        hd95 = {c: metrics[f"val_hd95/{c}"] for c in CLASSES}
        seg = PredictionOutput().path(held_out["image"], run_dir / "eval" / "evaluation" / "predictions")
        overlay = save_overlay(
            images_dir / f"brain3d_overlay_{network}.png",
            np.asarray(nib.load(held_out["image"]).dataobj),
            [np.asarray(nib.load(held_out["label"]).dataobj), np.asarray(nib.load(seg).dataobj)],
        )
        scalars = read_scalars(run_dir / "eval")
        result["networks"][network] = {
            "title": NETWORKS[network]["title"],
            "train_command": shown(train),
            "evaluate_command": shown(evaluate),
            "final_epoch": epoch,
            "train_seconds": train_seconds,
            "dice": dice,
            "hd95_mm": hd95,
            "mean_dice": metrics["val_mean_dice"],
            "overlay": str(overlay.relative_to(docs_dir)),
            "validation_during_training": [
                {"epoch": e, "val_mean_dice": v} for e, v in scalars.get("val_mean_dice", [])
            ],
        }
        print(
            f"brain3d {network}: Dice "
            + ", ".join(f"{c} {v:.3f}" for c, v in dice.items())
            + "; HD95 (mm) "
            + ", ".join(f"{c} {v:.2f}" for c, v in hd95.items()),
            flush=True,
        )

    runs = {n.replace("_", " "): read_scalars(runs_dir / n / "eval") for n in args.networks}
    curves = plot_curves(images_dir / "brain3d_curves.png", runs, ["train_loss", "val_mean_dice"])
    result["curves"] = str(curves.relative_to(docs_dir))
    result["seconds"] = time.perf_counter() - started
    rows = []
    command = "python -m results.brain3d" + (" --quick" if args.quick else "")
    for entry in result["networks"].values():
        for metric, values, fmt in (("Dice", entry["dice"], "{:.3f}"), ("HD95 (mm)", entry["hd95_mm"], "{:.2f}")):
            text = ", ".join(f"{c.replace('_', ' ')} " + fmt.format(v) for c, v in values.items())
            rows.append(table_row("brain3d", entry["title"], metric, text, command, machine))
    print(f"pictures: {', '.join(str(docs_dir / e['overlay']) for e in result['networks'].values())}, {curves}")
    publish(docs_dir / "results", "brain3d", result, rows, documents=args.publish and not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
