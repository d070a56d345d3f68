"""synthetic: small random-sphere volumes with a 4-class label (background + 3 sphere classes), for fast tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .msd import write_dataset_json, write_nifti

LABELS = {0: "background", 1: "class_1", 2: "class_2", 3: "class_3"}


def sphere_case(shape: tuple[int, ...], num_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One (image, label) pair: every foreground class gets a sphere; the image is a noisy class intensity map."""
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1).astype(np.float32)
    label = np.zeros(shape, dtype=np.uint8)
    for cls in range(1, num_classes):
        radius = rng.uniform(0.12, 0.22) * min(shape)
        centre = np.array([rng.uniform(radius, s - radius) for s in shape])
        label[np.linalg.norm(grid - centre, axis=-1) <= radius] = cls
    image = label.astype(np.float32) * 100.0 + rng.normal(0.0, 20.0, size=shape).astype(np.float32)
    return image, label


def build(out_dir: str | Path, num_cases: int = 4, size: int = 32, num_classes: int = 4, seed: int = 0) -> Path:
    """Build ``num_cases`` volumes of ``size``^3 at 2 mm; the last quarter (at least one) is the validation split."""
    out_dir = Path(out_dir)
    rng = np.random.default_rng(seed)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    num_val = max(1, num_cases // 4)
    splits: dict[str, list[dict[str, str]]] = {"training": [], "validation": []}
    for index in range(num_cases):
        image, label = sphere_case((size,) * 3, num_classes, rng)
        case = f"sphere_{index:03d}"
        write_nifti(out_dir / "imagesTr" / f"{case}.nii.gz", image, affine)
        write_nifti(out_dir / "labelsTr" / f"{case}.nii.gz", label, affine)
        split = "validation" if index >= num_cases - num_val else "training"
        splits[split].append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
    labels = (
        {k: v for k, v in LABELS.items() if k < num_classes}
        if num_classes <= 4
        else {k: ("background" if k == 0 else f"class_{k}") for k in range(num_classes)}
    )
    return write_dataset_json(
        out_dir,
        name="synthetic",
        description=f"Random spheres in Gaussian noise (generated, seed {seed}).",
        labels=labels,
        modality="synthetic",
        splits=splits,
    )
