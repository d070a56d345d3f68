"""Small MSD folders written to disk for the planner: anisotropic 3D, one-slice 2D, and broken ones."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tests.conftest import write_nifti


def blob_case(shape: Sequence[int], rng: np.random.Generator, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(image, label): a non-zero body with one box per foreground class, intensity 100 * class + noise."""
    label = np.zeros(shape, dtype=np.uint8)
    for cls in range(1, classes):
        lo = [int(rng.integers(1, max(2, s // 2))) for s in shape]
        hi = [min(s - 1, a + max(2, s // 3)) for a, s in zip(lo, shape)]
        label[tuple(slice(a, b) for a, b in zip(lo, hi))] = cls
    image = 50.0 + label.astype(np.float32) * 100.0 + rng.normal(0.0, 10.0, size=shape).astype(np.float32)
    return image.astype(np.float32), label


def write_msd(
    root: Path,
    spacings: Sequence[Sequence[float]],
    shape: Sequence[int],
    modality: str = "MRI",
    classes: int = 3,
    seed: int = 0,
) -> Path:
    """An MSD folder with one case per spacing (the last validates); 2D when ``shape`` has two sides."""
    rng = np.random.default_rng(seed)
    items = []
    for index, spacing in enumerate(spacings):
        image, label = blob_case(shape, rng, classes)
        affine = np.diag([*spacing, *([1.0] * (4 - len(spacing)))])
        write_nifti(root / "imagesTr" / f"case_{index}.nii.gz", image, affine)
        write_nifti(root / "labelsTr" / f"case_{index}.nii.gz", label, affine)
        items.append({"image": f"./imagesTr/case_{index}.nii.gz", "label": f"./labelsTr/case_{index}.nii.gz"})
    labels = {"0": "background", **{str(c): f"organ_{c}" for c in range(1, classes)}}
    manifest = {
        "name": root.name,
        "modality": {"0": modality},
        "labels": labels,
        "training": items[:-1],
        "validation": items[-1:],
    }
    (root / "dataset.json").write_text(json.dumps(manifest, indent=2))
    return root
