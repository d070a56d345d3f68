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


#: files already at the network's 2 mm: the grids differ by axis order, flips and whole-voxel shifts only
WHOLE_VOXEL_AFFINES = {
    "ras_2mm": np.array([[2.0, 0, 0, -30.0], [0, 2.0, 0, 12.0], [0, 0, 2.0, 4.0], [0, 0, 0, 1.0]]),
    "lsa_2mm": np.array([[-2.0, 0, 0, 0], [0, 0, 2.0, 0], [0, 2.0, 0, 0], [0, 0, 0, 1.0]]),
}


@pytest.mark.parametrize("name", list(WHOLE_VOXEL_AFFINES))
def test_files_at_the_network_spacing_are_indexed_and_match_monai_exactly(tmp_path, preprocessing, name):
    shape, affine = (13, 11, 9), WHOLE_VOXEL_AFFINES[name]
    path = write_nifti(
        tmp_path / f"{name}.nii.gz", np.random.default_rng(0).normal(size=shape).astype(np.float32), affine
    )
    item = preprocessing({"image": str(path)})
    image = item["image"]
    invert = InvertToInputd("pred", prob_key="prob", slab_voxels=200)
    mapping = np.linalg.solve(image.affine.numpy(), image.meta["original_affine"])
    assert invert._voxel_indices(mapping, shape, tuple(image.shape[1:])) is not None  # the indexing path is taken
    torch.manual_seed(0)
    logits = torch.randn(4, *image.shape[1:]) * 3
    pred = MetaTensor(logits.clone(), meta=image.meta, applied_operations=list(image.applied_operations))
    reference = Compose(
        [
            Activationsd("pred", softmax=True),
            Invertd("pred", transform=preprocessing, orig_keys="image", nearest_interp=False),
        ]
    )({"image": image, "pred": pred})["pred"]
    ours = invert({"image": image, "pred": logits.clone()})
    assert ours["pred"].shape == (1, *shape) and np.allclose(ours["pred"].affine.numpy(), affine, atol=1e-6)
    assert torch.allclose(ours["prob"].float() / 255, reference.float(), atol=0.51 / 255 + 1e-6)
    assert torch.equal(ours["pred"][0].long(), reference.argmax(0).long())


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
