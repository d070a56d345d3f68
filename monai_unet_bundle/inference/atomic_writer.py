"""NIfTI writing that is all or nothing: a temporary file in the output folder, renamed over the target at the end.

``os.replace`` within one folder (one filesystem) is atomic, so a reader -- or the next run's "skip what exists"
check -- sees either no ``case_seg.nii.gz`` or a complete one, never a truncated file, whatever happens during
the write (an exception, a full disk, a killed process). A failed write removes its temporary file; a killed one
leaves a hidden ``.case_seg.nii.gz.<pid>.<random>.part.nii.gz`` that no image listing picks up, and that the next
run in that folder deletes (:func:`remove_abandoned_temporaries`, called by ``PredictionDataset``).

Used as SaveImaged's writer (MONAI instantiates it per call)::

    SaveImaged(keys="pred", output_dir="out", output_postfix="seg", resample=False,
               writer="monai_unet_bundle.inference.AtomicNibabelWriter")

A ``(slope, intercept)`` pair under the metadata key ``"nifti_scaling"`` (:data:`SCALING_KEY`) is written to the
NIfTI header, so integer data can carry real values (the probabilities are stored as uint8 with slope 1/255). The
input file's own ``scl_slope`` / ``scl_inter`` that MONAI keeps in the metadata are never copied to an output.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from monai.data import NibabelWriter
from monai.data.utils import to_affine_nd

__all__ = ["SCALING_KEY", "AtomicNibabelWriter", "remove_abandoned_temporaries", "temporary_path"]

#: metadata key of the (slope, intercept) to store in the written header
SCALING_KEY = "nifti_scaling"

_SUFFIXES = (".nii.gz", ".nii")
#: the name temporary_path() gives: ``.<target>.<pid>.<8 hex>.part<suffix>``
_TEMPORARY_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.part(\.nii\.gz|\.nii)?$")
logger = logging.getLogger(__name__)


def temporary_path(target: str | Path) -> Path:
    """A hidden, unique path beside ``target`` that keeps its NIfTI suffix (nibabel picks gzip from it)."""
    target = Path(target)
    suffix = next((s for s in _SUFFIXES if target.name.endswith(s)), target.suffix)
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part{suffix}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def remove_abandoned_temporaries(folder: str | Path, min_age_s: float = 60.0) -> list[Path]:
    """Delete the temporary files of writers that were killed mid-write in ``folder``; return the deleted paths.

    A temporary file is abandoned when the process named in it is gone and the file has not changed for
    ``min_age_s`` seconds. The age guard keeps files that a live writer on another machine (same pid space not
    shared, e.g. torchrun over nodes on a shared file system) is still writing; a gzip write touches its file
    continuously until the rename.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    now = time.time()
    for path in sorted(folder.iterdir()):
        match = _TEMPORARY_NAME.match(path.name)
        if match is None or not path.is_file() or _process_alive(int(match["pid"])):
            continue
        try:
            if now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink()
        except FileNotFoundError:  # another process of the same run removed it first
            continue
        logger.info("removed %s, left by a writer that was killed before it finished", path)
        removed.append(path)
    return removed


class AtomicNibabelWriter(NibabelWriter):
    """:class:`monai.data.NibabelWriter` that writes to a temporary file and renames it over the target."""

    def set_metadata(self, meta_dict: Mapping | None = None, resample: bool = True, **options: Any) -> None:
        super().set_metadata(meta_dict, resample=resample, **options)
        self.scaling = (meta_dict or {}).get(SCALING_KEY)

    def _save(self, path: Path, **obj_kwargs: Any) -> None:
        image = self.create_backend_obj(self.data_obj, affine=self.affine, dtype=self.output_dtype, **obj_kwargs)
        affine = to_affine_nd(3, np.asarray(self.affine if self.affine is not None else np.eye(4), dtype=np.float64))
        image.set_sform(affine, code=1)
        image.set_qform(affine, code=1)
        if self.scaling is not None:
            slope, intercept = self.scaling
            image.header.set_slope_inter(float(slope), float(intercept))
        nib.save(image, str(path))

    def write(self, filename: Any, verbose: bool = False, **obj_kwargs: Any) -> None:
        """Write ``filename`` whole or not at all (see the module docstring)."""
        target = Path(filename)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = temporary_path(target)
        if verbose:
            logger.info("writing %s", target)
        try:
            self._save(partial, **obj_kwargs)
            with open(partial, "rb") as handle:  # on disk before it becomes visible under its name
                os.fsync(handle.fileno())
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
