"""Atomic full-state checkpoints (network, optimizer, LR scheduler, trainer counters, RNG) and their resumption."""

from monai_unet_bundle.atomic_write import atomic_torch_save

from .rng import rng_state, set_rng_state
from .series import CheckpointError, CheckpointSeries, LoadedCheckpoint
from .training_state import restore_training_state, training_state, unwrap_network
from .transform_rng import TransformRandomState
from .warm_start import WarmStartError, warm_start_from_automatic

__all__ = [
    "CheckpointError",
    "CheckpointSeries",
    "LoadedCheckpoint",
    "TransformRandomState",
    "WarmStartError",
    "atomic_torch_save",
    "restore_training_state",
    "rng_state",
    "set_rng_state",
    "training_state",
    "unwrap_network",
    "warm_start_from_automatic",
]
