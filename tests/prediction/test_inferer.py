"""SegmentationInferer: whole-volume equality where it must hold, fast paths vs fp32, TTA, U2-Net, overlap-tile."""

from __future__ import annotations

import pytest
import torch
from monai.inferers import sliding_window_inference
from monai_unet_bundle.cpu_capability import cpu_has_fast_bf16, cpu_line
from monai_unet_bundle.networks import U2Net, UNet
from monai_unet_bundle.prediction import (
    OverlapTileInferer,
    SegmentationInferer,
    WindowPredictor,
    flip_combinations,
    fold_batchnorm,
)
from monai_unet_bundle.prediction.overlap_tile import mirror_pad
from torch import nn


def _pointwise(seed: int = 0) -> nn.Module:
    """A per-voxel network: any tiling and any mirroring give exactly its whole-volume output."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv3d(1, 8, 1), nn.BatchNorm3d(8), nn.ReLU(), nn.Conv3d(8, 3, 1)).eval()


def _unet(seed: int = 0, **kwargs) -> UNet:
    torch.manual_seed(seed)
    net = UNet(3, 1, 4, features=(4, 8, 16), **kwargs).eval()
    for module in net.modules():  # non-trivial running statistics, so folding BatchNorm has work to do
        if isinstance(module, nn.BatchNorm3d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
    return net


def test_sliding_window_equals_whole_volume_for_a_pointwise_network():
    # Gaussian blending of identical per-voxel predictions must give that prediction back: tolerance 1e-5
    net = _pointwise()
    x = torch.rand(1, 1, 30, 27, 21)
    inferer = SegmentationInferer((16, 16, 16), sw_batch_size=3, overlap=0.5, amp=False)
    with torch.no_grad():
        expected = net(x)
    assert torch.allclose(inferer(x, net), expected, atol=1e-5)


def test_one_window_covering_the_volume_equals_one_forward_pass():
    net = _unet()
    x = torch.rand(1, 1, 24, 24, 24)
    out = SegmentationInferer((24, 24, 24), amp=False)(x, net)
    with torch.no_grad():
        expected = net(x)
    assert torch.allclose(out, expected, atol=1e-5)


def test_fast_fp32_path_matches_monai_default():
    """Folding BatchNorm and channels-last change only rounding: same logits as MONAI's plain call (1e-4)."""
    net = _unet()
    x = torch.rand(1, 1, 40, 37, 33)
    with torch.no_grad():
        baseline = sliding_window_inference(x, (24, 24, 24), 1, net, 0.25, "gaussian")
    ours = SegmentationInferer((24, 24, 24), sw_batch_size=4, overlap=0.25, amp=False)(x, net)
    assert ours.dtype == torch.float32
    assert torch.allclose(ours, baseline, atol=1e-4)


def test_fold_batchnorm_keeps_the_output_and_leaves_the_network_alone():
    net = _unet()
    x = torch.rand(2, 1, 16, 16, 16)
    folded = fold_batchnorm(net)
    assert not any(isinstance(m, nn.BatchNorm3d) for m in folded.modules())
    assert any(isinstance(m, nn.BatchNorm3d) for m in net.modules())
    with torch.no_grad():
        assert torch.allclose(folded(x), net(x), atol=1e-5)
    assert fold_batchnorm(net.train()) is net  # batch statistics cannot be folded


@pytest.mark.skipif(
    not cpu_has_fast_bf16(), reason=f"bf16 autocast is used only on CPUs with native bf16; this one: {cpu_line()}"
)
def test_bf16_autocast_agrees_with_fp32():
    # An untrained network's classes are near ties everywhere (margins ~1% of the logit spread), so the voxel
    # agreement here is a floor; the >= 99.9% target is measured with trained weights by benchmarks/.
    net = _unet()
    x = torch.rand(1, 1, 32, 32, 32)
    fp32 = SegmentationInferer((24, 24, 24), amp=False)(x, net)
    bf16 = SegmentationInferer((24, 24, 24), amp=True)(x, net)
    assert bf16.dtype == torch.float32  # blended in full precision
    assert not torch.equal(bf16, fp32)  # the bf16 path really ran
    assert (bf16 - fp32).abs().max() <= 0.02 * fp32.abs().max()
    agreement = (bf16.argmax(1) == fp32.argmax(1)).float().mean().item()
    assert agreement >= 0.97, agreement


