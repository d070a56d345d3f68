"""nuclei2d result: UNet 2D with and without the U-Net paper's boundary weight map, same seeds and budget.

    python -m results.nuclei2d            # 2 variants x 3 seeds: about 11 min, idle 2-core CPU
    python -m results.nuclei2d --seeds 0  # one pair of runs
    python -m results.nuclei2d --quick    # smoke run: 2 iterations, seed 0, numbers meaningless

Per variant and seed (each seed trains both variants: a paired comparison), in subprocesses, the commands a user
would type:

1. train: ``python -m monai.bundle run --config_file "['configs/train.yaml','configs/nuclei2d.yaml']"`` with its own
   ``--bundle_root`` (``<runs>/<variant>/seed<N>``: ``models/``, TensorBoard logs and checkpoints stay there),
   ``--seed N`` and the budget below; the variant without the weight map adds ``--w0 0 --class_weights '$None'``
   (plain cross-entropy);
2. the network of the last epoch is taken from the last full-state checkpoint (not models/model.pt, which is the
   best validation epoch: chosen on the held-out rows themselves);
3. predict the held-out rows (TIFF rows 384-511) with ``configs/inference.yaml`` set to 2D.

Then, on the written prediction (the input's own grid): foreground Dice against the semantic label, and how many
of the 8 touching nuclei pairs in the held-out rows fall into different connected components (8-connected
components; each nucleus assigned its most-overlapping component). Written: docs/results/nuclei2d.json (every
run), docs/results/nuclei2d.md (table rows: mean over the seeds, then each seed), docs/images/nuclei2d_overlay.png
(top to bottom: image, ground-truth nuclei, predicted connected components with the weight map, without it; first
seed) and docs/images/nuclei2d_curves.png (training loss, validation Dice and pairs separated over the epochs, from
the first seed's TensorBoard files).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from monai_unet_bundle.data import training_datalist
from monai_unet_bundle.evaluation import count_separated_pairs
from monai_unet_bundle.prediction import PredictionOutput
from monai_unet_bundle.visualize import overlay_panel, write_png
from monai_unet_bundle.visualize.curves import plot_curves, read_scalars
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
from scipy import ndimage

VARIANTS = {
    "weight_map": {"title": "UNet 2D + weight map (w0 10, sigma 5)", "args": []},
    "no_weight_map": {"title": "UNet 2D, plain cross-entropy", "args": ["--w0", "0", "--class_weights", "$None"]},
}
BUDGET = {"max_epochs": 100, "epoch_length": 10, "val_interval": 10}  # configs/nuclei2d.yaml's own, stated
QUICK = {"max_epochs": 1, "epoch_length": 2, "val_interval": 1, "num_samples": 2, "roi_size": "[64,64]"}


def foreground_dice(prediction: np.ndarray, label: np.ndarray) -> float:
    pred, true = prediction > 0, label > 0
    return float(2.0 * np.logical_and(pred, true).sum() / max(pred.sum() + true.sum(), 1))


def stacked_overlay(image: np.ndarray, labels: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """RGB rows, top to bottom: the image, then each label map over it (the held-out strip is 512 x 128 px)."""
    width = image.shape[0]  # NIfTI axis 0 (x) becomes the picture's columns
    tiles = [overlay_panel(image, [])] + [overlay_panel(image, [label])[:, -width:] for label in labels]
    spacer = np.full((gap, width, 3), 255, np.uint8)
    return np.concatenate([piece for tile in tiles for piece in (tile, spacer)][:-1], axis=0)


def train_command(run_dir: Path, dataset_dir: Path, variant: str, budget: dict, seed: int = 0) -> list[str]:
    command = BUNDLE_RUN + [
        "--config_file",
        "['configs/train.yaml','configs/nuclei2d.yaml']",
        "--bundle_root",
        str(run_dir),
        "--dataset_dir",
        str(dataset_dir),
        "--seed",
        str(seed),
    ]
    for key, value in budget.items():
        command += [f"--{key}", str(value)]
    return command + VARIANTS[variant]["args"]


def predict_command(model: Path, datalist: Path, out_dir: Path, roi: str) -> list[str]:
    # the nuclei task's settings: 2D, 2 classes, pixel spacing, and nuclei2d.yaml's 1-99.8 percentile scaling
    return BUNDLE_RUN + [
        "--config_file",
        "configs/inference.yaml",
        "--spatial_dims",
        "2",
        "--num_classes",
        "2",
        "--pixdim",
        "[1.0,1.0]",
        "--roi_size",
        roi,
        "--scale_intensity#lower",
        "1.0",
        "--scale_intensity#upper",
        "99.8",
        "--ckpt_path",
        str(model),
        "--datalist",
        str(datalist),
        "--output_dir",
        str(out_dir),
        "--overwrite",
        "true",
        "--progress",
        "false",
    ]


def validation_history(scalars: dict) -> list[dict]:
    """The training's own validations (on the held-out rows): epoch, val_mean_dice, val_pairs_separated."""
    dice = dict(scalars.get("val_mean_dice", []))
    pairs = dict(scalars.get("val_pairs_separated", []))
    return [
        {"epoch": epoch, "val_mean_dice": dice[epoch], "val_pairs_separated": pairs.get(epoch)}
        for epoch in sorted(dice)
    ]


def summarise(runs: dict[int, dict]) -> dict:
    """Mean foreground Dice and pairs separated over the seeds of one variant (``{seed: run}``), and each seed's."""
    seeds = sorted(runs)
    return {
        "seeds": seeds,
        "foreground_dice": float(np.mean([runs[s]["foreground_dice"] for s in seeds])),
        "foreground_dice_per_seed": [runs[s]["foreground_dice"] for s in seeds],
        "pairs_separated": float(np.mean([runs[s]["pairs_separated"] for s in seeds])),
        "pairs_separated_per_seed": [runs[s]["pairs_separated"] for s in seeds],
        "touching_pairs": runs[seeds[0]]["touching_pairs"],
    }


