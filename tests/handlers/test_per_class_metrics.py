"""PerClassMetrics: vector metrics become named scalars; others are left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai_unet_bundle.handlers import PerClassMetrics


def _engine(metrics: dict) -> Engine:
    engine = Engine(lambda e, b: None)
    engine.state.metrics = dict(metrics)
    return engine


def test_vectors_are_split_by_class_name():
    engine = _engine(
        {
            "val_mean_dice": 0.5,
            "val_class_dice": torch.tensor([0.1, 0.2, 0.3]),
            "val_hd95": np.array([1.0, 2.0, 3.0]),
            "other": torch.tensor([1.0, 2.0]),
        }
    )
    PerClassMetrics(["csf", "gm", "wm"])(engine)
    other = engine.state.metrics.pop("other")
    assert torch.equal(other, torch.tensor([1.0, 2.0])), "a vector of another length stays as it is"
    assert engine.state.metrics == pytest.approx(
        {
            "val_mean_dice": 0.5,
            "val_class_dice/csf": 0.1,
            "val_class_dice/gm": 0.2,
            "val_class_dice/wm": 0.3,
            "val_hd95/csf": 1.0,
            "val_hd95/gm": 2.0,
            "val_hd95/wm": 3.0,
        }
    )
    assert all(isinstance(v, float) for k, v in engine.state.metrics.items() if "/" in k)


def test_listed_metrics_only_and_length_errors():
    engine = _engine({"val_class_dice": torch.tensor([0.1, 0.2]), "val_hd95": torch.tensor([1.0, 2.0])})
    PerClassMetrics(["a", "b"], metric_names=["val_hd95", "absent"])(engine)
    assert set(engine.state.metrics) == {"val_class_dice", "val_hd95/a", "val_hd95/b"}
    with pytest.raises(ValueError, match="'val_class_dice' has 2 class values"):
        PerClassMetrics(["a", "b", "c"], metric_names=["val_class_dice"])(engine)
    with pytest.raises(ValueError, match="distinct"):
        PerClassMetrics(["a", "a"])
