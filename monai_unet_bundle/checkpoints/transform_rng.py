"""The random states of a MONAI transform chain, as a checkpointable object.

MONAI's random transforms each own a ``numpy.random.RandomState`` (``Randomizable.R``), seeded when the data loader
is built, and nested ones have their own (``RandCropByLabelClassesd`` keeps a ``RandCropByLabelClasses``). These are
not global generators, so :mod:`.rng` does not see them: without this object a resumed run would draw the crops
and intensity changes of its first epochs again. With ``num_workers=0`` the transforms run in the main process and
restoring these states continues their streams exactly; with workers, MONAI reseeds them in every worker from the
global torch generator, which the checkpoint restores too. Example::

    checkpoint_objects:
      augmentation:
        _target_: monai_unet_bundle.checkpoints.TransformRandomState
        transform: "@train#preprocessing"
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.transforms import Randomizable, Transform

__all__ = ["TransformRandomState"]


def _random_transforms(obj: Any, found: list[Randomizable], seen: set[int]) -> None:
    # depth-first over transforms and their transform-valued attributes, in definition order (stable for a config)
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, (list, tuple)):
        for item in obj:
            _random_transforms(item, found, seen)
        return
    if isinstance(obj, dict):
        for item in obj.values():
            _random_transforms(item, found, seen)
        return
    if not isinstance(obj, (Transform, Randomizable)):
        return
    if isinstance(obj, Randomizable) and isinstance(getattr(obj, "R", None), np.random.RandomState):
        found.append(obj)
    for value in vars(obj).values():
        if isinstance(value, (Transform, Randomizable, list, tuple, dict)):
            _random_transforms(value, found, seen)


class TransformRandomState:
    """``state_dict()`` / ``load_state_dict()`` for the ``RandomState`` of every random transform in ``transform``.

    Args:
        transform: a transform or ``Compose`` (the training preprocessing).

    The state is ``{"states": [[name, keys (tensor), pos, has_gauss, cached_gaussian], ...]}`` in traversal order;
    loading into a chain with another number of random transforms is an error.
    """

    def __init__(self, transform: Any) -> None:
        self.transform = transform

    def _transforms(self) -> list[Randomizable]:
        found: list[Randomizable] = []
        _random_transforms(self.transform, found, set())
        return found

    def state_dict(self) -> dict[str, Any]:
        states = []
        for item in self._transforms():
            name, keys, position, has_gauss, cached = item.R.get_state(legacy=True)
            states.append([name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)])
        return {"states": states}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        transforms, states = self._transforms(), state["states"]
        if len(transforms) != len(states):
            raise ValueError(
                f"the checkpoint has random states for {len(states)} random transforms, this chain has "
                f"{len(transforms)} ({', '.join(type(t).__name__ for t in transforms)})"
            )
        for item, (name, keys, position, has_gauss, cached) in zip(transforms, states):
            item.R.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
