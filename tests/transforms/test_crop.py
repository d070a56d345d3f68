import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai_unet_bundle.transforms import RandCropByLabelClassesSafed, RandCropByPosNegLabelSafed


def sample(shape, classes_at, name="case_007.nii.gz"):
    """image = a ramp, label with given {class: box}, weight = 2 * image, instance = image + 1; MetaTensors."""
    ramp = torch.arange(float(np.prod(shape))).reshape(1, *shape)
    label = torch.zeros(1, *shape)
    for c, box in classes_at.items():
        label[(slice(None), *box)] = c
    meta = {"filename_or_obj": name}
    return {
        "image": MetaTensor(ramp.clone(), meta=dict(meta)),
        "label": MetaTensor(label, meta=dict(meta)),
        "weight": MetaTensor(2 * ramp, meta=dict(meta)),
        "instance": MetaTensor(ramp + 1, meta=dict(meta)),
    }


KEYS = ["image", "label", "weight", "instance"]


def test_absent_requested_classes_fall_back_to_present_ones():
    data = sample((40, 40), {1: (slice(10, 20), slice(10, 20))})
    crop = RandCropByLabelClassesSafed(KEYS, "label", [8, 8], ratios=[0, 0, 1, 1], num_classes=4, num_samples=6)
    crop.set_random_state(seed=0)
    with pytest.warns(UserWarning, match=r"case_007\.nii\.gz.*classes present \[0, 1\]"):
        out = crop(data)
    assert len(out) == 6
    for patch in out:
        assert patch["image"].shape == (1, 8, 8)
        torch.testing.assert_close(patch["weight"].as_tensor(), 2 * patch["image"].as_tensor())
        torch.testing.assert_close(patch["instance"].as_tensor(), patch["image"].as_tensor() + 1)


def test_some_requested_classes_absent_uses_the_others():
    data = sample((40, 40), {2: (slice(16, 24), slice(16, 24))})
    crop = RandCropByLabelClassesSafed(KEYS, "label", [6, 6], ratios=[0, 1, 1, 0], num_classes=4, num_samples=5)
    crop.set_random_state(seed=1)
    with pytest.warns(UserWarning, match=r"classes \[1\] are absent from case_007"):
        out = crop(data)
    for patch in out:  # every centre lies in class 2
        assert patch["label"][0, 3, 3] == 2


def test_small_image_is_padded_to_the_crop_size():
    data = sample((10, 12), {1: (slice(2, 5), slice(3, 9)), 3: (slice(6, 9), slice(0, 4))})
    crop = RandCropByLabelClassesSafed(
        KEYS, "label", [16, 16], ratios=[1, 1, 1, 1], num_classes=4, num_samples=2, warn=False
    )
    out = crop(data)
    for patch in out:
        assert patch["label"].shape == (1, 16, 16)
        assert patch["label"].sum() == data["label"].sum()  # the whole image fits, padded with 0
        torch.testing.assert_close(patch["weight"].as_tensor(), 2 * patch["image"].as_tensor())


def test_3d_and_no_usable_position_crops_uniformly():
    data = sample((6, 20, 20), {1: (slice(0, 3), slice(0, 5), slice(0, 5))})
    data["image"] = MetaTensor(torch.zeros(1, 6, 20, 20), meta={"filename_or_obj": "empty.nii.gz"})
    crop = RandCropByLabelClassesSafed(
        KEYS, "label", [8, 8, 8], num_classes=2, num_samples=3, image_key="image", image_threshold=0.5
    )
    with pytest.warns(UserWarning, match="uniformly"):
        out = crop(data)
    assert all(p["label"].shape == (1, 8, 8, 8) for p in out)


def test_same_seed_same_crops():
    data = sample((30, 30), {1: (slice(0, 30), slice(0, 15))})
    runs = []
    for _ in range(2):
        crop = RandCropByLabelClassesSafed(["image"], "label", [5, 5], num_classes=2, num_samples=4)
        crop.set_random_state(seed=3)
        runs.append([p["image"] for p in crop(data)])
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b)


def test_pos_neg_without_foreground_or_positions():
    data = sample((12, 12), {})
    crop = RandCropByPosNegLabelSafed(KEYS, "label", [16, 16], pos=1, neg=1, num_samples=2)
    with pytest.warns(UserWarning, match="case_007.nii.gz has no foreground"):
        out = crop(data)
    assert [p["image"].shape for p in out] == [(1, 16, 16)] * 2
    masked = RandCropByPosNegLabelSafed(KEYS, "label", [4, 4], image_key="label", image_threshold=5.0)
    with pytest.warns(UserWarning, match="uniformly"):
        out = masked(sample((12, 12), {}))  # no foreground, and no background above the threshold
    torch.testing.assert_close(out[0]["weight"].as_tensor(), 2 * out[0]["image"].as_tensor())
