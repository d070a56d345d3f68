"""nnU-Net's nonzero crop before the sliding window: same logits inside the box, certain background outside."""

from __future__ import annotations

import torch
from monai.data import MetaTensor
from monai_unet_bundle.prediction import SegmentationInferer
from monai_unet_bundle.prediction.foreground_crop import foreground_box, paste_into_background, window_aligned_box


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
    image = torch.zeros(1, 1, 64, 36, 30)
    image[..., 34:58, 8:20, 3:25] = torch.rand(1, 1, 24, 12, 22) + 0.1
    plain = SegmentationInferer((16, 16, 16), amp=False)(image, net)
    cropped = SegmentationInferer((16, 16, 16), amp=False, crop_foreground=True)(image, net)
    assert cropped.shape == plain.shape
    assert torch.allclose(cropped[..., 34:58, 8:20, 3:25], plain[..., 34:58, 8:20, 3:25], atol=1e-5)
    # windows of 16 every 12 start at 0, 12, 24, 36, 48 along the first axis: those from 24 on touch the box
    assert (cropped[:, 0, :24] == 0).all() and (cropped[:, 1:, :24] < -10).all()
    # an all-zero image has no box: predicted whole
    empty = torch.zeros(1, 1, 20, 20, 20)
    whole = SegmentationInferer((16, 16, 16), amp=False)(empty, net)
    assert torch.equal(SegmentationInferer((16, 16, 16), amp=False, crop_foreground=True)(empty, net), whole)


def test_the_aligned_box_is_the_union_of_the_whole_images_windows_that_touch_the_box():
    # windows of 48 every 36 over 94 voxels start at 0, 36, 46
    assert window_aligned_box((slice(50, 60),), (94,), 48, 0.25) == (slice(36, 94),)
    assert window_aligned_box((slice(0, 10),), (94,), 48, 0.25) == (slice(0, 48),)
    assert window_aligned_box((slice(40, 45),), (94,), 48, 0.25) == (slice(0, 84),)
    # an axis no longer than the window stays whole; a roi of 0 / None is the whole axis
    assert window_aligned_box((slice(3, 5), slice(2, 4)), (20, 30), (32, 0), 0.5) == (slice(0, 20), slice(0, 30))


def test_a_cropped_run_of_a_convolutional_network_equals_the_uncropped_one_inside_the_box():
    # 3x3x3 convolutions see across window edges: a bare bounding box moves the windows and changes the logits;
    # the window-aligned box reruns the same windows, so the box's voxels get the same logits
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv3d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(4, 3, 3, padding=1)
    ).eval()
    image = torch.zeros(1, 1, 50, 44, 40)
    inside = (slice(None), slice(None), slice(13, 37), slice(9, 31), slice(5, 27))
    image[inside] = torch.rand(1, 1, 24, 22, 22) + 0.1
    plain = SegmentationInferer((16, 16, 16), amp=False, overlap=0.5)(image, net)
    cropped = SegmentationInferer((16, 16, 16), amp=False, overlap=0.5, crop_foreground=True)(image, net)
    assert torch.allclose(cropped[inside], plain[inside], atol=1e-6)
    # the bare box's windows differ: the same comparison fails without the alignment
    bare = SegmentationInferer((16, 16, 16), amp=False, overlap=0.5)(image[inside], net)
    assert not torch.allclose(bare, plain[inside], atol=1e-4)
