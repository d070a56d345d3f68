"""The U-Net paper's pixel-wise loss weight map (Ronneberger, Fischer, Brox 2015, eq. 2).

    w(x) = w_c(x) + w0 * exp(-(d1(x) + d2(x))^2 / (2 sigma^2))

``d1``/``d2`` are the distances from ``x`` to the nearest and second-nearest object; the border term is applied to
background pixels, so the thin background gaps between nearby (or, after the separation border, touching) objects
get a high weight. ``w_c`` balances the class frequencies.

The border term only matters where ``d1 + d2 <= R`` with ``R = sigma * sqrt(2 ln(w0 / tolerance))``; beyond that it
is below ``tolerance``. Both objects involved are then within ``R`` of the pixel, so each object's distance
transform is computed only inside its bounding box grown by ``R``, which is exact where the term is >= tolerance
and changes the rest by less than ``tolerance``. :func:`unet_weight_map_reference` is the plain definition (one
full-image distance transform per object) used by the tests and the benchmark.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type
from scipy import ndimage

from .separate_touching import instances_from_labels, separation_border, spatial_channel_first

__all__ = ["UNetWeightMap", "UNetWeightMapd", "unet_weight_map", "unet_weight_map_reference", "border_cutoff"]

ClassWeights = str | Sequence[float] | None


def border_cutoff(w0: float, sigma: float, tolerance: float) -> float:
    """Distance sum ``d1 + d2`` beyond which ``w0 * exp(-(d1 + d2)^2 / (2 sigma^2)) < tolerance``."""
    if w0 <= tolerance:
        return 0.0
    return sigma * math.sqrt(2.0 * math.log(w0 / tolerance))


def _class_weight_map(foreground: np.ndarray, class_weights: ClassWeights) -> np.ndarray:
    if class_weights is None:
        return np.ones(foreground.shape, np.float64)
    if isinstance(class_weights, str):
        if class_weights != "balanced":
            raise ValueError(f"class_weights must be 'balanced', None or a sequence, got {class_weights!r}.")
        n_fg = int(foreground.sum())
        n_bg = foreground.size - n_fg
        if n_fg == 0 or n_bg == 0:  # one class only: nothing to balance
            return np.ones(foreground.shape, np.float64)
        # inverse frequency scaled so that the image mean of w_c is 1: n_c * w_c summed over 2 classes = N
        w_fg, w_bg = foreground.size / (2.0 * n_fg), foreground.size / (2.0 * n_bg)
    else:
        weights = [float(w) for w in class_weights]
        if len(weights) != 2:
            raise ValueError(f"class_weights needs 2 values (background, foreground), got {weights}.")
        w_bg, w_fg = weights
    return np.where(foreground, w_fg, w_bg)


def _keep_two_smallest(d1: np.ndarray, d2: np.ndarray, dk: np.ndarray) -> None:
    """Fold one object's distances ``dk`` into the running nearest ``d1`` and second-nearest ``d2`` (in place)."""
    np.minimum(d2, np.maximum(d1, dk), out=d2)
    np.minimum(d1, dk, out=d1)


def _prepare(labels: np.ndarray, separate_touching: bool) -> np.ndarray:
    instances = instances_from_labels(labels)
    if separate_touching:
        instances = np.where(separation_border(instances), 0, instances)
    return instances


def _combine(
    instances: np.ndarray, d1: np.ndarray, d2: np.ndarray, w0: float, sigma: float, class_weights: ClassWeights
) -> np.ndarray:
    foreground = instances > 0
    weight = _class_weight_map(foreground, class_weights)
    near_two = ~foreground & np.isfinite(d2)  # elsewhere the border term is 0 (or below the tolerance)
    weight[near_two] += w0 * np.exp(-((d1[near_two] + d2[near_two]) ** 2) / (2.0 * sigma**2))
    return weight.astype(np.float32)


