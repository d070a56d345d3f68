"""Checks that refuse bad input with a message naming the file, what was expected and what was found.

Images (:class:`CheckImaged`), labels against their image (:class:`CheckLabeld`), memory before loading
(:class:`CheckMemoryd`, :class:`MemoryCheckedLoadImaged`) and of the training caches (:func:`fit_cache_rate`), config
ids and metadata (:func:`check_bundle_config`, :func:`check_metadata_channels`) and checkpoints
(:func:`checked_checkpoint`). Every error is an :class:`InputCheckError`; docs/errors.md lists the messages, their
causes and the fixes.
"""

from .checkpoint import CheckpointFileError, UnsafeCheckpointError, checked_checkpoint, load_weights_only
from .config import ConfigCheckError, check_bundle_config, check_metadata_channels, known_networks
from .errors import InputCheckError, UnreadableFileError
from .image import CheckImage, CheckImaged, ImageCheckError
from .label import CheckLabeld, LabelCheckError, check_label_values
from .memory import (
    CheckMemoryd,
    InsufficientMemoryError,
    MemoryCheckedLoadImaged,
    available_memory,
    estimate_cache_memory,
    estimate_inference_memory,
    fit_cache_rate,
    read_header,
)

__all__ = [
    "CheckImage",
    "CheckImaged",
    "CheckLabeld",
    "CheckMemoryd",
    "CheckpointFileError",
    "ConfigCheckError",
    "ImageCheckError",
    "InputCheckError",
    "InsufficientMemoryError",
    "LabelCheckError",
    "MemoryCheckedLoadImaged",
    "UnreadableFileError",
    "UnsafeCheckpointError",
    "available_memory",
    "check_bundle_config",
    "check_label_values",
    "check_metadata_channels",
    "checked_checkpoint",
    "estimate_cache_memory",
    "estimate_inference_memory",
    "fit_cache_rate",
    "known_networks",
    "load_weights_only",
    "read_header",
]
