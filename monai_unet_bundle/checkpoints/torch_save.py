"""``torch.save`` whole or not at all, with a full disk reported by file name. Example::

    atomic_torch_save(network.state_dict(), "models/model.pt")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from monai_unet_bundle.atomic_write import atomic_write

__all__ = ["atomic_torch_save"]


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through :func:`~monai_unet_bundle.atomic_write.atomic_write`; returns ``path``.

    Keep ``obj`` to tensors and primitive types so that it loads with ``torch.load(path, weights_only=True)``.
    """
    path = Path(path)
    try:
        with atomic_write(path) as partial:
            torch.save(obj, partial)
    except BaseException as error:
        # torch.save reports a full disk as "enforce fail at inline_container.cc ... unexpected pos", naming no file
        cause = next((e for e in _chain(error) if isinstance(e, OSError) and e.errno), None)
        if cause is not None and not isinstance(error, OSError):
            raise OSError(cause.errno, f"could not write '{path}': {cause.strerror}; it was not changed") from error
        raise
    return path


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or while handling, innermost last."""
    found: list[BaseException] = []
    while error is not None and error not in found:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found
