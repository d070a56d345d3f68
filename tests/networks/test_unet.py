"""UNet: shapes (same / valid, 2D / 3D), valid-size arithmetic, train/eval contract, parameters, gradients, fit."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DiceCELoss
from monai_unet_bundle.networks import UNet


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


# --------------------------------------------------------------------------------------------- the paper network
def test_paper_network_parameters_and_572_to_388():
    torch.manual_seed(0)
    net = UNet(2, 1, 2, padding="valid", norm=None).eval()
    assert _count(net) == 31_030_658
    assert net.valid_output_size(572) == (388,)
    assert net.valid_input_size(388) == (572,)
    assert net.valid_border() == 92
    with torch.no_grad():
        out = net(torch.rand(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)
    assert torch.isfinite(out).all()


def test_paper_skip_crops():
    # Fig. 1 of the paper: 64 -> 56, 136 -> 104, 280 -> 200, 568 -> 392 (coarsest first); offsets are half the loss
    assert UNet(2, 1, 2, padding="valid").skip_offsets == [4, 16, 40, 88]


# ------------------------------------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("size", [(32, 32), (37, 41), (15, 8)])
@pytest.mark.parametrize("upsample", ["deconv", "interp"])
def test_same_2d_any_size(size, upsample):
    net = UNet(2, 3, 5, features=(4, 8, 16, 32), upsample=upsample).eval()
    with torch.no_grad():
        assert net(torch.rand(2, 3, *size)).shape == (2, 5, *size)


@pytest.mark.parametrize("size", [(16, 16, 16), (17, 12, 9)])
@pytest.mark.parametrize("norm", ["batch", "instance", None])
def test_same_3d_any_size(size, norm):
    net = UNet(3, 1, 4, features=(4, 8, 16), norm=norm, attention=True).eval()
    with torch.no_grad():
        assert net(torch.rand(1, 1, *size)).shape == (1, 4, *size)


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_valid_shapes_follow_the_size_functions(spatial_dims):
    net = UNet(spatial_dims, 2, 3, features=(4, 8, 16), padding="valid", norm="instance").eval()
    wanted = (9, 20, 5)[:spatial_dims]
    inp = net.valid_input_size(wanted)
    out = net.valid_output_size(inp)
    assert all(o >= w for o, w in zip(out, wanted))
    with torch.no_grad():
        assert net(torch.rand(1, 2, *inp)).shape == (1, 3, *out)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_valid_size_functions_against_brute_force(depth):
    features = [2 * 2**i for i in range(depth + 1)]
    net = UNet(2, 1, 1, features=features, padding="valid")

    def legal(n):
        try:
            net.valid_output_size(n)
            return True
        except ValueError:
            return False

    legal_inputs = [n for n in range(1, 400) if legal(n)]
    assert legal_inputs, "some input sizes must be legal"
    step = 2**depth
    # legal inputs are one residue class modulo 2**depth, every member above the smallest one
    assert legal_inputs == list(range(legal_inputs[0], 400, step))
    outputs = [net.valid_output_size(n)[0] for n in legal_inputs]
    assert all(n - o == 2 * net.valid_border() for n, o in zip(legal_inputs, outputs))
    for m in range(1, 120):
        (n,) = net.valid_input_size(m)
        assert n in legal_inputs and net.valid_output_size(n)[0] >= m
        smaller = [k for k in legal_inputs if k < n]
        assert not smaller or net.valid_output_size(smaller[-1])[0] < m  # smallest such input


def test_valid_rejects_illegal_sizes_naming_nearest_legal_ones():
    net = UNet(2, 1, 2, padding="valid")
    with pytest.raises(ValueError, match=r"570 .* Nearest legal lengths: 556 or 572"):
        net.valid_output_size(570)
    with pytest.raises(ValueError, match=r"Nearest legal lengths: 188 \(the smallest\)"):
        net.valid_output_size(100)
    small = UNet(2, 1, 2, features=(4, 8), padding="valid")
    with pytest.raises(ValueError, match="spatial axis 1"):
        small(torch.rand(1, 1, 20, 21))
    with pytest.raises(ValueError, match=r"expected input of shape \(B, 1, \*, \*\)"):
        small(torch.rand(1, 2, 20, 20))


def test_class_form_of_size_functions():
    assert UNet.output_size_for((572, 572), depth=4) == (388, 388)
    assert UNet.input_size_for(388, depth=4) == (572,)
    same = UNet(2, 1, 1, features=(4, 8))
    assert same.valid_output_size((33, 31)) == (33, 31) and same.valid_border() == 0


@pytest.mark.parametrize(
    "kwargs", [{"padding": "full"}, {"norm": "group"}, {"upsample": "nearest"}, {"dropout": 1.0}, {"features": (8,)}]
)
def test_bad_arguments(kwargs):
    args = {"features": (4, 8), **kwargs}
    with pytest.raises(ValueError):
        UNet(2, 1, 1, **args)


# ---------------------------------------------------------------------------------------- train / eval contract
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_deep_supervision_contract(padding):
    net = UNet(2, 1, 3, features=(4, 8, 16, 32), padding=padding, deep_supervision=True)
    size = (64, 64) if padding == "same" else net.valid_input_size(20) * 2
    x = torch.rand(2, 1, *size)
    outs = net.train()(x)
    assert isinstance(outs, list) and len(outs) == 3  # final + the two coarser decoder levels
    assert all(o.shape[:2] == (2, 3) for o in outs)
    sizes = [o.shape[-1] for o in outs]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > sizes[1] > sizes[2]
    if padding == "same":
        assert sizes == [64, 32, 16]
    with torch.no_grad():
        single = net.eval()(x)
    assert isinstance(single, torch.Tensor) and single.shape == outs[0].shape


def test_without_deep_supervision_training_returns_a_tensor():
    net = UNet(2, 1, 2, features=(4, 8)).train()
    assert isinstance(net(torch.rand(2, 1, 16, 16)), torch.Tensor)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    net = UNet(2, 1, 2, features=(4, 8), norm=None, dropout=0.5)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        net.eval()
        assert torch.equal(net(x), net(x))
        net.train()
        assert not torch.equal(net(x), net(x))


def test_attention_gates_the_skips():
    torch.manual_seed(0)
    plain = UNet(2, 1, 2, features=(4, 8, 16), norm=None)
    gated = UNet(2, 1, 2, features=(4, 8, 16), norm=None, attention=True)
    # one 7x7 conv (2 -> 1 channels, with bias) per skip
    assert _count(gated) - _count(plain) == 2 * (2 * 49 + 1)
    gated.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(plain(x), gated(x))
        for gate in gated.gates:  # a gate of constant 1 restores the plain network
            gate.conv.weight.zero_()
            gate.conv.bias.fill_(1e4)
        assert torch.allclose(plain(x), gated(x), atol=1e-6)


# ------------------------------------------------------------------------------------------ gradients and fitting
@pytest.mark.parametrize(
    "kwargs, size",
    [
        ({"spatial_dims": 2, "attention": True, "deep_supervision": True, "upsample": "interp"}, (24, 24)),
        ({"spatial_dims": 3, "padding": "valid", "norm": "instance", "attention": True}, (44, 44, 44)),
    ],
)
def test_gradients_reach_every_parameter(kwargs, size, params_without_gradient):
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=2, features=(2, 4, 8), **kwargs)
    assert not params_without_gradient(net, torch.rand(2, 1, *size))


def test_overfits_one_sample(fit_disc):
    torch.manual_seed(0)
    net = UNet(2, 1, 2, features=(8, 16, 32), norm="instance")
    losses = fit_disc(net, DiceCELoss(to_onehot_y=True, softmax=True), size=32, steps=30, lr=1e-2)
    assert losses[-1] < 0.25 * losses[0], losses


def test_pool_sizes_pool_in_plane_first_for_anisotropic_patches():
    """nnU-Net's thick-slice plan: the first two levels pool x and y only, so a 64x64x8 patch keeps z for the last."""
    net = UNet(3, 1, 3, features=(4, 8, 16, 32), pool_sizes=[[2, 2, 1], [2, 2, 1], [2, 2, 2]])
    shapes = []
    net.encoder[-1].register_forward_hook(lambda module, inputs, output: shapes.append(tuple(output.shape[2:])))
    out = net(torch.rand(2, 1, 64, 64, 8))
    assert out.shape == (2, 3, 64, 64, 8)
    assert shapes == [(8, 8, 4)]  # x, y halved three times, z once
    # the same weights as the default network: pooling carries none, the deconvolutions take the level's size
    default = UNet(3, 1, 3, features=(4, 8, 16, 32))
    assert set(net.state_dict()) == set(default.state_dict())
    assert net.ups[-1].up.weight.shape[2:] == (2, 2, 1)


def test_pool_sizes_interp_upsampling_and_bad_values():
    net = UNet(2, 1, 2, features=(4, 8, 16), upsample="interp", pool_sizes=[[2, 1], 2])
    assert net(torch.rand(1, 1, 16, 12)).shape == (1, 2, 16, 12)
    with pytest.raises(ValueError, match="one entry per pooling"):
        UNet(2, 1, 2, features=(4, 8, 16), pool_sizes=[2])
    with pytest.raises(ValueError, match="padding='same'"):
        UNet(2, 1, 2, features=(4, 8, 16), padding="valid", pool_sizes=[[2, 1], 2])
