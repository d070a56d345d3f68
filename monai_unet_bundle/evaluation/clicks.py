"""A simulated annotator for click-guided segmentation (the DeepEdit / DeepGrow evaluation protocol).

After each prediction the user clicks once, at the centre of the largest error region: the largest connected
region of voxels whose true class ``c`` the prediction misses, clicked as a ``c`` click (a ``background`` click on
a false positive). The centre is the region's voxel farthest from its border (maximum of the Euclidean distance
transform; of equally deep voxels, the one nearest their mean position). Clicks accumulate; the curve is the mean
foreground Dice after 0, 1, 2, ... clicks.

A user whose click did not fix a region clicks it again elsewhere, not on the same voxel: voxels clicked before count
as border of the region (the next click goes to the point farthest from the border and from the earlier clicks), and a
region holding nothing but earlier clicks gives way to the next largest. Without this, a network that ignores one
click has every later click land on that same voxel, and the curve measures one click many times.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import ndimage

__all__ = [
    "class_dice",
    "click_changes",
    "clicks_to_reach",
    "foreground_dice",
    "next_click",
    "region_oracle",
    "simulate_clicks",
]


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


def click_changes(label: np.ndarray, before: np.ndarray, after: np.ndarray) -> tuple[int, int]:
    """What one click did: (voxels it fixed, voxels it broke), from the label maps before and after it.

    Fixed: wrong before, right after; broken: right before, wrong after (all of one shape ``(*spatial)``). A click
    that flips a voxel from one wrong class to another counts in neither.

    Example: ``click_changes(np.array([1, 1, 0]), np.array([0, 1, 0]), np.array([1, 0, 0])) == (1, 1)``.
    """
    right_before, right_after = before == label, after == label
    return int((~right_before & right_after).sum()), int((right_before & ~right_after).sum())


def next_click(
    label: np.ndarray, pred: np.ndarray, num_classes: int, clicked: Sequence[Sequence[int]] = ()
) -> tuple[int, list[int]] | None:
    """The class and voxel of the next click: the centre of the largest missed region of any class.

    ``label``, ``pred``: integer maps of one shape ``(*spatial)``; ``clicked``: voxels clicked before, never chosen
    again (they count as the region's border). Returns ``None`` when no missed voxel is left to click.
    """
    taken = np.zeros(label.shape, dtype=bool)
    for point in clicked:
        taken[tuple(point)] = True
    candidates: list[tuple[int, int, np.ndarray, int]] = []  # (size, class, region labels, region id)
    for c in range(num_classes):
        missed = (label == c) & (pred != c)
        if not missed.any():
            continue
        regions, count = ndimage.label(missed)
        sizes = np.bincount(regions.ravel(), minlength=count + 1)[1:]
        candidates += [(int(size), c, regions, i + 1) for i, size in enumerate(sizes)]
    # largest first; ties keep class order, then region order
    for _, c, regions, index in sorted(candidates, key=lambda item: -item[0]):
        region = (regions == index) & ~taken
        if not region.any():
            continue
        # pad so the image border counts as the region's border too
        inside = ndimage.distance_transform_edt(np.pad(region, 1))[tuple(slice(1, -1) for _ in region.shape)]
        return c, _deepest_central(inside)
    return None


def _deepest_central(inside: np.ndarray) -> list[int]:
    """Of the voxels deepest inside a region, the one nearest their mean position.

    Thin regions (a sheet one or two voxels deep, the usual error along a tissue border) have thousands of equally
    deep voxels; the first in memory order would sit at the region's low-index end, not at its centre.
    """
    deepest = np.argwhere(inside == inside.max())
    nearest = np.argmin(((deepest - deepest.mean(axis=0)) ** 2).sum(axis=1))
    return [int(i) for i in deepest[nearest]]


def simulate_clicks(
    predict: Callable[[Mapping[str, list[list[int]]]], np.ndarray],
    label: np.ndarray,
    label_names: Mapping[str, int],
    max_clicks: int,
) -> tuple[list[float], dict[str, list[list[int]]]]:
    """Dice after 0..``max_clicks`` clicks and the clicks given.

    ``predict(clicks)``: the label map for ``{label name: [[i, j, k], ...]}`` (voxels of ``label``'s grid).
    Repeats the last Dice when no missed voxel is left to click (an exact prediction).
    """
    names = {int(v): str(k) for k, v in label_names.items()}
    num_classes = len(names)
    clicks: dict[str, list[list[int]]] = {name: [] for name in label_names}
    pred = predict(clicks)
    curve = [foreground_dice(label, pred, num_classes)]
    while len(curve) <= max_clicks:
        given = [point for points in clicks.values() for point in points]
        click = next_click(label, pred, num_classes, given)
        if click is None:
            curve.append(curve[-1])
            continue
        clicks[names[click[0]]].append(click[1])
        pred = predict(clicks)
        curve.append(foreground_dice(label, pred, num_classes))
    return curve, clicks


def region_oracle(
    label: np.ndarray, pred: np.ndarray, num_classes: int, max_clicks: int, fixed: list[int] | None = None
) -> list[float]:
    """Dice after 0..``max_clicks`` clicks of the same simulated user on a predictor that does exactly what each click
    asks: it fixes the whole connected missed region clicked, and nothing else, starting from ``pred``. A network
    gains more only by fixing errors it was not clicked on. Errors spread thinly along tissue borders keep it low.
    ``fixed``: if given, each click's number of fixed voxels (its region's size) is appended to it.
    """
    pred = pred.copy()
    curve = [foreground_dice(label, pred, num_classes)]
    clicked: list[list[int]] = []
    while len(curve) <= max_clicks:
        click = next_click(label, pred, num_classes, clicked)
        if click is not None:
            c, point = click
            clicked.append(point)
            regions, _ = ndimage.label((label == c) & (pred != c))
            region = regions == regions[tuple(point)]
            pred[region] = c
            if fixed is not None:
                fixed.append(int(region.sum()))
        curve.append(foreground_dice(label, pred, num_classes))
    return curve


def clicks_to_reach(curve: Sequence[float], target: float) -> int | None:
    """The fewest clicks after which the Dice is at least ``target`` (``None``: not within the curve)."""
    return next((k for k, dice in enumerate(curve) if dice >= target), None)
