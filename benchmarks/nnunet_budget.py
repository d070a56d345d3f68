"""nnU-Net v2 trained for a fixed number of CPU seconds, then its held-out prediction (needs the ``peers`` extra).

    nnUNet_raw=R nnUNet_preprocessed=P nnUNet_results=S \\
        python -m benchmarks.nnunet_budget train --dataset Dataset501_brain3d --cpu-seconds 420
    ... python -m benchmarks.nnunet_budget predict --dataset Dataset501_brain3d --image x.nii.gz --out-dir D

nnU-Net reads its three folders from the environment when it is imported, so each step runs in its own process
with them set (the benchmark sets them per run, never globally). :class:`BudgetTrainer` is nnU-Net's own
``nnUNetTrainer`` (same network, loss, augmentation, optimiser, poly schedule), with short epochs and a loop that stops
when the next epoch would not finish within ``--cpu-seconds`` of this process's CPU time (on a shared machine the
CPU time a training gets is what can be made equal; its wall time follows the load); after every epoch the poly
schedule's length is set to the epochs that still fit, so the learning rate reaches ~0 at the end of the budget as it
does at epoch 1000 normally.
It is constructed directly (nnU-Net's CLI finds trainers only inside its own package, whose files stay untouched).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

CONFIGURATION = "3d_fullres"
PLANS = "nnUNetPlans"
TRAIN_ITERATIONS = 3  # per epoch (nnU-Net: 250): the budget is checked between epochs (~40 CPU s apart on a CPU)
VAL_ITERATIONS = 1  # per epoch (nnU-Net: 50): its pseudo Dice is not used, the held-out case is scored afterwards


class BudgetTrainer(nnUNetTrainer):
    """``nnUNetTrainer`` that trains for ``budget_seconds`` of process CPU time (set before :meth:`run_training`)
    in short epochs."""

    budget_seconds: float = 60.0

    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict, device: torch.device):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_iterations_per_epoch = TRAIN_ITERATIONS
        self.num_val_iterations_per_epoch = VAL_ITERATIONS
        self.save_every = 10**6  # only checkpoint_final (and nnU-Net's checkpoint_best)
        self.epoch_seconds: list[float] = []  # CPU seconds
        self.loop_seconds = 0.0  # wall
        self.loop_cpu_seconds = 0.0

    def run_training(self) -> None:
        started, cpu_started = time.monotonic(), time.process_time()  # data loading and unpacking count, as in ours
        self.on_train_start()
        while self.current_epoch < self.num_epochs:
            epoch_started = time.process_time()
            self.on_epoch_start()
            self.on_train_epoch_start()
            outputs = [self.train_step(next(self.dataloader_train)) for _ in range(self.num_iterations_per_epoch)]
            self.on_train_epoch_end(outputs)
            with torch.no_grad():
                self.on_validation_epoch_start()
                val = [
                    self.validation_step(next(self.dataloader_val)) for _ in range(self.num_val_iterations_per_epoch)
                ]
                self.on_validation_epoch_end(val)
            self.on_epoch_end()  # current_epoch += 1
            self.epoch_seconds.append(time.process_time() - epoch_started)
            remaining = self.budget_seconds - (time.process_time() - cpu_started)
            more = int(remaining // float(np.mean(self.epoch_seconds[-3:])))
            self.num_epochs = self.current_epoch + max(0, more)
            self.lr_scheduler.max_steps = max(self.num_epochs, 1)  # poly decay to ~0 at the budget's end
        self.loop_seconds = time.monotonic() - started
        self.loop_cpu_seconds = time.process_time() - cpu_started
        self.on_train_end()


def _device() -> torch.device:
    return torch.device(
        "cuda" if torch.cuda.is_available() and os.environ.get("NNUNET_BENCH_DEVICE") == "cuda" else "cpu"
    )


def train(dataset: str, seconds: float) -> dict:
    """Train fold ``all`` of ``dataset`` (preprocessed already) for ``seconds`` of CPU time; returns what it did."""
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.paths import nnUNet_preprocessed

    base = Path(nnUNet_preprocessed) / dataset
    plans = load_json(str(base / f"{PLANS}.json"))
    plans["continue_training"] = False  # what nnU-Net's run_training adds before constructing its trainer
    trainer = BudgetTrainer(plans, CONFIGURATION, "all", load_json(str(base / "dataset.json")), _device())
    trainer.budget_seconds = seconds
    trainer.run_training()
    return {
        "budget_cpu_seconds": seconds,
        "loop_seconds": trainer.loop_seconds,
        "loop_cpu_seconds": trainer.loop_cpu_seconds,
        "epochs": trainer.current_epoch,
        "iterations": trainer.current_epoch * TRAIN_ITERATIONS,
        "batch_size": trainer.batch_size,
        "patch_size": list(trainer.configuration_manager.patch_size),
        "mean_epoch_cpu_seconds": float(np.mean(trainer.epoch_seconds)) if trainer.epoch_seconds else None,
        "final_train_loss": float(trainer.logger.get_value("train_losses", step=-1)),
        "output_folder": trainer.output_folder,
    }


def trained_folder(dataset: str) -> Path:
    """``nnUNet_results/<dataset>/BudgetTrainer__nnUNetPlans__3d_fullres``: plans.json, dataset.json, fold_all/."""
    from nnunetv2.paths import nnUNet_results

    return Path(nnUNet_results) / dataset / f"{BudgetTrainer.__name__}__{PLANS}__{CONFIGURATION}"


def predict(dataset: str, image: str, out_dir: str) -> Path:
    """Predict ``image`` with the trained ``fold_all/checkpoint_final.pth`` (nnU-Net's Gaussian sliding window at
    half-patch steps; without its test-time mirroring, 8x the CPU time in 3D, which ours does not do either); the
    segmentation is written in the input's geometry as ``<out_dir>/<case>.nii.gz``."""
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.label_handling.label_handling import determine_num_input_channels
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    folder = trained_folder(dataset)
    plans_manager = PlansManager(load_json(str(folder / "plans.json")))
    dataset_json = load_json(str(folder / "dataset.json"))
    configuration = plans_manager.get_configuration(CONFIGURATION)
    # nnU-Net's checkpoint carries its plans and logs (numpy scalars): only its network weights are used here
    checkpoint = torch.load(folder / "fold_all" / "checkpoint_final.pth", map_location="cpu", weights_only=False)
    network = BudgetTrainer.build_network_architecture(
        plans_manager,
        configuration,
        determine_num_input_channels(plans_manager, configuration, dataset_json),
        plans_manager.get_label_manager(dataset_json).num_segmentation_heads,
        enable_deep_supervision=False,
    )
    network.load_state_dict(checkpoint["network_weights"])
    predictor = nnUNetPredictor(use_mirroring=False, device=_device(), verbose=False, allow_tqdm=False)
    # the trainer's class is not in nnU-Net's package, so the predictor is given the network directly
    predictor.manual_initialization(
        network,
        plans_manager,
        configuration,
        [checkpoint["network_weights"]],
        dataset_json,
        BudgetTrainer.__name__,
        checkpoint.get("inference_allowed_mirroring_axes"),
    )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    case = Path(image).name.removesuffix(".nii.gz")
    predictor.predict_from_files([[str(image)]], [str(Path(out_dir) / case)], num_processes_preprocessing=1,
                                 num_processes_segmentation_export=1)  # fmt: skip
    return Path(out_dir) / f"{case}.nii.gz"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nnunet_budget", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="step", required=True)
    train_parser = sub.add_parser("train")
    train_parser.add_argument("--dataset", required=True, help="Dataset<NNN>_<name>, preprocessed")
    train_parser.add_argument("--cpu-seconds", type=float, required=True, help="training budget, process CPU time")
    train_parser.add_argument("--out", required=True, help="JSON summary of the training")
    predict_parser = sub.add_parser("predict")
    predict_parser.add_argument("--dataset", required=True)
    predict_parser.add_argument("--image", required=True)
    predict_parser.add_argument("--out-dir", required=True)
    args = parser.parse_args(argv)
    if args.step == "train":
        summary = train(args.dataset, args.cpu_seconds)
        Path(args.out).write_text(json.dumps(summary, indent=4) + "\n")
        print(json.dumps(summary))
    else:
        print(predict(args.dataset, args.image, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
