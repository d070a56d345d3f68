"""Model-zoo style ConfigWorkflow tests of training and evaluation with the UNet and the U2-Net, on small NIfTI.

initialize -> check_properties() == [] -> run -> finalize, then the files the workflow promises: the flat best
model, the full-state checkpoint (weights_only), TensorBoard scalars / images, and the named-class CSVs.
"""

from __future__ import annotations

import csv

import pytest
import torch
from monai.bundle import ConfigWorkflow
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tests.conftest import CONFIGS, TINY_TRAIN

NETWORKS = {
    "unet": ([], TINY_TRAIN),
    # U2-Net has no `features`; its RSU blocks make each step ~10x a tiny UNet's, so one step per epoch; BatchNorm needs
    # the 2 patches per step at its 1-voxel bottom
    "u2net": (
        ["u2net.yaml"],
        {
            **{k: v for k, v in TINY_TRAIN.items() if k != "network_def#features"},
            "epoch_length": 1,
            "validate#inferer#overlap": 0.0,
        },
    ),
}


def _workflow(configs: list[str], **overrides) -> ConfigWorkflow:
    workflow = ConfigWorkflow(
        config_file=[str(CONFIGS / c) for c in configs],
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train",
        **overrides,
    )
    workflow.initialize()
    assert workflow.check_properties() == []
    workflow.run()
    workflow.finalize()
    return workflow


def _tensorboard(folder) -> tuple[set[str], set[str]]:
    scalars, images = set(), set()
    for path in folder.glob("events.out.tfevents.*"):
        events = EventAccumulator(str(path), size_guidance={"images": 0})
        events.Reload()
        scalars |= set(events.Tags()["scalars"])
        images |= set(events.Tags()["images"])
    return scalars, images


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_train_then_evaluate(tmp_path, synthetic_dir, network):
    if network == "u2net" and not (CONFIGS / "u2net.yaml").is_file():
        pytest.skip("configs/u2net.yaml is not there yet")
    extra, overrides = NETWORKS[network]
    common = {"bundle_root": str(tmp_path), "dataset_dir": str(synthetic_dir), **overrides}
    _workflow(["train.yaml", *extra], **common)

    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch_0001.pt", "model.pt"]
    best = torch.load(models / "model.pt", weights_only=True)
    assert best and all(isinstance(v, torch.Tensor) for v in best.values())
    full = torch.load(models / "checkpoint_epoch_0001.pt", weights_only=True)
    assert full["trainer"] == {
        "epoch": 1,
        "iteration": overrides["epoch_length"],
        "epoch_length": overrides["epoch_length"],
        "max_epochs": 1,
    }
    assert {"network", "optimizer", "lr_scheduler", "best_model", "rng"} <= set(full)
    assert full["best_model"]["best_epoch"] == 1
    assert all(torch.equal(best[k], full["network"][k]) for k in best), "the only validated epoch is the best"

    scalars, images = _tensorboard(tmp_path / "eval")
    names = ["class_1", "class_2", "class_3"]  # the synthetic dataset.json's label names
    assert {"train_loss", "lr", "val_mean_dice", *(f"val_class_dice/{n}" for n in names)} <= scalars
    assert {"input_0_HWD/image", "input_1_HWD/image", "output_HWD/image"} <= images

    _workflow(["train.yaml", *extra, "evaluate.yaml"], **common)
    evaluation = tmp_path / "eval" / "evaluation"
    for metric, low, high in (("val_class_dice", 0.0, 1.0), ("val_hd95", 0.0, 32 * 2 * 3**0.5)):
        with open(evaluation / f"{metric}_raw.csv") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["filename", *names, "mean"] and len(rows) == 2
        values = [float(v) for v in rows[1][1:]]
        assert all(low <= v <= high for v in values if v == v), (metric, values)  # NaN: a class absent
    summary = dict(line.split(",") for line in (evaluation / "metrics.csv").read_text().splitlines())
    assert {"val_mean_dice", *(f"val_class_dice/{n}" for n in names), *(f"val_hd95/{n}" for n in names)} <= set(summary)
    assert len(list((evaluation / "predictions").iterdir())) == 1
    # and the softmax temperature of models/model.pt, fitted on the validation case, beside it
    assert sorted(p.name for p in models.iterdir()) == ["checkpoint_epoch_0001.pt", "model.pt", "temperature.json"]


def test_cosine_schedule_and_early_stopping(tmp_path, synthetic_dir):
    # min_delta 1 makes every validation after the first "no improvement": patience 1 stops after the second
    workflow = _workflow(
        ["train.yaml"],
        bundle_root=str(tmp_path),
        dataset_dir=str(synthetic_dir),
        **{
            **TINY_TRAIN,
            "max_epochs": 4,
            "lr_schedule": "cosine",
            "early_stop_patience": 1,
            "validate#early_stop#min_delta": 1.0,
            "checkpoint_keep": None,
        },
    )
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.epoch == 2
    assert isinstance(workflow.parser.get_parsed_content("lr_scheduler"), torch.optim.lr_scheduler.CosineAnnealingLR)
    state = torch.load(tmp_path / "models" / "checkpoint_epoch_0002.pt", weights_only=True)
    assert state["early_stop"]["counter"] == 1 and state["lr_scheduler"]["T_max"] == 4
    assert not (tmp_path / "models" / "checkpoint_epoch_0003.pt").exists()
