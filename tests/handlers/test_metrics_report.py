"""ClassNamedMetricsSaver: class names in the CSV columns, scalar-only metrics.csv, no half-written files."""

from __future__ import annotations

import csv

import pytest
import torch
from ignite.engine import Engine
from monai_unet_bundle.handlers import ClassNamedMetricsSaver


def _engine(details: dict) -> Engine:
    engine = Engine(lambda e, b: None)
    engine.state.metrics = {"val_mean_dice": 0.5, "val_class_dice/csf": 0.25, "vector": torch.tensor([1.0, 2.0])}
    engine.state.metric_details = details
    return engine


def test_named_columns_and_summary(tmp_path):
    saver = ClassNamedMetricsSaver(
        str(tmp_path), metric_details=["val_class_dice"], class_labels=["csf", "gm"], summary_ops=["mean", "max"]
    )
    saver._filenames = ["a.nii.gz", "b.nii.gz"]
    saver(_engine({"val_class_dice": torch.tensor([[0.2, 0.4], [0.6, float("nan")]]), "skipped": torch.ones(2, 2)}))
    with open(tmp_path / "val_class_dice_raw.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["filename", "csf", "gm", "mean"]
    assert rows[1][0] == "a.nii.gz" and [float(v) for v in rows[1][1:]] == pytest.approx([0.2, 0.4, 0.3])
    with open(tmp_path / "val_class_dice_summary.csv") as handle:
        summary = {row[0]: row[1:] for row in csv.reader(handle)}
    assert summary["class"] == ["mean", "max"] and float(summary["csf"][0]) == pytest.approx(0.4)
    assert float(summary["gm"][0]) == pytest.approx(0.4), "NaN cases are left out"
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines == ["val_mean_dice,0.5", "val_class_dice/csf,0.25"], "vectors are not written as tensor(...)"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "metrics.csv",
        "val_class_dice_raw.csv",
        "val_class_dice_summary.csv",
    ], "no staging folder is left behind and unlisted details are not written"


def test_wrong_number_of_class_labels_is_an_error(tmp_path):
    saver = ClassNamedMetricsSaver(str(tmp_path), metric_details="*", class_labels=["csf"])
    with pytest.raises(ValueError, match="'val_class_dice' has 2 class values"):
        saver(_engine({"val_class_dice": torch.ones(1, 2)}))
    assert list(tmp_path.iterdir()) == []
