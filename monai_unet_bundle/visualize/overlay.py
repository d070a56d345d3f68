"""Side-by-side overlay pictures: image | ground truth | prediction, labels drawn in colour over the image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .png import write_png

#: RGB per class index (0 = background is not drawn); repeats past its length.
LABEL_COLOURS = np.array(
    [[0, 0, 0], [230, 25, 75], [60, 180, 75], [0, 130, 200], [255, 225, 25], [145, 30, 180], [70, 240, 240]],
    dtype=np.float32,
)


def _to_grey(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, (0.5, 99.5))
    scaled = np.clip((image - low) / max(high - low, 1e-8), 0.0, 1.0)
    return np.repeat((scaled * 255.0)[..., None], 3, axis=-1)


def _blend(grey: np.ndarray, label: np.ndarray, alpha: float) -> np.ndarray:
    colours = LABEL_COLOURS[1:][(label.astype(np.int64) - 1) % (len(LABEL_COLOURS) - 1)]
    mask = (label > 0)[..., None]
    return np.where(mask, (1.0 - alpha) * grey + alpha * colours, grey)


def overlay_panel(image: np.ndarray, labels: Sequence[np.ndarray], alpha: float = 0.5, gap: int = 4) -> np.ndarray:
    """RGB uint8 panel of a 2D ``image`` (X, Y) followed by one overlay per 2D label map (X, Y).

    Arrays are in NIfTI index order (axis 0 = x); the panel is shown with y upwards, as radiology viewers do.
    """
    grey = _to_grey(np.asarray(image, dtype=np.float32))
    tiles = [grey] + [_blend(grey, np.asarray(lab), alpha) for lab in labels]
    # (x, y) -> (rows = y from the top, columns = x)
    tiles = [np.flip(np.transpose(t, (1, 0, 2)), axis=0) for t in tiles]
    spacer = np.full((tiles[0].shape[0], gap, 3), 255.0)
    row = np.concatenate([piece for t in tiles for piece in (t, spacer)][:-1], axis=1)
    return np.clip(row, 0, 255).astype(np.uint8)


def save_overlay(
    path: str | Path,
    image: np.ndarray,
    labels: Sequence[np.ndarray],
    axis: int = 2,
    index: int | None = None,
    scale: int = 2,
) -> Path:
    """Write the overlay of one slice (``axis``, ``index``; the middle by default) of 3D arrays, or of 2D arrays.

    ``scale`` enlarges the picture by pixel repetition, which keeps label edges sharp.
    """
    image = np.asarray(image)
    if image.ndim == 3:
        index = image.shape[axis] // 2 if index is None else index
        image = np.take(image, index, axis=axis)
        labels = [np.take(np.asarray(lab), index, axis=axis) for lab in labels]
    panel = overlay_panel(image, labels)
    panel = np.repeat(np.repeat(panel, scale, axis=0), scale, axis=1)
    return write_png(path, panel)
