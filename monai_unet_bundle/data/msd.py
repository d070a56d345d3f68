"""Write a dataset as a Medical Segmentation Decathlon style folder (imagesTr/, labelsTr/, dataset.json)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np

from ..atomic_write import atomic_write


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    """Write ``array`` with ``affine`` to ``path`` whole or not at all (the package's one :func:`atomic_write`)."""
    image = nib.Nifti1Image(array, affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    with atomic_write(path) as partial:
        nib.save(image, partial)
    return path


def write_halves(
    out_dir: Path,
    image: np.ndarray,
    label: np.ndarray,
    affine: np.ndarray,
    split_at: int,
    cases: tuple[tuple[str, str], tuple[str, str]],
) -> dict[str, list[dict[str, str]]]:
    """Cut ``image`` and ``label`` ``(X, Y, Z)`` at voxel ``split_at`` of the first axis into two cases on disk.

    ``cases`` names ``(case, split)`` for the part before and the part after the cut; each part keeps its place in
    the world (its affine's origin moves to its first voxel). Returns the ``splits`` of :func:`write_dataset_json`.
    """
    splits: dict[str, list[dict[str, str]]] = {"training": [], "validation": []}
    for (case, split), index in zip(cases, (slice(0, split_at), slice(split_at, None))):
        case_affine = affine.copy()
        case_affine[:3, 3] = affine[:3, :3] @ np.array([index.start or 0, 0, 0]) + affine[:3, 3]
        write_nifti(out_dir / "imagesTr" / f"{case}.nii.gz", image[index], case_affine)
        write_nifti(out_dir / "labelsTr" / f"{case}.nii.gz", label[index], case_affine)
        splits.setdefault(split, []).append(
            {"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"}
        )
    return splits


def write_dataset_json(
    out_dir: Path,
    name: str,
    description: str,
    labels: Mapping[int, str],
    modality: str,
    splits: Mapping[str, Sequence[Mapping[str, str]]],
    **extra: object,
) -> Path:
    """Write ``dataset.json``; ``splits`` maps a list key ("training", "validation") to items of relative paths."""
    content: dict[str, object] = {
        "name": name,
        "description": description,
        "tensorImageSize": extra.pop("tensorImageSize", "3D"),
        "modality": {"0": modality},
        "labels": {str(k): v for k, v in labels.items()},
        "numTraining": len(splits.get("training", [])),
    }
    content.update(extra)
    content.update({key: list(items) for key, items in splits.items()})
    path = out_dir / "dataset.json"
    path.write_text(json.dumps(content, indent=2) + "\n")
    return path
