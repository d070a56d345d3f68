"""Clicks-to-Dice: how much a click-guided network (configs/deepedit/) gains per click, on brain3d and nuclei2d.

    python -m results.interactive            # brain3d and nuclei2d: see docs/results.md for the time on which CPU
    python -m results.interactive --quick    # smoke run: 2 iterations each, numbers meaningless

Per task, in subprocesses, the training a user would type: first the automatic network (``python -m monai.bundle
run --config_file "['configs/train.yaml', ...]"``, in ``<task>_automatic``), then the click network warm-started from
it (``... 'configs/deepedit/train.yaml']" --pretrained_automatic <automatic final network>``), each with its own
``--bundle_root``; the network of the last epoch goes to ``<run>/final/model.pt``. Then a simulated user
(:mod:`monai_unet_bundle.evaluation.clicks`) works on the held-out case: the deepedit inference config (MONAI's parser,
the transforms MONAI Label runs) predicts with the clicks so far, the next click goes to the centre of the largest
error region. Reported: mean foreground
Dice after 0, 1, 3, 5 and 10 clicks, and the clicks needed to reach Dice 0.90 (at most ``--max-clicks``). Beside it
the bound of the protocol: the same user on a predictor that fixes each clicked error region whole (and nothing else),
from the network's own 0-click prediction (``region_oracle``): a network gains more only by fixing errors it was not
clicked on. And what a click does: the voxels it fixes and breaks (``click_changes``), mean of clicks 1-10.

Written: docs/results/interactive.json, docs/results/interactive.md (table rows), docs/images/interactive_clicks.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import torch
from monai.bundle import ConfigParser
from monai.transforms import Compose, SaveImaged
from monai_unet_bundle.data import training_datalist
from monai_unet_bundle.evaluation import class_dice, click_changes, clicks_to_reach, region_oracle, simulate_clicks
from monai_unet_bundle.visualize.curves import plot_curves
from results.bundle_runs import BUNDLE_RUN, REPO, final_network, result_arguments, shown, train_or_reuse
from results.machine import machine_info
from results.publish import publish, table_row

TASKS = {
    "brain3d": {
        "title": "UNet 3D click-guided (16-32-64-128)",
        "configs": ["configs/train.yaml", "configs/deepedit/train.yaml"],
        # the automatic network the click network starts from: 40 epochs x 10 iterations of 4 32x48x48 patches
        "automatic": {"max_epochs": 40, "epoch_length": 10, "val_interval": 40, "roi_size": "[32,48,48]"},
        # then click training: 100 epochs x 10 iterations of one 32x48x48 patch, clicks in 3 of 4 iterations (the
        # 2026-12-03 run's 15 x 10 did not teach the network to follow clicks: docs/results.md)
        "budget": {
            "max_epochs": 100,
            "epoch_length": 10,
            "val_interval": 100,
            "lr": 0.001,  # fine-tuning a trained network
            "roi_size": "[32,48,48]",
            "click_share": 0.75,
        },
        "infer": {"roi_size": [32, 48, 48]},
    },
    "nuclei2d": {
        "title": "UNet 2D click-guided (16-32-64-128)",
        "configs": ["configs/train.yaml", "configs/nuclei2d.yaml", "configs/deepedit/train.yaml"],
        "automatic": {"max_epochs": 30, "epoch_length": 10, "val_interval": 30},
        "budget": {"max_epochs": 60, "epoch_length": 10, "val_interval": 60, "lr": 0.001, "click_share": 0.75},
        # nuclei2d's inference settings (results/nuclei2d.py): 2D, 2 classes, pixel grid, 1-99.8 percentiles
        "infer": {
            "spatial_dims": 2,
            "num_classes": 2,
            "pixdim": [1.0, 1.0],
            "roi_size": [128, 128],
            "scale_intensity#lower": 1.0,
            "scale_intensity#upper": 99.8,
            "label_names": {"background": 0, "nucleus": 1},
        },
    },
}
QUICK = {"max_epochs": 1, "epoch_length": 2, "val_interval": 1}
REPORTED_CLICKS = (0, 1, 3, 5, 10)
TARGET_DICE = 0.90
CHANGE_CLICKS = 10  # clicks over which the voxels a click fixes and breaks are averaged


def config_files(configs: list[str]) -> str:
    return "[" + ",".join(f"'{c}'" for c in configs) + "]"


def train_command(configs: list[str], run_dir: Path, dataset_dir: Path, budget: dict) -> list[str]:
    """``python -m monai.bundle run`` of ``configs`` into ``run_dir`` with the ``budget`` overrides, seed 0."""
    extra = [part for key, value in budget.items() for part in (f"--{key}", str(value))]
    return BUNDLE_RUN + [
        "--config_file",
        config_files(configs),
        "--bundle_root",
        str(run_dir),
        "--dataset_dir",
        str(dataset_dir),
        "--seed",
        "0",
        *extra,
    ]


class ClickPredictor:
    """The deepedit inference config as MONAI Label runs it: ``predict(image_path, clicks)`` -> label map in the
    image file's grid (preprocessing with the clicks, the config's inferer, postprocessing without its writer)."""

    def __init__(self, configs: list[str], model: Path, overrides: dict) -> None:
        parser = ConfigParser()
        parser.read_config([str(REPO / c) for c in configs])
        for key, value in {"device": "cpu", "progress": False, **overrides}.items():
            parser[key] = value
        self.network = parser.get_parsed_content("network_def", instantiate=True)
        self.network.load_state_dict(torch.load(model, map_location="cpu", weights_only=True))
        self.network.eval()
        self.preprocessing = parser.get_parsed_content("preprocessing", instantiate=True)
        self.inferer = parser.get_parsed_content("inferer", instantiate=True)
        post = parser.get_parsed_content("postprocessing", instantiate=True)
        self.postprocessing = Compose([t for t in post.transforms if not isinstance(t, SaveImaged)])

    def __call__(self, image_path: str, clicks: dict[str, list[list[int]]]) -> np.ndarray:
        data = self.preprocessing({"image": image_path, **clicks})
        with torch.no_grad():
            data["pred"] = self.inferer(data["image"][None], self.network)[0]
        pred = self.postprocessing(data)["pred"]
        return np.asarray(pred.detach().cpu() if isinstance(pred, torch.Tensor) else pred).squeeze(0)


def plot_click_curves(path: Path, curves: dict[str, list[float]], bounds: dict[str, list[float]]) -> Path:
    """One panel "dice_by_clicks", per task a line for the network and one for the protocol's bound (x: clicks),
    with the package's plotter."""
    runs = {task: {"dice_by_clicks": list(enumerate(curve))} for task, curve in curves.items()}
    runs.update({f"{task} bound": {"dice_by_clicks": list(enumerate(bound))} for task, bound in bounds.items()})
    return plot_curves(path, runs, ["dice_by_clicks"])


