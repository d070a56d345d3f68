"""Files written whole or not at all, and the one rule that cleans up after killed writers.

Checkpoints, predictions, metric reports and the result runs' JSON go through :func:`atomic_write`: the bytes go to
a hidden temporary beside the target (``.<name>.<pid>.<8 hex>.part<suffix>``, the suffix kept for writers that pick
a format from it), are synced to disk and renamed over the target (``os.replace``: atomic in one file system). A
reader sees the old file or the new one, never a truncated one. A killed writer leaves its temporary;
:func:`remove_abandoned_temporaries` deletes it once its process is gone and it has not changed for a while.
Example::

    with atomic_write("models/model.pt") as partial:
        torch.save(state, partial)
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import torch

__all__ = ["TEMPORARY_MARK", "atomic_torch_save", "atomic_write", "remove_abandoned_temporaries", "temporary_path"]

#: part of every temporary name; a file or folder with it was never completed
TEMPORARY_MARK = ".part"
_DOUBLE_SUFFIXES = (".nii.gz",)
_TEMPORARY_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.part(\.[\w.]+)?$")
logger = logging.getLogger(__name__)


def temporary_path(target: str | os.PathLike) -> Path:
    """A hidden, unique path beside ``target`` with its suffix (``.nii.gz`` counts as one)."""
    target = Path(target)
    suffix = next((s for s in _DOUBLE_SUFFIXES if target.name.endswith(s)), target.suffix)
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{TEMPORARY_MARK}{suffix}")


def _fsync(path: Path) -> None:
    # a folder's fsync makes the rename itself durable; without it a power cut can still lose it
    if path.is_dir() and os.name != "posix":
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextmanager
def atomic_write(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s content to; it replaces ``target`` when the block succeeds.

    The folder is created when missing. When the block raises, the temporary is deleted and ``target`` is unchanged;
    an error a library raised for a failed write (torch.save reports a full disk as "enforce fail at
    inline_container.cc", naming no file) becomes an ``OSError`` that names ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_path(target)
    try:
        yield partial
        _fsync(partial)
        os.replace(partial, target)
    except BaseException as error:
        partial.unlink(missing_ok=True)
        chain, cause = [], error
        while cause is not None and cause not in chain:
            chain.append(cause)
            cause = cause.__cause__ or cause.__context__
        cause = next((e for e in chain if isinstance(e, OSError) and e.errno), None)
        if cause is not None and not isinstance(error, OSError):
            raise OSError(cause.errno, f"could not write '{target}': {cause.strerror}; it was not changed") from error
        raise
    _fsync(target.parent)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` through :func:`atomic_write`; keep ``obj`` loadable with ``weights_only=True``."""
    with atomic_write(path) as partial, open(partial, "wb") as handle:  # a handle: a full disk raises OSError
        torch.save(obj, handle)
    return Path(path)


def _process_alive(pid: int) -> bool:
    try:
        with suppress(PermissionError):  # alive, someone else's
            os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def remove_abandoned_temporaries(folder: str | os.PathLike, min_age_s: float = 60.0, name: str = "*") -> list[Path]:
    """Delete the temporaries (files or folders) that killed writers left in ``folder``; return what was deleted.

    A temporary is abandoned when the process named in it is gone and it has not changed for ``min_age_s`` seconds;
    the age guard keeps what a live writer on another machine (another pid space, e.g. torchrun nodes on shared
    storage) is still writing. A folder with a single writer (the checkpoints, written by rank 0) may pass 0.
    ``name`` limits the clean-up to temporaries of targets matching that glob.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for path in sorted(folder.iterdir()):
        match = _TEMPORARY_NAME.match(path.name)
        if match is None or not fnmatch(match["target"], name) or _process_alive(int(match["pid"])):
            continue
        try:
            if now - path.stat().st_mtime < min_age_s:
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        except FileNotFoundError:  # another process of the same run removed it first
            continue
        logger.info("removed %s, left by a writer that was killed before it finished", path)
        removed.append(path)
    return removed