def table_values(entry: dict) -> tuple[str, str]:
    """(Dice, pairs) cells: the mean, then each seed's value in seed order."""
    seeds = ", ".join(map(str, entry["seeds"]))
    dice = ", ".join(f"{v:.3f}" for v in entry["foreground_dice_per_seed"])
    pairs = ", ".join(str(v) for v in entry["pairs_separated_per_seed"])
    total = entry["touching_pairs"]
    if len(entry["seeds"]) == 1:
        return f"{dice} (seed {seeds})", f"{pairs} / {total} (seed {seeds})"
    return (
        f"mean {entry['foreground_dice']:.3f}; seeds {seeds}: {dice}",
        f"mean {entry['pairs_separated']:.2f} / {total}; seeds {seeds}: {pairs}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = result_arguments("nuclei2d", __doc__.split("\n\n")[0])
    parser.add_argument(
        "--seeds", type=int, nargs="+", help="training seeds, each for both variants (default 0 1 2; --quick: 0)"
    )
    args = parser.parse_args(argv)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    started = time.perf_counter()
    dataset_dir, runs_dir, docs_dir = Path(args.dataset_dir), Path(args.runs_dir), Path(args.docs_dir)
    budget = {**BUDGET, **QUICK} if args.quick else dict(BUDGET)
    held_out = training_datalist(dataset_dir, "validation")[0]  # builds the dataset when missing
    image = np.asarray(nib.load(held_out["image"]).dataobj, dtype=np.float32)
    label = np.asarray(nib.load(held_out["label"]).dataobj)
    instances = np.asarray(nib.load(held_out["instance"]).dataobj).astype(np.int64)
    machine = machine_info()
    result: dict = {
        "task": "nuclei2d",
        "held_out": "stardist img2d.tif rows 384-511 (512 x 128 px)",
        "budget": {
            **budget,
            "seeds": seeds,
            "num_samples": budget.get("num_samples", 4),
            "patch": budget.get("roi_size", "[128,128]"),
        },
        "quick": args.quick,
        "training_reused": args.skip_training,
        "machine": machine,
        "variants": {},
    }
    predictions = {}
    for variant in VARIANTS:
        runs = {}
        for seed in seeds:
            run_dir = runs_dir / variant / f"seed{seed}"
            command = train_command(run_dir, dataset_dir, variant, budget, seed)
            train_seconds = train_or_reuse(command, run_dir, args.skip_training)
            model, epoch = final_network(run_dir / "models", run_dir / "final_model.pt")
            datalist = write_datalist([held_out["image"]], run_dir / "held_out.json")
            predict = predict_command(model, datalist, run_dir / "predictions", budget.get("roi_size", "[128,128]"))
            run_logged(predict, run_dir / "predict.log", REPO)
            seg_path = PredictionOutput().path(held_out["image"], run_dir / "predictions")
            prediction = np.asarray(nib.load(seg_path).dataobj)
            separated, total = count_separated_pairs(prediction > 0, instances)
            dice = foreground_dice(prediction, label)
            predictions.setdefault(variant, prediction)  # the pictures show the first seed
            runs[seed] = {
                "train_command": shown(command),
                "predict_command": shown(predict),
                "final_epoch": epoch,
                "train_seconds": train_seconds,
                "foreground_dice": dice,
                "pairs_separated": separated,
                "touching_pairs": total,
                "validation_during_training": validation_history(read_scalars(run_dir / "eval")),
            }
            print(
                f"nuclei2d {variant} seed {seed}: foreground Dice {dice:.3f}, touching pairs separated "
                f"{separated}/{total} (epoch {epoch} network)",
                flush=True,
            )
        result["variants"][variant] = {
            "title": VARIANTS[variant]["title"],
            **summarise(runs),
            "runs": {str(seed): run for seed, run in runs.items()},
        }

    result["seconds"] = time.perf_counter() - started
    results_dir, images_dir = docs_dir / "results", docs_dir / "images"
    # image | ground-truth nuclei (one colour per instance) | predicted connected components, per variant
    components = [ndimage.label(predictions[v] > 0, structure=np.ones((3, 3)))[0] for v in VARIANTS]
    overlay = write_png(images_dir / "nuclei2d_overlay.png", stacked_overlay(image, [instances, *components]))
    runs = {v.replace("_", " "): read_scalars(runs_dir / v / f"seed{seeds[0]}" / "eval") for v in VARIANTS}
    curves = plot_curves(
        images_dir / "nuclei2d_curves.png", runs, ["train_loss", "val_mean_dice", "val_pairs_separated"]
    )
    result["pictures"] = {"overlay": str(overlay.relative_to(docs_dir)), "curves": str(curves.relative_to(docs_dir))}
    rows = []
    command = (
        "python -m results.nuclei2d"
        + (" --quick" if args.quick else "")
        + (f" --seeds {' '.join(map(str, seeds))}" if args.seeds else "")
    )
    for entry in result["variants"].values():
        dice, pairs = table_values(entry)
        rows.append(table_row("nuclei2d", entry["title"], "foreground Dice", dice, command, machine))
        rows.append(table_row("nuclei2d", entry["title"], "touching pairs separated", pairs, command, machine))
    print(f"pictures: {overlay}, {curves}")
    publish(results_dir, "nuclei2d", result, rows, documents=args.publish and not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
