"""A PNG preview per prediction, to eyeball a batch: three orthogonal slices of the image with the labels over it.

The slices go through the centre of the labelled region (the centroid of the foreground; the volume's centre when
nothing was found), in the input file's own grid reoriented to the closest RAS axes and shown with the physical
aspect ratio: axial (x, y), coronal (x, z) and sagittal (y, z), each as image | image with labels, top to bottom. A
2D input gives one row. The image is the input file as read (so the picture shows what was segmented, not the
resampled network input); written atomically as ``<case>_preview.png`` beside the prediction. Example::

    - _target_: monai_unet_bundle.prediction.SavePreviewd    # after SavePredictiond
      keys: pred
      output_dir: "$@output_dir if @preview else None"
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.utils import to_affine_nd
from monai.transforms import LoadImage, MapTransform, SaveImaged
from monai_unet_bundle.data.datalist import case_name
from monai_unet_bundle.prediction.output import source_path
from monai_unet_bundle.visualize import overlay_panel, write_png
from scipy import ndimage

__all__ = ["SavePreviewd", "preview_picture"]

logger = logging.getLogger(__name__)


def _physical_aspect(plane: np.ndarray, spacing: Sequence[float], order: int) -> np.ndarray:
    """``plane`` (a, b) resampled so that a pixel is the smaller of the two spacings in both directions."""
    finest = min(spacing)
    zoom = [s / finest for s in spacing]
    return plane if all(abs(z - 1.0) < 1e-3 for z in zoom) else ndimage.zoom(plane, zoom, order=order)


def _pad_width(rows: list[np.ndarray], gap: int) -> np.ndarray:
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    spacer = np.full((gap, width, 3), 255, np.uint8)
    return np.concatenate([piece for r in padded for piece in (r, spacer)][:-1], axis=0)


def preview_picture(
    image: np.ndarray, labels: np.ndarray, affine: np.ndarray | None = None, gap: int = 4
) -> np.ndarray:
    """RGB uint8 ``(H, W, 3)``: three orthogonal slices of 3D ``image`` / ``labels`` ``(X, Y, Z)`` (one of 2D
    ``(X, Y)``) through the labels' centroid, each as image | overlay. ``affine``: the arrays' voxel-to-world
    matrix (reorientation to RAS and aspect ratio; identity when None)."""
    image, labels = np.asarray(image, dtype=np.float32), np.asarray(labels)
    if image.shape != labels.shape or image.ndim not in (2, 3):
        raise ValueError(
            f"preview needs a 2D or 3D image and labels of one shape, got {image.shape} and {labels.shape}"
        )
    dims = image.ndim
    affine = np.eye(4) if affine is None else to_affine_nd(3, np.asarray(affine, dtype=np.float64))
    grid = affine if dims == 3 else affine[np.ix_([0, 1, 3], [0, 1, 3])]
    ornt = nib.orientations.io_orientation(grid)
    spacing = np.empty(dims)
    spacing[ornt[:, 0].astype(int)] = np.linalg.norm(grid[:dims, :dims], axis=0)  # reoriented axis order
    image = nib.orientations.apply_orientation(image, ornt)
    labels = nib.orientations.apply_orientation(labels, ornt)
    found = np.argwhere(labels > 0)
    centre = np.round(found.mean(axis=0)).astype(int) if len(found) else np.array(labels.shape) // 2
    planes = [(image, labels, list(spacing))] if dims == 2 else []
    for axis in (2, 1, 0) if dims == 3 else ():  # axial (x, y), coronal (x, z), sagittal (y, z)
        kept = [s for k, s in enumerate(spacing) if k != axis]
        planes.append((np.take(image, centre[axis], axis=axis), np.take(labels, centre[axis], axis=axis), kept))
    rows = [
        overlay_panel(_physical_aspect(img, sp, order=1), [_physical_aspect(lab, sp, order=0)], gap=gap)
        for img, lab, sp in planes
    ]
    return _pad_width(rows, gap)


class SavePreviewd(SaveImaged):
    """Write ``<case>_preview.png`` (:func:`preview_picture`) for the label map ``d[keys]`` ``(1, *input_grid)``.

    A ``SaveImaged`` by type only, like the writers: MONAI Label drops it. Args:
        keys: the label map from ``InvertToInputd`` (its ``affine`` and ``filename_or_obj`` are the input's).
        output_dir: the predictions' folder; ``None`` writes nothing.
        reader: image readers for the input (the preprocessing's: DICOM series, SimpleITK formats), else MONAI's.
        report: the batch report; a case it lists as failed (its prediction was not written) gets no preview.

    A preview that cannot be made is logged as an error; the prediction itself stays written.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        output_dir: str | Path | None = None,
        reader: Any = None,
        report: Any = None,
    ) -> None:
        MapTransform.__init__(self, keys)
        self.report = report
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.load = LoadImage(reader=reader, image_only=True, ensure_channel_first=True)

    def path(self, source: str) -> Path:
        """``<output_dir>/<case>_preview.png``."""
        return self.output_dir / f"{case_name(source)}_preview.png"

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.output_dir is None:
            return d
        for key in self.key_iterator(d):
            labels = d[key]
            source = source_path(dict(getattr(labels, "meta", {})))
            if self.report is not None and source is not None and self.report.has_failed(source):
                continue
            try:
                if source is None:
                    raise ValueError("the label map does not name its input file")
                image = self.load(source)
                affine = np.asarray(torch.as_tensor(labels.affine).cpu(), dtype=np.float64)
                array = np.asarray(labels[0].detach().cpu())
                write_png(self.path(source), preview_picture(np.asarray(image[0]), array, affine))
            except Exception as error:  # the segmentation is written; a failed picture must not undo it
                logger.error("no preview for %s: %s", source, error)
        return d
