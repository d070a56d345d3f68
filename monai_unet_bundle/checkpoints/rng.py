"""The global random number generators' states as tensors and primitives, so they load with ``weights_only=True``.

Covers Python's ``random``, NumPy's legacy global generator, torch's CPU generator and every CUDA device's. MONAI
transforms own further generators (``Randomizable.R``); those are not global and are not captured here.
Example::

    state = rng_state()
    ...
    set_rng_state(state)
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["rng_state", "set_rng_state"]


def rng_state() -> dict[str, Any]:
    """A snapshot of the global generators: ``{"python", "numpy", "torch", "cuda"}``."""
    version, internal, gauss = random.getstate()
    # the global generator is the state being saved
    name, keys, position, has_gauss, cached = np.random.get_state(legacy=True)  # noqa: NPY002
    return {
        "python": [version, list(internal), gauss],
        # the key array becomes a tensor: numpy arrays are not on weights_only's allow list
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore a snapshot from :func:`rng_state`; CUDA states are restored when the device count matches."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, position, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda", [])
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