def main(argv: list[str] | None = None) -> int:
    parser = result_arguments("interactive", __doc__.split("\n\n")[0])
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--max-clicks", type=int, default=20, help="clicks simulated per held-out case")
    parser.add_argument("--data-root", default=str(REPO / "data"), help="<data-root>/<task> (built when missing)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    runs_dir, docs_dir = Path(args.runs_dir), Path(args.docs_dir)
    machine = machine_info()
    result: dict = {"task": "interactive", "quick": args.quick, "machine": machine, "tasks": {}}
    rows, curves, bounds = [], {}, {}
    command = "python -m results.interactive" + (" --quick" if args.quick else "")
    for task in args.tasks:
        spec = TASKS[task]
        dataset_dir = Path(args.data_root) / task
        held_out = training_datalist(dataset_dir, "validation")  # builds the dataset when missing
        # the automatic network first (the configs without the deepedit override), then the click network from it
        automatic_dir = runs_dir / f"{task}_automatic"
        automatic_budget = {**spec["automatic"], **QUICK} if args.quick else dict(spec["automatic"])
        automatic_train = train_command(spec["configs"][:-1], automatic_dir, dataset_dir, automatic_budget)
        automatic_seconds = train_or_reuse(automatic_train, automatic_dir, args.skip_training)
        automatic_model, automatic_epoch = final_network(automatic_dir / "models", automatic_dir / "final" / "model.pt")
        run_dir = runs_dir / task
        budget = {**spec["budget"], **QUICK} if args.quick else dict(spec["budget"])
        budget["pretrained_automatic"] = str(automatic_model)
        train = train_command(spec["configs"], run_dir, dataset_dir, budget)
        train_seconds = train_or_reuse(train, run_dir, args.skip_training)
        model, epoch = final_network(run_dir / "models", run_dir / "final" / "model.pt")
        infer_configs = ["configs/inference.yaml", "configs/deepedit/inference.yaml"]
        # the guidance the network learnt: the same Gaussian width as its training
        sigma = {"click_sigma": budget["click_sigma"]} if "click_sigma" in budget else {}
        predictor = ClickPredictor(infer_configs, model, {**spec["infer"], **sigma})
        label_names = spec["infer"].get("label_names") or {
            "background": 0,
            "csf": 1,
            "gray_matter": 2,
            "white_matter": 3,
        }
        # the reference: the automatic network it started from, through the plain inference config
        automatic = ClickPredictor(["configs/inference.yaml"], automatic_model, spec["infer"])
        num_classes = len(label_names)
        case_curves, case_class_curves, oracle_curves, automatic_dice, clicks_given = [], [], [], [], {}
        changes: list[list[tuple[int, int]]] = []  # per case, per click: (voxels fixed, voxels broken)
        errors_0: list[int] = []  # per case: wrong voxels without clicks
        bound_fixed: list[list[int]] = []  # per case, per click of the bound: voxels it fixed
        for case in held_out:
            label = np.asarray(nib.load(case["label"]).dataobj).astype(np.int64)
            automatic_dice.append(class_dice(label, automatic(case["image"], {}), num_classes))
            class_curve: list[list[float]] = []  # per prediction, in click order: Dice of classes 1..C-1
            kept: dict[str, np.ndarray] = {}  # the 0-click prediction (where the bound starts) and the latest
            case_changes: list[tuple[int, int]] = []  # per click: (voxels fixed, voxels broken)

            def predict(
                clicks, path=case["image"], label=label, class_curve=class_curve, kept=kept, case_changes=case_changes
            ):
                pred = predictor(path, clicks)
                class_curve.append(class_dice(label, pred, num_classes))
                if kept:
                    case_changes.append(click_changes(label, kept["latest"], pred))
                else:
                    kept["first"] = pred
                kept["latest"] = pred
                return pred

            curve, given = simulate_clicks(predict, label, label_names, args.max_clicks)
            oracle_fixed: list[int] = []
            oracle_curves.append(region_oracle(label, kept["first"], num_classes, args.max_clicks, oracle_fixed))
            bound_fixed.append(oracle_fixed[:CHANGE_CLICKS])
            class_curve += [class_curve[-1]] * (len(curve) - len(class_curve))  # an exact prediction stops early
            changes.append(case_changes)
            errors_0.append(int((kept["first"] != label).sum()))
            case_curves.append(curve)
            case_class_curves.append(class_curve)
            clicks_given[case["image"]] = given
            print(f"{task} {Path(case['image']).name}: Dice by clicks " + ", ".join(f"{d:.3f}" for d in curve))
        curve = [float(v) for v in np.mean(case_curves, axis=0)]
        oracle = [float(v) for v in np.mean(oracle_curves, axis=0)]
        class_names = [name for name, _ in sorted(label_names.items(), key=lambda item: item[1])][1:]
        class_curves = np.mean(case_class_curves, axis=0)  # (clicks + 1, C - 1)
        curves[task], bounds[task] = curve, oracle
        needed = clicks_to_reach(curve, TARGET_DICE)
        first = [case[:CHANGE_CLICKS] for case in changes if case]
        fixed = float(np.mean([f for case in first for f, _ in case])) if first else 0.0
        broken = float(np.mean([b for case in first for _, b in case])) if first else 0.0
        fixed_bound = float(np.mean([f for case in bound_fixed for f in case])) if any(bound_fixed) else 0.0
        result["tasks"][task] = {
            "title": spec["title"],
            "automatic_train_command": shown(automatic_train),
            "automatic_final_epoch": automatic_epoch,
            "automatic_train_seconds": automatic_seconds,
            "train_command": shown(train),
            "final_epoch": epoch,
            "train_seconds": train_seconds,
            "held_out_cases": [case["image"] for case in held_out],
            "automatic_dice": float(np.mean(automatic_dice)),
            "automatic_class_dice": dict(zip(class_names, np.mean(automatic_dice, axis=0).tolist())),
            "dice_by_clicks": curve,
            "class_dice_by_clicks": {name: class_curves[:, i].tolist() for i, name in enumerate(class_names)},
            "clicks_given": clicks_given,
            "dice_at": {str(k): curve[k] for k in REPORTED_CLICKS if k < len(curve)},
            "clicks_to_dice_0.90": needed,
            "gain_5_clicks": curve[5] - curve[0] if len(curve) > 5 else None,
            "region_oracle_dice_by_clicks": oracle,
            "region_oracle_gain_5_clicks": oracle[5] - oracle[0] if len(oracle) > 5 else None,
            "voxels_fixed_broken_by_click": {case["image"]: c for case, c in zip(held_out, changes)},
            f"voxels_fixed_per_click_1_{CHANGE_CLICKS}": fixed,
            f"voxels_broken_per_click_1_{CHANGE_CLICKS}": broken,
            f"region_oracle_voxels_fixed_per_click_1_{CHANGE_CLICKS}": fixed_bound,
            "wrong_voxels_0_clicks": float(np.mean(errors_0)),
        }
        text = ", ".join(f"{k} clicks {curve[k]:.3f}" for k in REPORTED_CLICKS if k < len(curve))
        reach = f"{needed}" if needed is not None else f"> {args.max_clicks}"
        rows.append(table_row(task, spec["title"], "Dice after clicks", text, command, machine))
        bound = ", ".join(f"{k} clicks {oracle[k]:.3f}" for k in REPORTED_CLICKS if k < len(oracle))
        bound_row = "Dice after clicks if each fixed its error region whole (the protocol's bound)"
        rows.append(table_row(task, spec["title"], bound_row, bound, command, machine))
        rows.append(table_row(task, spec["title"], f"clicks to Dice {TARGET_DICE:.2f}", reach, command, machine))
        what = f"voxels a click fixes / breaks (mean of clicks 1-{CHANGE_CLICKS})"
        done = (
            f"fixes {fixed:.0f}, breaks {broken:.0f} (the bound fixes {fixed_bound:.0f}); "
            f"{np.mean(errors_0):,.0f} voxels wrong without clicks"
        )
        rows.append(table_row(task, spec["title"], what, done, command, machine))
    plot = plot_click_curves(docs_dir / "images" / "interactive_clicks.png", curves, bounds)
    result["plot"] = str(plot.relative_to(docs_dir))
    result["seconds"] = time.perf_counter() - started
    publish(docs_dir / "results", "interactive", result, rows, documents=args.publish and not args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
