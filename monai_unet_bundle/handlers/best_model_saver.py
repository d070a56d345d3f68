"""Keep the best-by-validation network as a flat ``state_dict`` file, written atomically.

``models/model.pt`` is what MONAI Label, ``ckpt_export`` / ``onnx_export`` and the inference config load: a plain
``{parameter name: tensor}`` dict. MONAI's ``CheckpointSaver`` writes it non-atomically; this handler writes it
through :func:`~monai_unet_bundle.atomic_write.atomic_torch_save` from rank 0, and its ``state_dict()`` (best value
and epoch) goes into the full-state checkpoint so that a resumed run does not overwrite a better model with a
worse one. Example::

    validate#handlers:
      - _target_: monai_unet_bundle.handlers.BestModelSaver
        save_dir: "@ckpt_dir"
        network: "@network"
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from monai_unet_bundle.checkpoints import atomic_torch_save, unwrap_network

__all__ = ["BestModelSaver", "FinalModelFallback"]

logger = logging.getLogger(__name__)


class BestModelSaver:
    """After each validation, save ``network`` to ``<save_dir>/<filename>`` if the metric improved.

    Args:
        save_dir: the folder (``models/``).
        network: the trained network (a ``DistributedDataParallel`` wrapper is unwrapped: keys have no
            ``module.`` prefix).
        filename: the file name.
        metric_name: the metric in ``engine.state.metrics`` to compare; ``None`` = the evaluator's key metric.
        higher_is_better: ``False`` for losses and distances.
    """

    def __init__(
        self,
        save_dir: str,
        network: torch.nn.Module,
        filename: str = "model.pt",
        metric_name: str | None = None,
        higher_is_better: bool = True,
    ) -> None:
        self.path = os.path.join(save_dir, filename)
        self.network = network
        self.metric_name = metric_name
        self.higher_is_better = higher_is_better
        self.best_metric = -math.inf if higher_is_better else math.inf
        self.best_epoch = -1

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def state_dict(self) -> dict[str, Any]:
        return {"best_metric": float(self.best_metric), "best_epoch": int(self.best_epoch)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best_metric = float(state["best_metric"])
        self.best_epoch = int(state["best_epoch"])

    def _improved(self, value: float) -> bool:
        if math.isnan(value):
            return False
        return value > self.best_metric if self.higher_is_better else value < self.best_metric

    def __call__(self, engine: Engine) -> None:
        name = self.metric_name or getattr(engine.state, "key_metric_name", None)
        if name is None or name not in engine.state.metrics:
            raise KeyError(f"BestModelSaver: metric {name!r} not among {sorted(engine.state.metrics)}")
        value = float(engine.state.metrics[name])
        if not self._improved(value):
            return
        self.best_metric, self.best_epoch = value, int(engine.state.epoch)
        if self.save():
            logger.info("saved best model (%s %.4f at epoch %d) to %s", name, value, self.best_epoch, self.path)

    def save(self) -> bool:
        """Write the network now; only rank 0 writes (returns whether this process did)."""
        if idist.get_rank() != 0:
            return False
        atomic_torch_save(unwrap_network(self.network).state_dict(), self.path)
        return True


class FinalModelFallback:
    """Trainer handler: if training completes and no validation ever scored the network, save the final network.

    Without validation data (MONAI Label sends none for fewer than 3 labelled images, or ``val_split`` 0) the
    :class:`BestModelSaver` never fires, and a user's training would leave ``model.pt`` unchanged. Example::

        train#handlers:
          - _target_: monai_unet_bundle.handlers.FinalModelFallback
            best_model: "@validate#best_model"
    """

    def __init__(self, best_model: BestModelSaver) -> None:
        self.best_model = best_model

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        if self.best_model.best_epoch >= 0:
            return
        if self.best_model.save():
            logger.warning(
                "no validation scored the network during training (no validation data?): %s holds the network of "
                "the final epoch %d",
                self.best_model.path,
                engine.state.epoch,
            )
