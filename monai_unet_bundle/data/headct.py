"""headct: a real head CT (InVesalius' sample ``Cranium.inv3``, Debian package ``invesalius-examples``), in HU.

The .inv3 file is a gzip tar of plists and raw arrays: ``matrix.dat`` (int16 HU, shape and spacing in
``main.plist``, stored (z, y, x)) and two masks ``mask_0.dat`` (bone, HU 226..3071) and ``mask_1.dat`` (soft tissue
and bone, HU -142..2986), uint8 0 / 255 with a one-voxel pad at the start of every axis (dropped here). Label:
0 background, 1 soft tissue (mask_1 without mask_0), 2 bone (mask_0). The masks equal those HU thresholds, so the
task checks the CT path (HU scaling, 1.5 mm slices, a CT plan), not anatomy. The volume is split in halves along
x: the first half trains, the second validates.
"""

from __future__ import annotations

import plistlib
import subprocess
import tarfile
from pathlib import Path

import numpy as np

from .msd import write_dataset_json, write_halves

LABELS = {0: "background", 1: "soft_tissue", 2: "bone"}
PACKAGE = "invesalius-examples"
DEFAULT_PATH = Path("/usr/share/doc/invesalius-examples/examples/Cranium.inv3")
INSTALL_HINT = "apt-get install invesalius-examples (Debian / Ubuntu)"


def source_file() -> Path:
    """Path of ``Cranium.inv3``: the package's usual place, else where ``dpkg -L invesalius-examples`` lists it.

    Raises:
        FileNotFoundError: naming the file, the package and the install command.
    """
    if DEFAULT_PATH.is_file():
        return DEFAULT_PATH
    try:
        listed = subprocess.run(["dpkg", "-L", PACKAGE], capture_output=True, text=True, check=False).stdout
    except OSError:
        listed = ""
    for line in listed.splitlines():
        if line.endswith("/Cranium.inv3") and Path(line).is_file():
            return Path(line)
    raise FileNotFoundError(
        f"the headct source Cranium.inv3 (Debian package {PACKAGE}) is not installed; run: {INSTALL_HINT}"
    )


def _members(path: Path) -> dict[str, bytes]:
    """The files of the .inv3 archive by base name (they sit in one temporary-named folder)."""
    with tarfile.open(path, "r:gz") as archive:
        return {
            Path(member.name).name: archive.extractfile(member).read()
            for member in archive.getmembers()
            if member.isfile()
        }


def read_inv3(path: str | Path) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(HU volume, label, spacing): arrays as (x, y, z), int16 and uint8; spacing in mm (x, y, z)."""
    files = _members(Path(path))
    main = plistlib.loads(files["main.plist"])
    matrix = main["matrix"]
    shape = tuple(int(s) for s in matrix["shape"])
    volume = np.frombuffer(files[matrix["filename"]], dtype=np.dtype(matrix["dtype"])).reshape(shape)
    masks = {}
    for key in sorted(main["masks"], key=int):
        info = plistlib.loads(files[main["masks"][key]])
        mask_shape = tuple(int(s) for s in info["mask_shape"])
        mask = np.frombuffer(files[info["mask_file"]], dtype=np.uint8).reshape(mask_shape)[1:, 1:, 1:]
        if mask.shape != shape:
            raise ValueError(f"{path}: mask {info['mask_file']} has shape {mask.shape} after its pad, not {shape}")
        masks[int(key)] = mask > 0
    label = np.zeros(shape, dtype=np.uint8)
    label[masks[1] & ~masks[0]] = 1  # soft tissue
    label[masks[0]] = 2  # bone
    spacing = tuple(float(s) for s in main["spacing"])
    # stored (z, y, x); NIfTI axis 0 is x
    return np.ascontiguousarray(volume.transpose(2, 1, 0)), np.ascontiguousarray(label.transpose(2, 1, 0)), spacing


def build(out_dir: str | Path) -> Path:
    """Build the headct MSD folder in ``out_dir`` and return the path of its ``dataset.json``."""
    out_dir = Path(out_dir)
    volume, label, spacing = read_inv3(source_file())
    affine = np.diag([*spacing, 1.0])
    half = volume.shape[0] // 2
    cases = (("head_first_half", "training"), ("head_second_half", "validation"))
    splits = write_halves(out_dir, volume, label, affine, half, cases)
    return write_dataset_json(
        out_dir,
        name="headct",
        description="Head CT (InVesalius sample Cranium.inv3, HU): background / soft tissue / bone as in its HU "
        "threshold masks; x < half trains, the other half validates.",
        labels=LABELS,
        modality="CT",
        splits=splits,
        reference=f"Debian package {PACKAGE} (InVesalius sample data)",
    )