def test_tta_is_exact_for_a_flip_equivariant_network_and_averages_mirrorings():
    x = torch.rand(1, 1, 20, 18, 22)
    pointwise = _pointwise()
    plain = SegmentationInferer((16, 16, 16), amp=False)(x, pointwise)
    assert torch.allclose(SegmentationInferer((16, 16, 16), amp=False, tta=True)(x, pointwise), plain, atol=1e-5)

    net = _unet()
    x = torch.rand(1, 1, 16, 16, 16)
    out = SegmentationInferer((16, 16, 16), amp=False, tta=True)(x, net)
    with torch.no_grad():
        passes = [net(x)] + [torch.flip(net(torch.flip(x, d)), d) for d in flip_combinations([0, 1, 2])]
    assert len(passes) == 8
    assert torch.allclose(out, torch.stack(passes).mean(0), atol=1e-5)
    assert not torch.allclose(out, passes[0], atol=1e-3)  # the mirrorings changed something


def test_tta_axes_mirrors_only_the_named_axes():
    """tta_axes [0]: two passes (as is and flipped along the first spatial axis), not eight."""
    net = _unet()
    x = torch.rand(1, 1, 16, 16, 16)
    out = SegmentationInferer((16, 16, 16), amp=False, tta=True, tta_axes=[0])(x, net)
    with torch.no_grad():
        expected = (net(x) + torch.flip(net(torch.flip(x, (2,))), (2,))) / 2
        every_axis = SegmentationInferer((16, 16, 16), amp=False, tta=True)(x, net)
    assert torch.allclose(out, expected, atol=1e-5)
    assert not torch.allclose(out, every_axis, atol=1e-3)


def test_u2net_fused_output_only_enters_the_stitcher():
    torch.manual_seed(0)
    net = U2Net(3, 1, 2, "lite")
    x = torch.rand(2, 1, 20, 20, 20)  # two windows: training-mode BatchNorm needs more than one value
    predictor = WindowPredictor(net.train())  # training mode returns 7 outputs: the fused one is taken
    with torch.no_grad():
        outputs = net(x)
    assert isinstance(outputs, list) and len(outputs) == 7
    assert torch.allclose(predictor(x), outputs[0], atol=1e-6)
    x = x[:1]
    out = SegmentationInferer((20, 20, 20), amp=False)(x, net.eval())
    with torch.no_grad():
        assert torch.allclose(out, net(x), atol=1e-5)


def test_valid_unet_selects_overlap_tile_equal_to_one_pass_on_the_mirrored_volume():
    torch.manual_seed(0)
    net = UNet(2, 1, 3, features=(4, 8, 16), padding="valid").eval()
    border = net.valid_border()
    x = torch.rand(1, 1, 50, 43)
    inferer = SegmentationInferer((60, 60), sw_batch_size=2, amp=False)  # roi = input patch
    out = inferer(x, net)
    assert out.shape == (1, 3, 50, 43)
    # one forward pass over the whole mirror-padded image (padded to a legal size), cropped to the image
    legal = net.valid_input_size([n + 2 * border for n in x.shape[2:]])
    pad = [(border, size - n - border) for size, n in zip(legal, x.shape[2:])]
    with torch.no_grad():
        whole = net(mirror_pad(x, pad))[:, :, : x.shape[2], : x.shape[3]]
    assert torch.allclose(out, whole, atol=1e-5)
    # the tiles it used are the roi's output size, as OverlapTileInferer would be configured by hand
    tile = net.valid_output_size(60)[0]
    by_hand = OverlapTileInferer(tile_size=tile, sw_batch_size=2)(x, net)
    assert torch.allclose(out, by_hand, atol=1e-5)


def test_progress_bar_counts_windows(capsys):
    net = _pointwise()
    SegmentationInferer((16, 16, 16), overlap=0.5, amp=False, progress=True)(torch.rand(1, 1, 24, 16, 16), net)
    err = capsys.readouterr().err
    assert "2/2" in err  # step 8 over 24 voxels: 2 windows
