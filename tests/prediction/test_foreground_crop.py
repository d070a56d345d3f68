"""nnU-Net's nonzero crop before the sliding window: same logits inside the box, certain background outside."""

from __future__ import annotations

import torch
from monai.data import MetaTensor
from monai_unet_bundle.prediction import SegmentationInferer
from monai_unet_bundle.prediction.foreground_crop import foreground_box, paste_into_background


def test_the_box_is_the_smallest_one_holding_every_nonzero_voxel_of_any_channel():
    image = torch.zeros(1, 2, 10, 12, 14)
    image[0, 0, 2, 3, 4] = 1.0
    image[0, 1, 7, 5, 9] = -2.0  # negative intensities are foreground too
    assert foreground_box(image) == (slice(2, 8), slice(3, 6), slice(4, 10))
    assert foreground_box(torch.zeros(1, 1, 4, 4)) is None


def test_pasting_keeps_the_box_and_makes_the_rest_certain_background_with_the_inputs_metadata():
    image = MetaTensor(torch.zeros(1, 1, 6, 6), affine=torch.diag(torch.tensor([3.0, 2.0, 1.0])))
    box = (slice(1, 4), slice(2, 5))
    logits = torch.randn(1, 3, 3, 3)
    full = paste_into_background(logits, image, box)
    assert isinstance(full, MetaTensor) and torch.equal(full.affine, image.affine)
    assert torch.equal(full[:, :, 1:4, 2:5], logits)
    outside = torch.ones(6, 6, dtype=torch.bool)
    outside[1:4, 2:5] = False
    probabilities = full.softmax(1)[0, :, outside]
    assert (probabilities[0] >= 1 - 1e-6).all() and (full.argmax(1)[0][outside] == 0).all()


def test_cropped_inference_equals_the_uncropped_one_where_windows_see_the_same_voxels():
    # a pointwise network: each voxel's logits depend on that voxel only, so the crop changes nothing inside the
    # box, and outside it (zero input) the network's own answer is replaced by certain background
    torch.manual_seed(0)
    net = torch.nn.Conv3d(1, 3, 1).eval()
    image = torch.zeros(1, 1, 40, 36, 30)
    image[..., 6:30, 8:20, 3:25] = torch.rand(1, 1, 24, 12, 22) + 0.1
    plain = SegmentationInferer((16, 16, 16), amp=False)(image, net)
    cropped = SegmentationInferer((16, 16, 16), amp=False, crop_foreground=True)(image, net)
    assert cropped.shape == plain.shape
    assert torch.allclose(cropped[..., 6:30, 8:20, 3:25], plain[..., 6:30, 8:20, 3:25], atol=1e-5)
    assert (cropped[:, 0, :6] == 0).all() and (cropped[:, 1:, :6] < -10).all()
    # an all-zero image has no box: predicted whole
    empty = torch.zeros(1, 1, 20, 20, 20)
    whole = SegmentationInferer((16, 16, 16), amp=False)(empty, net)
    assert torch.equal(SegmentationInferer((16, 16, 16), amp=False, crop_foreground=True)(empty, net), whole)
