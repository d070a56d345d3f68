"""rng_state / set_rng_state: a restored snapshot replays the same draws, also after a weights_only round trip."""

from __future__ import annotations

import io
import random

import numpy as np
import torch
from monai_unet_bundle.checkpoints import rng_state, set_rng_state


def _draws() -> tuple:
    return random.random(), np.random.rand(), torch.rand(3).tolist()  # noqa: NPY002 - the global streams


def test_snapshot_replays_the_global_streams():
    random.seed(1)
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(3)
    buffer = io.BytesIO()
    torch.save(rng_state(), buffer)
    first = _draws()
    buffer.seek(0)
    set_rng_state(torch.load(buffer, weights_only=True))
    assert _draws() == first
