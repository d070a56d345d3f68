"""Turn each per-class (vector) metric into one named scalar per class, for every metric writer.

``MeanDice(reduction="mean_batch")`` leaves a vector in ``engine.state.metrics``: MONAI's TensorBoard handler skips
non-scalars and MLflow rejects them. Run this handler first on the evaluator's ``EPOCH_COMPLETED``; it replaces
``val_class_dice = tensor([a, b, c])`` by ``val_class_dice/csf = a``, ``val_class_dice/gray_matter = b``, ...
which StatsHandler, TensorBoardStatsHandler and MLFlowHandler then log like any scalar (TensorBoard groups them
by the part before the slash). Per-case values (``engine.state.metric_details``) are untouched. Example::

    validate#handlers:
      - _target_: monai_unet_bundle.handlers.PerClassMetrics
        class_names: [csf, gray_matter, white_matter]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ignite.engine import Engine, Events

__all__ = ["PerClassMetrics"]


class PerClassMetrics:
    """Split vector metrics of length ``len(class_names)`` into ``<metric>/<class>`` scalars.

    Args:
        class_names: one name per class channel of the metrics (the foreground classes when the metric excludes
            the background).
        metric_names: the metrics to split; ``None`` = every 1-D metric whose length is ``len(class_names)``.
            A listed metric of another length is an error; a listed metric that is absent is ignored, so config
            overrides may drop it.
    """

    def __init__(self, class_names: Sequence[str], metric_names: Sequence[str] | None = None) -> None:
        self.class_names = [str(n) for n in class_names]
        if len(set(self.class_names)) != len(self.class_names):
            raise ValueError(f"class_names must be distinct, got {self.class_names}")
        self.metric_names = None if metric_names is None else list(metric_names)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        metrics = engine.state.metrics
        for name in list(metrics):
            value = metrics[name]
            if not isinstance(value, (torch.Tensor, np.ndarray)) or value.ndim != 1:
                continue
            if len(value) != len(self.class_names):
                if self.metric_names is not None and name in self.metric_names:
                    raise ValueError(
                        f"metric '{name}' has {len(value)} class values but class_names are {self.class_names}"
                    )
                continue
            if self.metric_names is not None and name not in self.metric_names:
                continue
            del metrics[name]
            for class_name, class_value in zip(self.class_names, value.tolist()):
                metrics[f"{name}/{class_name}"] = float(class_value)
