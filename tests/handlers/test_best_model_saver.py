"""BestModelSaver: a flat state_dict on improvement only, kept across a state_dict round trip."""

from __future__ import annotations

import math
import os

import pytest
import torch
from ignite.engine import Engine
from monai_unet_bundle.handlers import BestModelSaver


def _validate(saver: BestModelSaver, scores: list[float], network: torch.nn.Module) -> list[float]:
    """Run one 'validation' per score; return the weight saved in model.pt after each."""
    saved = []
    for epoch, score in enumerate(scores, start=1):
        engine = Engine(lambda e, b: None)
        engine.state.epoch, engine.state.metrics = epoch, {"val_mean_dice": score}
        with torch.no_grad():
            network.weight.fill_(float(epoch))
        saver(engine)
        exists = os.path.exists(saver.path)
        saved.append(torch.load(saver.path, weights_only=True)["weight"].flatten()[0].item() if exists else None)
    return saved


def test_saves_only_improvements(tmp_path):
    network = torch.nn.Linear(2, 1)
    saver = BestModelSaver(str(tmp_path), torch.nn.DataParallel(network), metric_name="val_mean_dice")
    assert _validate(saver, [0.2, 0.5, 0.4, float("nan"), 0.6], network) == [1.0, 2.0, 2.0, 2.0, 5.0]
    state = torch.load(tmp_path / "model.pt", weights_only=True)
    assert set(state) == {"weight", "bias"}, "flat, without a 'module.' prefix or a {'model': ...} wrapper"
    assert saver.state_dict() == {"best_metric": 0.6, "best_epoch": 5}


def test_restored_state_prevents_a_worse_overwrite(tmp_path):
    network = torch.nn.Linear(2, 1)
    saver = BestModelSaver(str(tmp_path), network, metric_name="val_mean_dice")
    saver.load_state_dict({"best_metric": 0.9, "best_epoch": 3})
    assert _validate(saver, [0.5], network) == [None]


def test_lower_is_better_and_missing_metric(tmp_path):
    network = torch.nn.Linear(2, 1)
    saver = BestModelSaver(str(tmp_path), network, metric_name="val_mean_dice", higher_is_better=False)
    assert saver.best_metric == math.inf
    assert _validate(saver, [3.0, 4.0, 1.0], network) == [1.0, 1.0, 3.0]
    engine = Engine(lambda e, b: None)
    engine.state.metrics = {"other": 1.0}
    with pytest.raises(KeyError, match="val_mean_dice"):
        saver(engine)
