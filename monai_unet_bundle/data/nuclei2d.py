"""nuclei2d: a real fluorescence nuclei image (2018 Data Science Bowl, shipped by stardist 0.9.2), 512x512.

The instance mask has 125 nuclei with non-consecutive ids and 21 touching pairs (4-connected). The TIFF rows
0..383 form the training case, rows 384..511 the held-out case (8 touching pairs lie there). Each case has
``image`` (float32 intensity), ``label`` (semantic 0 / 1, uint8) and ``instance`` (uint16, relabelled 1..N in
the case). NIfTI axis 0 is the TIFF column (x), axis 1 the row (y); the spacing is 1 (pixels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK

from .msd import write_dataset_json, write_nifti
from .sources import package_file

LABELS = {0: "background", 1: "nucleus"}
HELD_OUT_FIRST_ROW = 384


def relabel_consecutive(instances: np.ndarray) -> np.ndarray:
    """Map the non-zero ids of ``instances`` to 1..N in increasing order of the original ids (0 stays 0)."""
    ids = np.unique(instances)
    ids = ids[ids != 0]
    lookup = np.zeros(int(instances.max()) + 1, dtype=np.uint16)
    lookup[ids] = np.arange(1, len(ids) + 1, dtype=np.uint16)
    return lookup[instances]


def touching_pairs(instances: np.ndarray) -> set[tuple[int, int]]:
    """Pairs (a, b), a < b, of different instances that share a 4-connected pixel edge (any dimensionality)."""
    pairs: set[tuple[int, int]] = set()
    for axis in range(instances.ndim):
        a = np.moveaxis(instances, axis, 0)[:-1]
        b = np.moveaxis(instances, axis, 0)[1:]
        mask = (a > 0) & (b > 0) & (a != b)
        for u, v in zip(a[mask].tolist(), b[mask].tolist()):
            pairs.add((min(u, v), max(u, v)))
    return pairs


def build(out_dir: str | Path) -> Path:
    """Build the nuclei2d MSD folder in ``out_dir`` and return the path of its ``dataset.json``."""
    out_dir = Path(out_dir)
    image = SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(package_file("stardist", "data/images/img2d.tif"))))
    mask = SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(package_file("stardist", "data/images/mask2d.tif"))))
    splits: dict[str, list[dict[str, str]]] = {"training": [], "validation": []}
    pair_counts = {}
    for case, split, rows in (
        ("nuclei_train", "training", slice(0, HELD_OUT_FIRST_ROW)),
        ("nuclei_val", "validation", slice(HELD_OUT_FIRST_ROW, None)),
    ):
        # TIFF arrays are (row, column); NIfTI axis 0 should be x, so transpose.
        instances = relabel_consecutive(mask[rows].astype(np.int64)).T
        intensity = image[rows].astype(np.float32).T
        affine = np.diag([1.0, 1.0, 1.0, 1.0])
        affine[1, 3] = float(rows.start)
        item = {}
        for key, folder, array in (
            ("image", "imagesTr", intensity),
            ("label", "labelsTr", (instances > 0).astype(np.uint8)),
            ("instance", "instancesTr", instances.astype(np.uint16)),
        ):
            write_nifti(out_dir / folder / f"{case}.nii.gz", array, affine)
            item[key] = f"./{folder}/{case}.nii.gz"
        splits[split].append(item)
        pair_counts[case] = len(touching_pairs(instances))
    return write_dataset_json(
        out_dir,
        name="nuclei2d",
        description="Fluorescence nuclei (2018 Data Science Bowl via stardist 0.9.2); TIFF rows 0-383 train, "
        "rows 384-511 held out.",
        labels=LABELS,
        modality="fluorescence microscopy",
        splits=splits,
        tensorImageSize="2D",
        touching_pairs=pair_counts,
    )
