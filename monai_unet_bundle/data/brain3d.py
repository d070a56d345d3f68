"""brain3d: the MNI152 2009a symmetric T1 template with a 4-class tissue label, at 2 mm, split by hemisphere.

Source: nilearn 0.14.1 ships ``mni_icbm152_{t1,gm,wm}_tal_nlin_sym_09a_converted.nii.gz`` (197x233x189, 1 mm,
uint8). Label rule: brain = T1/255 > 0.2, CSF = brain minus GM and WM, label = argmax(background, CSF, GM, WM)
with the GM / WM probability maps. The 1 mm volumes are averaged over 2x2x2 blocks (an exact 2 mm resampling
with anti-aliasing), then labelled. The left hemisphere (world x < 0) is the training case, the right hemisphere
the validation case, so validation Dice is measured on voxels the model never trained on.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from .msd import write_dataset_json, write_halves
from .sources import package_file

LABELS = {0: "background", 1: "csf", 2: "gray_matter", 3: "white_matter"}
_TEMPLATE = "datasets/data/mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"


def _block_mean(volume: np.ndarray, factor: int = 2) -> np.ndarray:
    """Average non-overlapping ``factor``-sized blocks (trailing voxels that do not fill a block are dropped)."""
    shape = [s // factor for s in volume.shape]
    cropped = volume[tuple(slice(0, s * factor) for s in shape)]
    blocks = cropped.reshape(shape[0], factor, shape[1], factor, shape[2], factor)
    return blocks.mean(axis=(1, 3, 5))


def tissue_label(brain: np.ndarray, gm: np.ndarray, wm: np.ndarray) -> np.ndarray:
    """Label = argmax(background, CSF, GM, WM) from a brain fraction and GM / WM probabilities, all in [0, 1]."""
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    return np.argmax(np.stack([1.0 - brain, csf, gm * brain, wm * brain]), axis=0).astype(np.uint8)


def build(out_dir: str | Path) -> Path:
    """Build the brain3d MSD folder in ``out_dir`` and return the path of its ``dataset.json``."""
    out_dir = Path(out_dir)
    volumes = {}
    for name in ("t1", "gm", "wm"):
        image = nib.load(package_file("nilearn", _TEMPLATE.format(name)))
        volumes[name] = np.asarray(image.dataobj, dtype=np.float32)
        affine_1mm = image.affine
    brain_fraction = _block_mean((volumes["t1"] / 255.0 > 0.2).astype(np.float32))
    t1 = _block_mean(volumes["t1"]).astype(np.float32)
    label = tissue_label(brain_fraction, _block_mean(volumes["gm"] / 255.0), _block_mean(volumes["wm"] / 255.0))

    # A 2 mm voxel covers two 1 mm voxels per axis: its centre sits half a 1 mm voxel further along each axis.
    affine = affine_1mm.copy()
    affine[:3, :3] = affine_1mm[:3, :3] * 2.0
    affine[:3, 3] = affine_1mm[:3, :3] @ np.full(3, 0.5) + affine_1mm[:3, 3]

    world_x = affine[0, 0] * np.arange(t1.shape[0]) + affine[0, 3]
    first_right = int(np.searchsorted(world_x, 0.0))
    cases = (("brain_left", "training"), ("brain_right", "validation"))
    splits = write_halves(out_dir, t1, label, affine, first_right, cases)
    return write_dataset_json(
        out_dir,
        name="brain3d",
        description="MNI152 2009a symmetric T1 at 2 mm: background / CSF / GM / WM; left hemisphere trains, "
        "right hemisphere validates.",
        labels=LABELS,
        modality="MRI",
        splits=splits,
        reference="nilearn 0.14.1 data files (MNI ICBM152 2009a, see docs/data_license.txt)",
    )
