"""U2-Net and its RSU blocks: parameter counts, structure, shapes, train/eval contract, gradients, fit."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DeepSupervisionLoss, DiceCELoss
from monai_unet_bundle.networks import U2Net
from monai_unet_bundle.networks.rsu import RSU, RSU4F
from torch import nn


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("variant, expected", [("full", 44_009_869), ("lite", 1_131_181)])
def test_parameter_counts(variant, expected):
    assert _count(U2Net(2, 3, 1, variant)) == expected


def _count_calls(module: nn.Module, kind: type) -> list[int]:
    calls: list[int] = []
    for m in module.modules():
        if isinstance(m, kind):
            m.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize("height", [7, 6, 5, 4])
def test_rsu_pools_height_minus_two_times_and_is_residual(height):
    torch.manual_seed(0)
    block = RSU(2, height, 3, 4, 6).eval()
    pools = _count_calls(block, nn.MaxPool2d)
    x = torch.rand(1, 3, 37, 29)
    with torch.no_grad():
        y = block(x)
        assert y.shape == (1, 6, 37, 29)
        assert len(pools) == height - 2
        # the U-branch ends in ReLU (>= 0), so the output never falls below the residual branch
        assert (y >= block.conv_in(x) - 1e-6).all()
    assert block.bottom[0].dilation == (2, 2)


def test_rsu4f_keeps_resolution_with_dilations_1_2_4_8():
    block = RSU4F(3, 4, 3, 4).eval()
    pools = _count_calls(block, nn.MaxPool3d)
    with torch.no_grad():
        assert block(torch.rand(1, 4, 5, 6, 7)).shape == (1, 4, 5, 6, 7)
    assert not pools
    dilations = [layer[0].dilation[0] for layer in [*block.encoder, block.bottom, *block.decoder]]
    assert dilations == [1, 2, 4, 8, 4, 2, 1]


def test_rsu_rejects_too_small_height():
    with pytest.raises(ValueError, match="height"):
        RSU(2, 2, 1, 1, 1)


def test_bad_variant():
    with pytest.raises(ValueError, match="variant"):
        U2Net(2, 1, 1, "tiny")


@pytest.mark.parametrize("size", [(64, 64), (45, 37)])
def test_2d_train_and_eval_contract(size):
    torch.manual_seed(0)
    net = U2Net(2, 3, 2, "lite")
    outs = net.train()(torch.rand(2, 3, *size))
    assert isinstance(outs, list) and len(outs) == 7
    assert all(o.shape == (2, 2, *size) for o in outs)
    with torch.no_grad():
        x = torch.rand(1, 3, *size)
        fused = net.eval()(x)
        assert isinstance(fused, torch.Tensor) and fused.shape == (1, 2, *size)


def test_fused_output_is_the_1x1_fusion_of_the_side_outputs():
    torch.manual_seed(0)
    net = U2Net(2, 1, 2, "lite").eval()
    x = torch.rand(1, 1, 33, 40)
    sides: list[torch.Tensor] = []
    for head in net.sides:
        head.register_forward_hook(lambda _m, _i, out: sides.append(out))
    with torch.no_grad():
        fused = net(x)
        resized = [torch.nn.functional.interpolate(s, size=(33, 40), mode="bilinear") for s in sides]
        assert torch.allclose(net.fuse(torch.cat(resized, 1)), fused, atol=1e-5)
    # side 1 comes from De_1 (full resolution), side 6 from En_6 (1/32)
    assert sides[0].shape[-2:] == (33, 40) and sides[5].shape[-2:] == (2, 2)


def test_3d_odd_size():
    net = U2Net(3, 1, 3, "lite").eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, 17, 12, 9)).shape == (1, 3, 17, 12, 9)


def test_gradients_reach_every_parameter(params_without_gradient):
    torch.manual_seed(0)
    assert not params_without_gradient(U2Net(2, 1, 2, "lite"), torch.rand(2, 1, 32, 32))


def test_overfits_one_sample_with_deep_supervision_loss(fit_disc):
    torch.manual_seed(0)
    net = U2Net(2, 1, 2, "lite")
    loss_fn = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True), weight_mode="same")
    # 48 keeps the 1/32 maps at 2x2: batch norm cannot train on a single value per channel
    losses = fit_disc(net, loss_fn, size=48, steps=25, lr=3e-3)
    assert losses[-1] < 0.25 * losses[0], losses
