"""UNet and U2-Net segmentation for MONAI bundles."""

from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBPACKAGES = (
    "checkpoints",
    "checks",
    "data",
    "engines",
    "evaluation",
    "handlers",
    "losses",
    "networks",
    "optim",
    "prediction",
    "transforms",
    "visualize",
)


def __getattr__(name: str) -> ModuleType:
    # Bundle configs write `$monai_unet_bundle.data.training_datalist(...)` after a plain
    # `$import monai_unet_bundle`; import the subpackage on first use so that works without importing them all.
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")
