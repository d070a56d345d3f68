"""Glue that lets MONAI's DeepEdit transforms (``monai.apps.deepedit``) run on this bundle's patches, 2D and 3D.

MONAI's click simulation reads the label names from the sample (``d["label_names"]``), picks initial seed points
per label from the slices that hold it (``d["sids"]``, found by ``FindAllValidSlicesMissingLabelsd``, 3D only) and
stores the clicks as ``{label name: [[...], ...]}`` in ``d["guidance"]``. The pieces here add what it lacks:

- :class:`LabelNamesd` puts the bundle's ``{name: index}`` (background included) into every sample.
- :class:`SeedSlicesd` gives ``AddInitialSeedPointMissingLabelsd`` its slice lists: MONAI's own finder in 3D, and in
  2D no slice selection (the seed is drawn in the whole image).
- :class:`GuidanceToJsond` stores each label's clicks as a JSON string, the form MONAI's DeepEdit transforms read
  back, so samples whose click lists differ in length collate into one batch.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from monai.apps.deepedit.transforms import FindAllValidSlicesMissingLabelsd
from monai.config import KeysCollection
from monai.data import MetaTensor
from monai.transforms import MapTransform, Transform

__all__ = ["GuidanceToJsond", "LabelNamesd", "RestoreMetad", "SeedSlicesd", "deepedit_label_names"]


def deepedit_label_names(num_classes: int, class_names: Sequence[str] | None = None) -> dict[str, int]:
    """``{"background": 0, name_1: 1, ...}`` in channel order: the guidance channel order of the network input.

    ``class_names``: the ``num_classes - 1`` foreground names (``None``: ``class_1`` ...). Names are lower-cased,
    as MONAI Label lower-cases ``channel_def`` before it sends clicks keyed by them.
    """
    names = list(class_names) if class_names is not None else [f"class_{i}" for i in range(1, num_classes)]
    if len(names) != num_classes - 1:
        raise ValueError(f"{num_classes} classes need {num_classes - 1} foreground names, got {names}.")
    label_names = {"background": 0, **{str(name).lower(): index for index, name in enumerate(names, start=1)}}
    if len(label_names) != num_classes:
        raise ValueError(f"label names must be distinct and not 'background', got {names}.")
    return label_names


def check_label_names(label_names: Mapping[str, int]) -> dict[str, int]:
    """``label_names`` as a dict, checked: ``background`` is 0 and the indices are 0..C-1 in channel order."""
    names = {str(k): int(v) for k, v in dict(label_names).items()}
    if names.get("background") != 0 or list(names.values()) != list(range(len(names))):
        raise ValueError(
            f"label_names must map 'background' to 0 and list the classes in channel order 0..C-1, got {names}."
        )
    return names


class LabelNamesd(Transform):
    """Add ``d["label_names"]`` = ``label_names`` (a copy per sample), the key MONAI's DeepEdit transforms read."""

    def __init__(self, label_names: Mapping[str, int]) -> None:
        self.label_names = check_label_names(label_names)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        d["label_names"] = dict(self.label_names)
        return d


class SeedSlicesd(MapTransform):
    """Per label, the slices (last axis) where an initial seed point may be drawn, stored in ``d[sids]``.

    3D labels ``(1, H, W, D)``: MONAI's ``FindAllValidSlicesMissingLabelsd``. 2D labels ``(1, H, W)``: ``None`` for
    every label, which makes ``AddInitialSeedPointMissingLabelsd`` draw from the whole image (one seed per connected
    region, up to its ``connected_regions``).
    """

    def __init__(self, keys: KeysCollection = "label", sids: str = "sids", allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.sids = sids
        self._find = FindAllValidSlicesMissingLabelsd(keys=keys, sids=sids, allow_missing_keys=allow_missing_keys)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if "label_names" not in d:
            raise KeyError("SeedSlicesd needs d['label_names']: put LabelNamesd before it.")
        for key in self.key_iterator(d):
            if d[key].ndim == 4:
                # MONAI's finder compares torch and numpy values element-wise: give it an array
                label = d[key]
                d[key] = np.asarray(label.detach().cpu() if isinstance(label, torch.Tensor) else label)
                d = self._find(d)
                d[key] = label
            elif d[key].ndim == 3:
                d[self.sids] = dict.fromkeys(d["label_names"])
            else:
                raise ValueError(f"labels for clicks must be (1, H, W) or (1, H, W, D), got {tuple(d[key].shape)}.")
        return d


class GuidanceToJsond(Transform):
    """``d[guidance]`` = ``{label: JSON string of its clicks}``: collates whatever the click counts, and copies
    the dict (``AddRandomGuidanceDeepEditd`` hands out its own internal dict)."""

    def __init__(self, guidance: str = "guidance") -> None:
        self.guidance = guidance

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        clicks = d[self.guidance]
        d[self.guidance] = {
            str(label): value if isinstance(value, str) else json.dumps(np.asarray(value).astype(int).tolist())
            for label, value in clicks.items()
        }
        return d


class RestoreMetad(MapTransform):
    """Give ``d[key]`` back the metadata of ``d[key + suffix]``, a copy taken before the click transforms.

    MONAI's DeepEdit transforms rebuild the image (image + guidance channels) and label as plain arrays. Validation
    predicts and scores in the input files' geometry, which it reads from that metadata (affine, original affine,
    file names). Items without the copy (training batches) pass unchanged. Example::

        - _target_: CopyItemsd         # before the seed transforms
          keys: [image, label]
          names: [image_ref, label_ref]
        - ...                          # the DeepEdit transforms
        - _target_: monai_unet_bundle.transforms.RestoreMetad
          keys: [image, label]
    """

    def __init__(self, keys: KeysCollection, suffix: str = "_ref") -> None:
        super().__init__(keys, allow_missing_keys=True)
        self.suffix = suffix

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            reference = d.get(f"{key}{self.suffix}")
            if isinstance(reference, MetaTensor):
                d[key] = MetaTensor(
                    torch.as_tensor(d[key]),
                    meta=dict(reference.meta),
                    applied_operations=list(reference.applied_operations),
                )
        return d
