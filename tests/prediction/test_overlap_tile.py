"""OverlapTileInferer: seamless tiling (equals one pass over the mirrored image), sizes, batching, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai_unet_bundle.networks import UNet
from monai_unet_bundle.prediction import OverlapTileInferer
from monai_unet_bundle.prediction.overlap_tile import mirror_pad


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # the 2 cores are shared; small convolutions gain nothing from more threads
    yield
    torch.set_num_threads(previous)


def _valid_net(spatial_dims: int, features=(4, 8, 16), out_channels: int = 3) -> UNet:
    torch.manual_seed(0)
    return UNet(spatial_dims, 1, out_channels, features=features, padding="valid", norm=None).eval()


def _tile(net: UNet, wanted: int) -> tuple[int, ...]:
    return net.valid_output_size(net.valid_input_size(wanted))


@pytest.mark.parametrize(
    "shape, pad",
    [((3,), [(4, 1)]), ((5, 4), [(2, 9), (3, 0)]), ((2, 3, 4), [(1, 1), (5, 5), (0, 7)]), ((1, 6), [(3, 2), (1, 1)])],
)
def test_mirror_pad_equals_numpy_reflect(shape, pad):
    x = torch.rand(2, 3, *shape)
    expected = np.pad(x.numpy(), [(0, 0), (0, 0), *pad], mode="reflect")
    np.testing.assert_array_equal(mirror_pad(x, pad).numpy(), expected)


def test_is_a_monai_inferer():
    assert isinstance(OverlapTileInferer(tile_size=4), Inferer)


@pytest.mark.parametrize("sw_batch_size", [1, 5])
def test_2d_tiling_equals_one_pass_over_the_mirrored_image(sw_batch_size):
    # depth 3: legal tile outputs are 4 mod 8, so tiles must overlap to keep the pooling grid
    net = _valid_net(2, features=(4, 8, 16, 32))
    with torch.no_grad():  # amplify the pooled (deep) paths, which a fresh network barely passes on
        for up in net.ups:
            up.up.weight.mul_(16)
    border = net.valid_border()
    h, w = _tile(net, 70)[0], _tile(net, 50)[0]  # an image whose mirrored version is itself a legal input
    x = torch.rand(2, 1, h, w)
    tile = _tile(net, 20)
    assert tile[0] % 8 == 4
    with torch.no_grad():
        tiled = OverlapTileInferer(tile_size=tile, sw_batch_size=sw_batch_size)(x, net)
        direct = net(mirror_pad(x, [(border, border), (border, border)]))
        unaligned = OverlapTileInferer(tile_size=tile, alignment=1)(x, net)
    assert tiled.shape == direct.shape == (2, 3, h, w)
    assert direct.std() > 1e-3  # a network with all ReLUs dead would make the comparison empty
    torch.testing.assert_close(tiled, direct, rtol=1e-5, atol=1e-5)
    # tiles placed off the pooling grid give a different (seamed) result: the alignment is what makes it exact
    assert (unaligned - direct).abs().max() > 1e-3


def test_3d_tiling_equals_one_pass_over_the_mirrored_image():
    net = _valid_net(3, features=(2, 4, 8), out_channels=2)
    border = net.valid_border()
    size = (_tile(net, 30)[0], _tile(net, 20)[0], _tile(net, 12)[0])
    x = torch.rand(1, 1, *size)
    with torch.no_grad():
        tiled = OverlapTileInferer(tile_size=_tile(net, 8), sw_batch_size=4)(x, net)
        direct = net(mirror_pad(x, [(border, border)] * 3))
    assert direct.std() > 1e-3
    torch.testing.assert_close(tiled, direct, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [(37, 23), (5, 90), (1, 2)])
def test_output_has_the_input_size(size):
    net = _valid_net(2)
    x = torch.rand(1, 1, *size)
    with torch.no_grad():
        out = OverlapTileInferer(tile_size=_tile(net, 16), sw_batch_size=3)(x, net)
    assert out.shape == (1, 3, *size)
    assert torch.isfinite(out).all()


def test_each_voxel_comes_from_exactly_the_one_pass_result_even_for_odd_sizes():
    # an odd-sized image has no legal one-pass equivalent; crop a legal-sized reference to compare
    net = _valid_net(2)
    border = net.valid_border()
    x = torch.rand(1, 1, 41, 29)
    legal = (_tile(net, 41)[0], _tile(net, 29)[0])
    with torch.no_grad():
        tiled = OverlapTileInferer(tile_size=_tile(net, 12))(x, net)
        padded = mirror_pad(x, [(border, border + legal[0] - 41), (border, border + legal[1] - 29)])
        direct = net(padded)[..., :41, :29]
    assert direct.std() > 1e-3
    torch.testing.assert_close(tiled, direct, rtol=1e-5, atol=1e-5)


def test_works_with_a_network_in_deep_supervision_training_mode():
    torch.manual_seed(0)
    net = UNet(2, 1, 2, features=(4, 8, 16), padding="valid", norm=None, deep_supervision=True)
    x = torch.rand(1, 1, 40, 40)
    inferer = OverlapTileInferer(tile_size=_tile(net, 16))
    with torch.no_grad():
        from_train = inferer(x, net.train())
        from_eval = inferer(x, net.eval())
    torch.testing.assert_close(from_train, from_eval)


def test_explicit_border_and_alignment_for_a_network_without_sizing_methods():
    net = _valid_net(2)
    scripted = torch.jit.script(net)  # a ScriptModule keeps no Python methods such as valid_border()
    x = torch.rand(1, 1, 48, 48)
    with torch.no_grad():
        expected = OverlapTileInferer(tile_size=_tile(net, 16))(x, net)
        got = OverlapTileInferer(tile_size=_tile(net, 16), border=net.valid_border(), alignment=4)(x, scripted)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_meta_tensor_in_meta_tensor_out_and_devices():
    net = _valid_net(2)
    affine = torch.diag(torch.tensor([2.0, 3.0, 1.0, 1.0]))
    x = MetaTensor(torch.rand(1, 1, 30, 26), affine=affine, meta={"filename_or_obj": "case.nii.gz"})
    with torch.no_grad():
        out = OverlapTileInferer(tile_size=_tile(net, 12), sw_device="cpu", device="cpu")(x, net)
        plain = OverlapTileInferer(tile_size=_tile(net, 12))(x.as_tensor(), net)
    assert isinstance(out, MetaTensor) and not isinstance(plain, MetaTensor)
    assert out.meta["filename_or_obj"] == "case.nii.gz" and torch.equal(out.affine, x.affine)
    torch.testing.assert_close(out.as_tensor(), plain)


def test_errors():
    net = _valid_net(2)
    x = torch.rand(1, 1, 64, 64)
    with pytest.raises(ValueError, match="not a legal network input"):
        OverlapTileInferer(tile_size=15)(x, net)
    with pytest.raises(ValueError, match="border"):
        OverlapTileInferer(tile_size=_tile(net, 16), border=3)(x, net)
    with pytest.raises(ValueError, match="border is needed"):
        OverlapTileInferer(tile_size=8)(x, torch.nn.Identity())
    with pytest.raises(ValueError, match="sw_batch_size"):
        OverlapTileInferer(tile_size=8, sw_batch_size=0)
    with pytest.raises(ValueError, match="one per spatial axis"):
        OverlapTileInferer(tile_size=(8, 8, 8))(x, net)
