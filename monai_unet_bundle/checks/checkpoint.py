"""Refuse checkpoints that hold pickled Python objects, with a message that names the file.

Every checkpoint of this bundle is loaded with ``torch.load(..., weights_only=True)``: tensors, containers and
primitive values only, so loading a file never runs code from it. A file that holds any other pickled object (a
whole ``nn.Module`` saved with ``torch.save(model)``, or a crafted file whose unpickling would run a command) fails
inside torch with a long "Weights only load failed" text that does not say which file it was. :func:`checked_checkpoint`
loads the file the same safe way first and turns that failure into :class:`UnsafeCheckpointError` naming the file
and the object found; the inference config passes its ``ckpt_path`` through it before MONAI's ``CheckpointLoader``.

Example::

    handlers:
      - _target_: CheckpointLoader
        load_path: $monai_unet_bundle.checks.checked_checkpoint(@ckpt_path)
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from .errors import InputCheckError

__all__ = ["CheckpointFileError", "UnsafeCheckpointError", "checked_checkpoint", "load_weights_only"]

_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)|Unsupported operand (\d+)|GLOBAL ([\w.]+) was not")


class CheckpointFileError(InputCheckError):
    """A checkpoint path that does not exist or a file that is not a readable torch checkpoint."""


class UnsafeCheckpointError(CheckpointFileError):
    """A checkpoint holding pickled Python objects: refused, never unpickled."""


def load_weights_only(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with errors that name ``path``.

    Raises:
        CheckpointFileError: the file is missing or not a torch checkpoint (truncated, another format).
        UnsafeCheckpointError: the file holds objects other than tensors, containers and primitives.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointFileError(f"checkpoint '{path}' does not exist (ckpt_path / --model)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        text = str(error)
        if "Weights only load failed" not in text:
            raise CheckpointFileError(f"checkpoint '{path}' cannot be read: {text.splitlines()[0]}") from None
        match = _GLOBAL.search(text)
        found = next((g for g in match.groups() if g), "") if match else ""
        what = f" ({found})" if found else ""
        raise UnsafeCheckpointError(
            f"checkpoint '{path}' refused: it holds a pickled Python object{what}, and checkpoints are loaded with "
            "torch.load(weights_only=True), which never runs code from a file. Expected tensors only: save the "
            "network's weights with torch.save(network.state_dict(), path), and only load files from sources you "
            "trust"
        ) from None
    except Exception as error:  # truncated zip, random bytes, an empty file
        reason = (str(error).splitlines() or [""])[0]
        raise CheckpointFileError(
            f"checkpoint '{path}' cannot be read ({type(error).__name__}: {reason}); expected a file written by "
            "torch.save"
        ) from None


def checked_checkpoint(path: str | os.PathLike) -> str:
    """``path`` unchanged once :func:`load_weights_only` has read it; for a loader that gives unclear errors."""
    load_weights_only(path)
    return str(path)
