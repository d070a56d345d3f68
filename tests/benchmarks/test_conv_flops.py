"""FLOPs counted from the convolutions: hand counts for plain, grouped, dilated and transposed convolutions."""

import pytest
import torch
from benchmarks.conv_flops import conv_flops
from monai_unet_bundle.networks import UNet
from torch import nn


def test_each_kind_of_convolution_counts_two_flops_per_multiply_add():
    net = nn.Sequential(
        nn.Conv3d(2, 4, 3, padding=1),  # 8^3 outputs, 2 x 4 x 27 multiply-adds each
        nn.Conv3d(4, 4, 3, padding=2, dilation=2, groups=2),  # dilation: same work; groups: C_in / 2 per output
        nn.Conv3d(4, 4, 2, stride=2),  # 4^3 outputs
        nn.ReLU(),
        nn.ConvTranspose3d(4, 2, 2, stride=2),  # every one of the 4^3 inputs meets 4 x 2 x 8 weights
    )
    expected = 2 * (2 * 4 * 27 * 8**3 + 2 * 4 * 27 * 8**3 + 4 * 4 * 8 * 4**3 + 4 * 2 * 8 * 4**3)
    x = torch.rand(3, 2, 8, 8, 8)
    assert conv_flops(net, x) == 3 * expected  # per batch item
    assert conv_flops(net, x) == 3 * expected  # the hooks were removed: no double count on a second call
    assert all(not m._forward_hooks for m in net.modules())


def test_the_default_unet_on_four_training_patches_is_84_gflop():
    net = UNet(3, 1, 4, features=(16, 32, 64, 128), padding="same", norm="batch")
    flops = conv_flops(net.eval(), torch.rand(1, 1, 48, 64, 64))
    assert 4 * flops / 1e9 == pytest.approx(84.4, abs=0.1)
    assert conv_flops(net.train(), torch.rand(2, 1, 48, 64, 64)) == 2 * flops  # mode and batch: linear
