"""Write a checkpoint file whole or not at all.

``torch.save`` straight onto the destination leaves a truncated file when the process dies mid-write (SIGKILL, OOM
killer, a preempted node). Here the bytes go to a temporary file in the same folder, are flushed to disk, and the
temporary file is renamed over the destination: ``os.replace`` is atomic on POSIX and Windows within one file
system, so a reader sees either the previous file or the new one. Example::

    atomic_torch_save(network.state_dict(), "models/model.pt")
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

__all__ = ["TEMPORARY_MARK", "atomic_torch_save", "remove_stale_temporaries"]

#: part of the name of every temporary file written here; a file with it in its name was never completed
TEMPORARY_MARK = ".partial-"


def _fsync_folder(folder: Path) -> None:
    # the rename itself lives in the folder's entry table; without this a power cut can still lose it
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` such that ``path`` never holds a partly written file.

    Args:
        obj: anything ``torch.save`` takes; keep it to tensors and primitive types so that it loads with
            ``torch.load(path, weights_only=True)``.
        path: the destination; its folder is created when missing.

    Returns:
        ``path`` as a ``Path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}{TEMPORARY_MARK}{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        # torch.save reports a full disk as "enforce fail at inline_container.cc ... unexpected pos", naming no file
        cause = next((e for e in _chain(error) if isinstance(e, OSError) and e.errno), None)
        if cause is not None and not isinstance(error, OSError):
            raise OSError(cause.errno, f"could not write '{path}': {cause.strerror}; it was not changed") from error
        raise
    _fsync_folder(path.parent)
    return path


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it was raised from or while handling, innermost last."""
    found: list[BaseException] = []
    while error is not None and error not in found:
        found.append(error)
        error = error.__cause__ or error.__context__
    return found


def remove_stale_temporaries(folder: str | os.PathLike, name: str = "*") -> list[Path]:
    """Delete temporary files that a killed writer left in ``folder`` for destinations matching ``name``.

    Call it only where no other process is writing the same destinations (e.g. rank 0 when training starts).
    Returns the deleted paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    stale = sorted(folder.glob(f".{name}{TEMPORARY_MARK}*"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
