"""Save the full training state every N epochs, atomically, from rank 0 only.

Not ignite's ``Checkpoint`` + ``DiskSaver(atomic=True)`` (under MONAI's ``CheckpointSaver``): that save syncs
neither file nor folder, leaves ``tmpXXXXXXXX`` files outside :mod:`monai_unet_bundle.atomic_write`'s clean-up rule,
deletes the oldest file before writing the new one and forgets an earlier run's files when resumed. This handler
writes :func:`~monai_unet_bundle.checkpoints.training_state` dicts (``weights_only``-loadable) through a
:class:`~monai_unet_bundle.checkpoints.CheckpointSeries`. Pair it with :class:`.ResumeFromCheckpoint`. Example::

    train#handlers:
      - _target_: monai_unet_bundle.handlers.FullStateSaver
        save_dir: "@ckpt_dir"
        save_dict: "@checkpoint_objects"     # {network: ..., optimizer: ..., lr_scheduler: ...}
        save_interval: 1
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import ignite.distributed as idist
from ignite.engine import Engine, Events
from monai_unet_bundle.checkpoints import CheckpointSeries, training_state

__all__ = ["FullStateSaver"]

logger = logging.getLogger(__name__)


class FullStateSaver:
    """Write ``<save_dir>/<file_prefix>_epoch_<NNNN>.pt`` after every ``save_interval`` epochs and at the end.

    Attach it to the trainer after the ``ValidationHandler`` and ``LrScheduleHandler`` so that the saved state
    includes the epoch's validation (best-model bookkeeping) and the scheduler step.

    Args:
        save_dir: the checkpoint folder (``models/`` of the bundle).
        save_dict: name -> object with ``state_dict()``/``load_state_dict()``; ``None`` values are skipped.
        save_interval: epochs between checkpoints (the last epoch is always saved).
        n_saved: newest checkpoints to keep; 2 or more keeps a fallback for a damaged newest file.
        file_prefix: file name prefix.
    """

    def __init__(
        self,
        save_dir: str,
        save_dict: Mapping[str, Any],
        save_interval: int = 1,
        n_saved: int | None = 2,
        file_prefix: str = "checkpoint",
    ) -> None:
        if save_interval < 1:
            raise ValueError(f"save_interval must be >= 1 epoch, got {save_interval}")
        self.series = CheckpointSeries(save_dir, prefix=file_prefix, keep=n_saved)
        self.save_dict = dict(save_dict)
        self.save_interval = save_interval
        self._last_saved_epoch = -1

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.save_interval), self.save)
        engine.add_event_handler(Events.COMPLETED, self._completed)

    def _started(self, engine: Engine) -> None:
        if idist.get_rank() == 0:  # the only writer: a killed predecessor's temporaries go at once (and are logged)
            self.series.remove_stale_temporaries()

    def _completed(self, engine: Engine) -> None:
        if engine.state.epoch != self._last_saved_epoch:
            self.save(engine)

    def save(self, engine: Engine) -> None:
        """Write the checkpoint of the engine's current epoch (rank 0 only; other ranks return at once)."""
        self._last_saved_epoch = engine.state.epoch
        if idist.get_rank() != 0:
            return
        path = self.series.save(training_state(engine, self.save_dict), epoch=engine.state.epoch)
        logger.info("saved full training state of epoch %d to %s", engine.state.epoch, path)
