"""A simulated annotator for click-guided segmentation (the DeepEdit / DeepGrow evaluation protocol).

After each prediction the user clicks once, at the centre of the largest error region: the largest connected
region of voxels whose true class ``c`` the prediction misses, clicked as a ``c`` click (a ``background`` click on
a false positive). The centre is the region's voxel farthest from its border (maximum of the Euclidean distance
transform). Clicks accumulate; the curve is the mean foreground Dice after 0, 1, 2, ... clicks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import ndimage

__all__ = ["class_dice", "clicks_to_reach", "foreground_dice", "next_click", "simulate_clicks"]


def class_dice(label: np.ndarray, pred: np.ndarray, num_classes: int) -> list[float]:
    """Dice of classes 1..C-1 of two label maps of one shape (a class absent from both counts as 1)."""
    scores = []
    for c in range(1, num_classes):
        truth, guess = label == c, pred == c
        total = int(truth.sum() + guess.sum())
        scores.append(1.0 if total == 0 else 2.0 * int((truth & guess).sum()) / total)
    return scores


def foreground_dice(label: np.ndarray, pred: np.ndarray, num_classes: int) -> float:
    """Mean Dice over classes 1..C-1 (:func:`class_dice`), the mean the README tables report."""
    return float(np.mean(class_dice(label, pred, num_classes)))


def next_click(label: np.ndarray, pred: np.ndarray, num_classes: int) -> tuple[int, list[int]] | None:
    """The class and voxel of the next click: the centre of the largest missed region of any class.

    ``label``, ``pred``: integer maps of one shape ``(*spatial)``. Returns ``None`` when the prediction is exact.
    """
    best: tuple[int, int, np.ndarray] | None = None  # (size, class, region mask)
    for c in range(num_classes):
        missed = (label == c) & (pred != c)
        if not missed.any():
            continue
        regions, count = ndimage.label(missed)
        sizes = np.bincount(regions.ravel(), minlength=count + 1)[1:]
        largest = int(np.argmax(sizes)) + 1
        if best is None or sizes[largest - 1] > best[0]:
            best = (int(sizes[largest - 1]), c, regions == largest)
    if best is None:
        return None
    _, c, region = best
    # pad so the image border counts as the region's border too
    inside = ndimage.distance_transform_edt(np.pad(region, 1))[tuple(slice(1, -1) for _ in region.shape)]
    return c, [int(i) for i in np.unravel_index(int(np.argmax(inside)), region.shape)]


def simulate_clicks(
    predict: Callable[[Mapping[str, list[list[int]]]], np.ndarray],
    label: np.ndarray,
    label_names: Mapping[str, int],
    max_clicks: int,
) -> tuple[list[float], dict[str, list[list[int]]]]:
    """Dice after 0..``max_clicks`` clicks and the clicks given.

    ``predict(clicks)``: the label map for ``{label name: [[i, j, k], ...]}`` (voxels of ``label``'s grid).
    Stops early (repeating the last Dice) when the prediction is exact.
    """
    names = {int(v): str(k) for k, v in label_names.items()}
    num_classes = len(names)
    clicks: dict[str, list[list[int]]] = {name: [] for name in label_names}
    pred = predict(clicks)
    curve = [foreground_dice(label, pred, num_classes)]
    while len(curve) <= max_clicks:
        click = next_click(label, pred, num_classes)
        if click is None:
            curve.append(curve[-1])
            continue
        clicks[names[click[0]]].append(click[1])
        pred = predict(clicks)
        curve.append(foreground_dice(label, pred, num_classes))
    return curve, clicks


def clicks_to_reach(curve: Sequence[float], target: float) -> int | None:
    """The fewest clicks after which the Dice is at least ``target`` (``None``: not within the curve)."""
    return next((k for k, dice in enumerate(curve) if dice >= target), None)
