"""A numbered series of full-state checkpoints in one folder: ``<prefix>_epoch_0007.pt``, newest = highest epoch.

Writing goes through :func:`~monai_unet_bundle.atomic_write.atomic_torch_save`, so a file with a final name is
complete; reading still checks every file, because a disk can fill or a file be copied half-way by hand. Loading
the latest falls back to the next older readable file with a warning. Example::

    series = CheckpointSeries("models", prefix="checkpoint", keep=2)
    series.save(state, epoch=3)             # models/checkpoint_epoch_0003.pt, older ones beyond 2 deleted
    found = series.load_latest()            # LoadedCheckpoint(path, state) or None when there is none
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from monai_unet_bundle.atomic_write import atomic_torch_save, remove_abandoned_temporaries

__all__ = ["CheckpointError", "CheckpointSeries", "LoadedCheckpoint"]

logger = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was expected; the message names the files and why each was rejected."""


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint file and what ``torch.load(path, weights_only=True)`` returned for it."""

    path: Path
    epoch: int
    state: dict[str, Any]


class CheckpointSeries:
    """Numbered checkpoints ``<folder>/<prefix>_epoch_<NNNN>.pt``.

    Args:
        folder: where the files live (created on the first save).
        prefix: the file name prefix; several series may share a folder under different prefixes.
        keep: how many of the newest files to keep after each save (at least 2 so that a damaged newest file has
            a fallback); ``None`` keeps all.
    """

    def __init__(self, folder: str | os.PathLike, prefix: str = "checkpoint", keep: int | None = 2) -> None:
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be >= 1 or None, got {keep}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", prefix):
            raise ValueError(f"prefix must be letters, digits, '_', '.' or '-', got {prefix!r}")
        self.folder = Path(folder)
        self.prefix = prefix
        self.keep = keep
        self._pattern = re.compile(rf"{re.escape(prefix)}_epoch_(\d+)\.pt")

    def path_for(self, epoch: int) -> Path:
        """The file name of the checkpoint written after ``epoch``."""
        return self.folder / f"{self.prefix}_epoch_{epoch:04d}.pt"

    def files(self) -> list[tuple[int, Path]]:
        """``(epoch, path)`` of every checkpoint of this series, newest first."""
        if not self.folder.is_dir():
            return []
        found = []
        for path in self.folder.iterdir():
            match = self._pattern.fullmatch(path.name)
            if match and path.is_file():
                found.append((int(match.group(1)), path))
        return sorted(found, reverse=True)

    def save(self, state: dict[str, Any], epoch: int) -> Path:
        """Write ``state`` atomically as the checkpoint of ``epoch``, then delete those beyond ``keep``."""
        path = atomic_torch_save(state, self.path_for(epoch))
        if self.keep is not None:
            for _, old in self.files()[self.keep :]:
                old.unlink(missing_ok=True)
        return path

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete temporary files of this series left by a killed writer (call from the only writer)."""
        return remove_abandoned_temporaries(self.folder, min_age_s=0, name=f"{self.prefix}_epoch_*.pt")

    def load_latest(self, map_location: str | torch.device = "cpu") -> LoadedCheckpoint | None:
        """The newest checkpoint that loads; ``None`` when the series has no file at all.

        A newest file that fails to load (truncated, not a checkpoint of this format) is skipped with a warning
        naming it and the error, and the next older one is tried.

        Raises:
            CheckpointError: files exist but none of them loads.
        """
        rejected = []
        for epoch, path in self.files():
            try:
                state = torch.load(path, map_location=map_location, weights_only=True)
            except Exception as error:  # torch raises RuntimeError, EOFError, pickle or zip errors by damage type
                reason = f"{type(error).__name__}: {error}"
            else:
                if isinstance(state, dict) and "trainer" in state:
                    if rejected:
                        warnings.warn(
                            f"falling back to {path.name}: newer checkpoint(s) could not be read: "
                            + "; ".join(f"{p} ({why})" for p, why in rejected),
                            RuntimeWarning,
                            stacklevel=2,
                        )
                    return LoadedCheckpoint(path=path, epoch=epoch, state=state)
                reason = "not a full-state checkpoint (no 'trainer' entry)"
            logger.warning("checkpoint %s cannot be used: %s", path, reason)
            rejected.append((path, reason))
        if rejected:
            raise CheckpointError(
                f"no usable checkpoint in '{self.folder}': " + "; ".join(f"{p} ({why})" for p, why in rejected)
            )
        return None
