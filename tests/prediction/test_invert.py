"""InvertToInputd gives MONAI's Activationsd + Invertd + argmax result, slab by slab."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from monai.data import MetaTensor
from monai.transforms import Activationsd, Compose, EnsureChannelFirstd, Invertd, LoadImaged, Orientationd, Spacingd
from monai_unet_bundle.prediction import InvertToInputd
from tests.conftest import write_nifti
from tests.prediction.conftest import AFFINES


@pytest.fixture(scope="module")
def preprocessing():
    """The geometric part of the inference preprocessing, in the invertible form MONAI's Invertd needs."""
    return Compose(
        [
            LoadImaged("image", image_only=True),
            EnsureChannelFirstd("image"),
            Orientationd("image", axcodes="RAS"),
            Spacingd("image", pixdim=(2.0, 2.0, 2.0), mode="bilinear"),
        ]
    )


@pytest.mark.parametrize("name", list(AFFINES))
def test_matches_monai_invertd(tmp_path, preprocessing, name):
    shape = (21, 17, 14)
    path = write_nifti(
        tmp_path / f"{name}.nii.gz", np.random.default_rng(0).normal(size=shape).astype(np.float32), AFFINES[name]
    )
    item = preprocessing({"image": str(path)})
    torch.manual_seed(0)
    logits = F.interpolate(torch.randn(1, 4, 4, 4, 4) * 3, size=item["image"].shape[1:], mode="trilinear")[0]
    image = item["image"]
    invert = Compose(
        [
            Activationsd("pred", softmax=True),
            Invertd("pred", transform=preprocessing, orig_keys="image", nearest_interp=False),
        ]
    )
    pred = MetaTensor(logits.clone(), meta=image.meta, applied_operations=list(image.applied_operations))
    reference = invert({"image": image, "pred": pred})["pred"]
    # slabs of 300 voxels: one input row at a time, so slab seams would show
    ours = InvertToInputd("pred", prob_key="prob", slab_voxels=300)({"image": image, "pred": logits.clone()})
    assert ours["pred"].shape == (1, *shape) and ours["pred"].dtype == torch.uint8
    assert np.allclose(ours["pred"].affine.numpy(), AFFINES[name], atol=1e-6)
    assert torch.allclose(ours["prob"].float() / 255, reference.float(), atol=0.51 / 255 + 1e-6)
    agreement = (ours["pred"][0] == reference.argmax(0)).float().mean().item()
    assert agreement >= 0.999, agreement


def test_voxels_outside_the_network_grid_are_background_and_one_channel_is_thresholded():
    # the network grid covers the first 5 of 10 input rows (a crop), at the same spacing
    probabilities = torch.full((1, 5, 4, 4), 0.9)
    image = MetaTensor(
        torch.zeros(1, 5, 4, 4),
        affine=torch.eye(4),
        meta={"original_affine": np.eye(4), "spatial_shape": np.array([10, 4, 4])},
    )
    out = InvertToInputd("pred", softmax=False, slab_voxels=16)({"image": image, "pred": probabilities})["pred"]
    assert out.shape == (1, 10, 4, 4)
    assert out[0, :6].eq(1).all()  # inside, and within one voxel of the grid: clamped to the border
    assert out[0, 7:].eq(0).all()
