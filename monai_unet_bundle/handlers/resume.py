"""Continue a training run from the newest readable full-state checkpoint when it starts.

Loads what :class:`.FullStateSaver` wrote (with ``torch.load(..., weights_only=True)``) at the trainer's
``STARTED`` event: the network, optimizer, LR scheduler and other named states, the global RNG states, and the
epoch / iteration counters, so ignite continues with the next epoch. A damaged newest file is skipped with a
warning for the one before it. Example::

    train#handlers:
      - _target_: monai_unet_bundle.handlers.ResumeFromCheckpoint
        enabled: "@resume"
        load_dir: "@ckpt_dir"
        load_dict: "@checkpoint_objects"
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from monai_unet_bundle.checkpoints import CheckpointSeries, restore_training_state

__all__ = ["ResumeFromCheckpoint"]

logger = logging.getLogger(__name__)


class ResumeFromCheckpoint:
    """Restore the newest checkpoint of ``<load_dir>/<file_prefix>_epoch_*.pt`` into the trainer and ``load_dict``.

    With no checkpoint at all the run starts from epoch 0 with a warning (so ``--resume true`` can always be passed,
    e.g. by a job that is restarted after preemption). Files that exist but none of which loads are an error:
    starting over would overwrite them.

    Under ``torchrun`` every rank loads the file itself (``load_dir`` must be visible to all of them); the ranks
    then check that they all restored the same epoch.

    Args:
        load_dir: the checkpoint folder.
        load_dict: name -> object with ``load_state_dict()``; must match what was saved.
        enabled: when false the handler does nothing (the ``resume`` config id).
        file_prefix: file name prefix, as given to the saver.
        map_location: where tensors are loaded before ``load_state_dict`` copies them to their parameters.
    """

    def __init__(
        self,
        load_dir: str,
        load_dict: Mapping[str, Any],
        enabled: bool = True,
        file_prefix: str = "checkpoint",
        map_location: str | torch.device = "cpu",
    ) -> None:
        self.series = CheckpointSeries(load_dir, prefix=file_prefix, keep=None)
        self.load_dict = dict(load_dict)
        self.enabled = bool(enabled)
        self.map_location = map_location

    def attach(self, engine: Engine) -> None:
        if self.enabled:
            engine.add_event_handler(Events.STARTED, self)

    def __call__(self, engine: Engine) -> None:
        found = self.series.load_latest(map_location=self.map_location)
        if found is None:
            warnings.warn(
                f"resume: no checkpoint '{self.series.prefix}_epoch_*.pt' in '{self.series.folder}'; "
                "training starts from epoch 0",
                RuntimeWarning,
                stacklevel=2,
            )
            epoch = 0
        else:
            restore_training_state(engine, self.load_dict, found.state, source=str(found.path))
            epoch = engine.state.epoch
            logger.info("resumed from %s: epoch %d, iteration %d", found.path, epoch, engine.state.iteration)
        if idist.get_world_size() > 1:
            epochs = [int(e) for e in idist.all_gather(epoch)]
            if len(set(epochs)) != 1:
                raise RuntimeError(
                    f"ranks resumed from different epochs {epochs}: '{self.series.folder}' must be the same folder "
                    "(shared storage) on every node"
                )
