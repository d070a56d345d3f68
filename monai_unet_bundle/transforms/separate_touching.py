"""Separation borders between touching objects (Ronneberger et al. 2015, "separation border", fig. 3c).

Where two different objects of an instance map touch, the pixels on one side of the contact are turned into
background. The network then learns to predict a background ridge between touching objects, and the connected
components of its prediction separate them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform, Transform
from monai.utils import convert_to_dst_type, convert_to_numpy
from scipy import ndimage

__all__ = [
    "SeparateTouchingObjects",
    "SeparateTouchingObjectsd",
    "instances_from_labels",
    "separation_border",
    "spatial_channel_first",
]


def spatial_channel_first(img: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    """Return the spatial array of a single-channel channel-first ``img`` ``(1, *spatial)`` as numpy.

    Raises:
        ValueError: if ``img`` has more than one channel or fewer than 2 spatial dimensions.
    """
    arr = convert_to_numpy(img)
    if arr.ndim < 3 or arr.shape[0] != 1:
        raise ValueError(f"{name} expects a single-channel channel-first label (1, *spatial), got shape {arr.shape}.")
    return arr[0]


def instances_from_labels(labels: np.ndarray) -> np.ndarray:
    """Instance ids ``1..N`` (int32) from a spatial label array.

    A semantic mask (values only 0 and 1) is split into connected components (face connectivity); any other map is
    taken as instances and relabelled to consecutive ids in increasing order of the original ids.
    """
    labels = np.asarray(labels)
    if np.issubdtype(labels.dtype, np.floating):
        labels = np.rint(labels)
    labels = labels.astype(np.int64, copy=False)
    if labels.min(initial=0) < 0:
        raise ValueError(f"labels must be >= 0, got minimum {labels.min()}.")
    if labels.max(initial=0) <= 1:
        return ndimage.label(labels > 0)[0].astype(np.int32)
    if labels.max() < 4 * labels.size:  # a lookup table is much faster than np.unique's sort
        present = np.bincount(labels.ravel()) > 0
        present[0] = False
        lookup = np.zeros(present.size, np.int32)
        lookup[present] = np.arange(1, int(present.sum()) + 1, dtype=np.int32)
        return lookup[labels]
    ids, inverse = np.unique(labels, return_inverse=True)
    if ids[0] != 0:  # no background: shift so every object gets an id >= 1
        inverse = inverse + 1
    return inverse.reshape(labels.shape).astype(np.int32)


def separation_border(instances: np.ndarray) -> np.ndarray:
    """Boolean mask of the separation border of an instance map (any number of spatial dims).

    A pixel of object ``a`` is on the border when one of its full-connectivity neighbours (8 in 2D, 26 in 3D) belongs
    to an object ``b < a``. Removing only the higher-id side keeps the border one pixel thick, and afterwards no two
    different objects are neighbours under any connectivity.
    """
    instances = np.asarray(instances)
    # the smallest non-zero id in each neighbourhood: a pixel is on the border if that is a lower id than its own
    big = int(instances.max(initial=0)) + 1  # stands for background; small enough to stay exact in the filter
    nonzero_or_big = np.where(instances > 0, instances, big).astype(np.int64)
    smallest = ndimage.minimum_filter(nonzero_or_big, size=3, mode="constant", cval=big)
    return (instances > 0) & (smallest < instances)


class SeparateTouchingObjects(Transform):
    """Turn the contact pixels between different objects of an instance map into background.

    Args (call):
        img: instance labels ``(1, *spatial)`` (2D or 3D; numpy, torch or MetaTensor); 0 is background. A semantic
            mask (values 0/1) has nothing to separate and comes back unchanged.

    Returns:
        the same type, shape, dtype and metadata as ``img`` with the separation border set to 0.

    Example::

        >>> lab = np.zeros((1, 6, 6), np.int32); lab[0, 1:5, 1:3] = 1; lab[0, 1:5, 3:5] = 2
        >>> (SeparateTouchingObjects()(lab)[0, 1:5, 3] == 0).all()
        True
    """

    def __call__(self, img: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        labels = spatial_channel_first(img, type(self).__name__)
        border = separation_border(np.rint(labels).astype(np.int64))
        out = np.where(border, 0, labels)[None]
        return convert_to_dst_type(out, dst=img)[0]


class SeparateTouchingObjectsd(MapTransform):
    """Dictionary twin of :class:`SeparateTouchingObjects`.

    Args:
        keys: instance-map keys to separate (each ``(1, *spatial)``).
        mask_keys: keys of other label maps (e.g. the semantic ``label``) whose pixels on the separation border of
            the first key are also set to 0, so the semantic target carries the same background ridge.
        allow_missing_keys: do not raise if a key is missing.

    Example::

        >>> t = SeparateTouchingObjectsd(keys="instance", mask_keys="label")
        >>> out = t({"instance": inst, "label": (inst > 0).astype(np.uint8)})
    """

    def __init__(self, keys: KeysCollection, mask_keys: KeysCollection = (), allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.mask_keys: Sequence[Hashable] = [mask_keys] if isinstance(mask_keys, str) else list(mask_keys)

    def __call__(self, data: Mapping[Hashable, np.ndarray | torch.Tensor]) -> dict:
        d = dict(data)
        border = None
        for key in self.key_iterator(d):
            labels = spatial_channel_first(d[key], type(self).__name__)
            key_border = separation_border(np.rint(labels).astype(np.int64))
            border = key_border if border is None else border | key_border
            d[key] = convert_to_dst_type(np.where(key_border, 0, labels)[None], dst=d[key])[0]
        if border is not None:
            for key in self.mask_keys:
                if key not in d:
                    if self.allow_missing_keys:
                        continue
                    raise KeyError(f"mask key {key!r} is not in the data dictionary.")
                other = convert_to_numpy(d[key])
                if other.shape[1:] != border.shape:
                    raise ValueError(f"mask key {key!r} has spatial shape {other.shape[1:]}, expected {border.shape}.")
                d[key] = convert_to_dst_type(np.where(border[None], 0, other), dst=d[key])[0]
        return d