def unet_weight_map(
    labels: np.ndarray,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: ClassWeights = "balanced",
    separate_touching: bool = True,
    spacing: Sequence[float] | None = None,
    tolerance: float = 1e-4,
) -> np.ndarray:
    """Weight map of a spatial (channel-less) label array; see the module docstring.

    Args:
        labels: instance ids (0 = background) or a 0/1 semantic mask, shape ``spatial`` (2D or 3D).
        w0, sigma: border term amplitude and width (sigma in the units of ``spacing``; pixels if None).
        class_weights: "balanced", None (w_c = 1) or ``(w_background, w_foreground)``.
        separate_touching: first turn the contact pixels between touching objects into background.
        spacing: pixel size per spatial axis.
        tolerance: largest error allowed in the border term (it is left out where smaller than this).

    Returns:
        float32 array of the shape of ``labels``.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}.")
    instances = _prepare(labels, separate_touching)
    spacing_ = np.ones(instances.ndim) if spacing is None else np.asarray(spacing, np.float64)
    d1 = np.full(instances.shape, np.inf)
    d2 = np.full(instances.shape, np.inf)
    reach = border_cutoff(w0, sigma, tolerance)
    if reach > 0 and instances.max(initial=0) > 1:
        for k, update, domain in _object_regions(instances, reach, spacing_):
            dk = ndimage.distance_transform_edt(instances[domain] != k, sampling=spacing_)
            inner = tuple(slice(u.start - o.start, u.stop - o.start) for u, o in zip(update, domain))
            _keep_two_smallest(d1[update], d2[update], dk[inner])
    return _combine(instances, d1, d2, w0, sigma, class_weights)


def _object_regions(instances: np.ndarray, reach: float, spacing: np.ndarray):
    """Yield ``(k, update, domain)`` boxes per object whose distances can matter.

    A pixel's border term is >= tolerance only if its nearest and second-nearest objects ``a``, ``b`` satisfy
    ``d1 + d2 <= reach``; then the pixel lies within ``reach`` of both, and the gap between the objects' bounding
    boxes is <= ``reach``. So object ``k``'s distances are needed only inside its box grown by ``reach`` intersected
    with the grown boxes of such neighbours (``update``); they are computed exactly on ``domain``, the smallest box
    holding ``update`` and all of object ``k``. Objects with no neighbour that close are skipped.
    """
    found = [(k, box) for k, box in enumerate(ndimage.find_objects(instances), start=1) if box is not None]
    if len(found) < 2:
        return
    ids = np.array([k for k, _ in found])
    lo = np.array([[b.start for b in box] for _, box in found])  # (N, ndim), inclusive
    hi = np.array([[b.stop for b in box] for _, box in found])  # (N, ndim), exclusive
    # per-axis gap (in physical units) between every pair of boxes; 0 where they overlap along that axis
    gap_px = np.maximum(0, np.maximum(lo[:, None] - hi[None, :] + 1, lo[None, :] - hi[:, None] + 1))
    close = np.sqrt(((gap_px * spacing) ** 2).sum(-1)) <= reach
    np.fill_diagonal(close, False)
    margin = np.ceil(reach / spacing).astype(int)
    shape = np.array(instances.shape)
    grown_lo = np.maximum(lo - margin, 0)
    grown_hi = np.minimum(hi + margin, shape)
    for i in np.flatnonzero(close.any(axis=1)):
        neighbours = close[i]
        up_lo = np.maximum(grown_lo[i], grown_lo[neighbours].min(axis=0))
        up_hi = np.minimum(grown_hi[i], grown_hi[neighbours].max(axis=0))
        if np.any(up_hi <= up_lo):
            continue
        dom_lo, dom_hi = np.minimum(up_lo, lo[i]), np.maximum(up_hi, hi[i])
        yield (
            int(ids[i]),
            tuple(slice(int(a), int(b)) for a, b in zip(up_lo, up_hi)),
            tuple(slice(int(a), int(b)) for a, b in zip(dom_lo, dom_hi)),
        )


def unet_weight_map_reference(
    labels: np.ndarray,
    w0: float = 10.0,
    sigma: float = 5.0,
    class_weights: ClassWeights = "balanced",
    separate_touching: bool = True,
    spacing: Sequence[float] | None = None,
) -> np.ndarray:
    """The plain definition: one full-image distance transform per object, then the two smallest per pixel.

    Same arguments and output as :func:`unet_weight_map`; O(objects x pixels). For tests and benchmarks.
    """
    instances = _prepare(labels, separate_touching)
    d1 = np.full(instances.shape, np.inf)
    d2 = np.full(instances.shape, np.inf)
    for k in np.unique(instances):
        if k != 0:  # (the separation border can remove a small object entirely)
            _keep_two_smallest(d1, d2, ndimage.distance_transform_edt(instances != k, sampling=spacing))
    return _combine(instances, d1, d2, w0, sigma, class_weights)


def _spacing_of(img: np.ndarray | torch.Tensor, spatial_ndim: int) -> list[float] | None:
    if not isinstance(img, MetaTensor):
        return None
    pixdim = [float(p) for p in np.asarray(img.pixdim).ravel()][:spatial_ndim]
    return pixdim + [1.0] * (spatial_ndim - len(pixdim))


class UNetWeightMap(Transform):
    """U-Net paper weight map of a channel-first instance label map.

    Args:
        w0: amplitude of the border term (paper: 10).
        sigma: width of the border term (paper: 5 pixels); in mm when the input is a MetaTensor (its pixdim), in
            pixels otherwise.
        class_weights: "balanced" (inverse class frequency of background / foreground, scaled so the image mean of
            w_c is 1), None (w_c = 1) or ``(w_background, w_foreground)``.
        separate_touching: turn the pixels where two different objects touch into background first (the paper's
            separation border, see :mod:`.separate_touching`), so the ridge between them gets the high weight.
        tolerance: the border term is left out where it is below this (the error bound of the fast computation).

    Call:
        img: ``(1, *spatial)`` instance ids (0 = background, 1..N objects, any ids) or a 0/1 semantic mask, which is
            split into connected components; 2D or 3D; numpy, torch or MetaTensor.

    Returns:
        float32 weight map ``(1, *spatial)`` of the input's type and device; a MetaTensor keeps the input metadata.

    Example::

        >>> weight = UNetWeightMap(w0=10.0, sigma=5.0)(instance_map)  # (1, H, W) -> (1, H, W) float32
    """

    def __init__(
        self,
        w0: float = 10.0,
        sigma: float = 5.0,
        class_weights: ClassWeights = "balanced",
        separate_touching: bool = True,
        tolerance: float = 1e-4,
    ) -> None:
        if sigma <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma}.")
        self.w0 = float(w0)
        self.sigma = float(sigma)
        self.class_weights = class_weights
        self.separate_touching = separate_touching
        self.tolerance = float(tolerance)

    def __call__(self, img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        labels = spatial_channel_first(img, type(self).__name__)
        weight = unet_weight_map(
            labels,
            w0=self.w0,
            sigma=self.sigma,
            class_weights=self.class_weights,
            separate_touching=self.separate_touching,
            spacing=_spacing_of(img, labels.ndim),
            tolerance=self.tolerance,
        )
        return convert_to_dst_type(weight[None], dst=img, dtype=torch.float32 if torch.is_tensor(img) else np.float32)[
            0
        ]


class UNetWeightMapd(MapTransform):
    """Dictionary twin of :class:`UNetWeightMap`: writes the weight map of ``keys`` (one key) to ``weight_key``.

    Args:
        keys: the instance-map key (e.g. "instance"); a semantic label key also works (connected components).
        weight_key: where to store the ``(1, *spatial)`` float32 weight map (metadata copied from the source).
        w0, sigma, class_weights, separate_touching, tolerance: see :class:`UNetWeightMap`.

    Example::

        >>> UNetWeightMapd(keys="instance", weight_key="weight")({"instance": inst})["weight"].shape
        (1, 384, 512)
    """

    def __init__(
        self,
        keys: KeysCollection,
        weight_key: str = "weight",
        w0: float = 10.0,
        sigma: float = 5.0,
        class_weights: ClassWeights = "balanced",
        separate_touching: bool = True,
        tolerance: float = 1e-4,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"UNetWeightMapd takes one source key, got {self.keys}.")
        self.weight_key = weight_key
        self.transform = UNetWeightMap(w0, sigma, class_weights, separate_touching, tolerance)

    def __call__(self, data: Mapping[Hashable, np.ndarray | torch.Tensor]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[self.weight_key] = self.transform(d[key])
        return d
