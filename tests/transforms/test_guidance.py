"""The glue around MONAI's DeepEdit transforms: label names, seed slices, JSON guidance, clicks between grids."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from monai.apps.deepedit.transforms import AddInitialSeedPointMissingLabelsd
from monai.data import MetaTensor
from monai.data.utils import list_data_collate
from monai_unet_bundle.transforms import (
    CheckClicksd,
    GuidanceToGridd,
    GuidanceToJsond,
    LabelNamesd,
    SeedSlicesd,
    deepedit_label_names,
)


def test_label_names_follow_the_channel_order_and_are_lower_case():
    assert deepedit_label_names(3, ["Liver", "Spleen"]) == {"background": 0, "liver": 1, "spleen": 2}
    assert deepedit_label_names(2) == {"background": 0, "class_1": 1}
    with pytest.raises(ValueError, match="3 classes need 2 foreground names"):
        deepedit_label_names(3, ["liver"])
    with pytest.raises(ValueError, match="channel order"):
        LabelNamesd({"liver": 0, "background": 1})


@pytest.mark.parametrize("shape", [(1, 24, 20), (1, 12, 10, 8)])
def test_seed_points_fall_inside_each_label_in_2d_and_3d(shape):
    label = np.zeros(shape, dtype=np.uint8)
    label[(0,) + tuple(slice(2, 6) for _ in shape[1:])] = 1
    label[(0,) + tuple(slice(7, 10) for _ in shape[1:])] = 2
    names = {"background": 0, "a": 1, "b": 2}
    d = SeedSlicesd()(LabelNamesd(names)({"label": torch.as_tensor(label)}))
    seeder = AddInitialSeedPointMissingLabelsd(keys="label")
    seeder.set_random_state(0)
    d = GuidanceToJsond()(seeder(d))
    for name, value in names.items():
        # [distance, *voxel]; [-1, ...] pads to connected_regions. MONAI's distance is -1 too for a seed in a slice
        # with no other label (AddGuidanceSignalDeepEditd then skips it): only background can have that here
        points = [p for p in json.loads(d["guidance"][name]) if min(p[1:]) >= 0]
        assert points or name == "background", name
        for point in points:
            assert label[(0, *point[1:])] == value, (name, point)


def test_json_guidance_collates_whatever_the_click_counts():
    items = [{"guidance": {"a": [[1, 2, 3]], "b": []}}, {"guidance": {"a": [[1, 2, 3], [4, 5, 6]], "b": [[0, 0, 0]]}}]
    batch = list_data_collate([GuidanceToJsond()(item) for item in items])
    assert json.loads(batch["guidance"]["a"][1]) == [[1, 2, 3], [4, 5, 6]]


def test_clicks_move_from_the_file_grid_to_the_resampled_grid():
    """A 10x8x6 file at 1 mm, flipped on x; the network grid is 2 mm, RAS: voxel (i, j, k) -> ((9 - i) / 2, j / 2, k / 2)."""
    original = np.diag([-1.0, 1.0, 1.0, 1.0])
    original[0, 3] = 9.0
    image = MetaTensor(torch.zeros(1, 5, 4, 3), affine=torch.as_tensor(np.diag([2.0, 2.0, 2.0, 1.0])))
    image.meta["original_affine"] = original
    d = GuidanceToGridd()({"image": image, "guidance": {"a": [[9, 0, 0], [1, 6, 4]], "b": []}})
    assert d["guidance"] == {"a": [[0, 0, 0], [4, 3, 2]], "b": []}


def test_without_use_click_every_label_has_no_clicks():
    image = MetaTensor(torch.zeros(1, 4, 4, 4))
    image.meta["spatial_shape"] = np.array([4, 4, 4])
    d = CheckClicksd({"background": 0, "a": 1}, use_click=False)({"image": image, "a": [[1, 1, 1]]})
    assert d["a"] == [] and d["background"] == []
