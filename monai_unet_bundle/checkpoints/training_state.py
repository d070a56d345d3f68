"""The full training state as one dict of tensors and primitives, and its restoration into live objects.

The dict holds ``trainer`` (``epoch``, ``iteration``, ``epoch_length``, ``max_epochs``), ``rng`` (see
:mod:`.rng`), one ``state_dict()`` per named object (network, optimizer, LR scheduler, best-model saver, ...) and
``scaler`` when the trainer has a GradScaler (MONAI's ``scaler_``: fp16 AMP on CUDA). Networks are unwrapped from
``DistributedDataParallel`` / ``DataParallel`` first, so a checkpoint written by one process resumes under
``torchrun`` and back. Example::

    objects = {"network": net, "optimizer": opt, "lr_scheduler": sched}
    state = training_state(trainer, objects)          # torch.save-able, loads with weights_only=True
    restore_training_state(trainer, objects, state)   # trainer.state.epoch / iteration continue from there
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from ignite.engine import Engine

from .rng import rng_state, set_rng_state

__all__ = ["restore_training_state", "training_state", "unwrap_network"]


def unwrap_network(obj: Any) -> Any:
    """The module inside ``DistributedDataParallel`` / ``DataParallel`` or a non-module wrapper with a ``module``
    (:class:`~monai_unet_bundle.prediction.WindowPredictor`); anything else unchanged."""
    wrappers = (torch.nn.DataParallel, torch.nn.parallel.DistributedDataParallel)
    wrapped = isinstance(obj, wrappers) or (not isinstance(obj, torch.nn.Module) and hasattr(obj, "module"))
    return obj.module if wrapped else obj


def training_state(trainer: Engine, objects: Mapping[str, Any]) -> dict[str, Any]:
    """Everything needed to continue ``trainer`` after its current epoch.

    Args:
        trainer: the training engine (``SupervisedTrainer``); its epoch and iteration counters are stored.
        objects: name -> object with ``state_dict()``; ``None`` values (e.g. no GradScaler without AMP) are skipped.

    Returns:
        ``{"trainer": {...}, "rng": {...}, <name>: state_dict, ...}``.
    """
    reserved = {"trainer", "rng", "scaler"} & set(objects)
    if reserved:
        raise ValueError(f"object names {sorted(reserved)} are reserved for the trainer counters, RNG and GradScaler")
    state: dict[str, Any] = {
        "trainer": {
            "epoch": int(trainer.state.epoch),
            "iteration": int(trainer.state.iteration),
            "epoch_length": int(trainer.state.epoch_length),
            "max_epochs": int(trainer.state.max_epochs),
        },
        "rng": rng_state(),
    }
    for name, obj in objects.items():
        if obj is not None:
            state[name] = unwrap_network(obj).state_dict()
    scaler = getattr(trainer, "scaler_", None)
    if scaler is not None:
        state["scaler"] = scaler.state_dict()
    return state


def restore_training_state(
    trainer: Engine, objects: Mapping[str, Any], state: Mapping[str, Any], source: str = "checkpoint"
) -> None:
    """Load ``state`` (from :func:`training_state`) into ``objects`` and set the trainer's counters.

    The trainer keeps its own ``max_epochs`` (so a run can be extended with ``--max_epochs``); ``epoch_length``
    must match, since the iteration counter is ``epoch * epoch_length``.

    Raises:
        ValueError: ``state`` lacks an object that is present here, belongs to a longer run than ``max_epochs``,
            or was written with another ``epoch_length``; the message names ``source``.
    """
    counters = state["trainer"]
    if counters["epoch_length"] != trainer.state.epoch_length:
        raise ValueError(
            f"{source} was written with epoch_length {counters['epoch_length']}, this run has "
            f"{trainer.state.epoch_length}; resume with --epoch_length {counters['epoch_length']}"
        )
    if counters["epoch"] > trainer.state.max_epochs:
        raise ValueError(
            f"{source} is at epoch {counters['epoch']}, beyond this run's max_epochs {trainer.state.max_epochs}"
        )
    missing = [name for name, obj in objects.items() if obj is not None and name not in state]
    if missing:
        raise ValueError(f"{source} has no state for {missing} (it holds {sorted(state)})")
    for name, obj in objects.items():
        if obj is None:
            continue
        try:
            unwrap_network(obj).load_state_dict(state[name])
        except (RuntimeError, KeyError, ValueError) as error:
            raise ValueError(
                f"{source}: the '{name}' state does not fit this run's {type(obj).__name__}: {error}"
            ) from error
    scaler = getattr(trainer, "scaler_", None)
    if scaler is not None and "scaler" in state:
        scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    trainer.state.epoch = counters["epoch"]
    trainer.state.iteration = counters["iteration"]
