"""Channels-last training changes the layout, not the numbers: fp32 steps equal the default layout's."""

from __future__ import annotations

import pytest
import torch
from monai.losses import DeepSupervisionLoss, DiceCELoss
from monai_unet_bundle.cpu_capability import cpu_has_fast_bf16
from monai_unet_bundle.engines import AutocastInferer, channels_last_wanted, to_channels_last
from monai_unet_bundle.networks import U2Net, UNet

# name -> (factory, batch shape, classes, relative tolerance of a training step). U2-Net's looser one has a measured
# cause: PyTorch's CPU BatchNorm in training mode is ~13x less exact in fp32 on channels-last input when a channel's
# mean is far above its spread (2.3e-3 vs 1.7e-4 from a float64 forward here), still well below bf16's rounding,
# which is why `channels_last: auto` turns it on only with bf16 autocast. Gradients are compared for the UNet only:
# an untrained U2-Net-lite's fp32 gradients are ill-conditioned in either layout (the default layout's own are 2-4%
# of the largest gradient away from a float64 step at 64^2 and 128^2).
NETWORKS = {
    "unet3d": (lambda: UNet(3, 1, 3, features=(4, 8, 16), padding="same", norm="batch"), (2, 1, 16, 16, 16), 3, 1e-5),
    "u2net_lite2d": (lambda: U2Net(2, 1, 2, variant="lite"), (2, 1, 64, 64), 2, 5e-3),
}
GRADIENTS_COMPARED = ("unet3d",)


def _batch(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    _, shape, classes, _ = NETWORKS[name]
    g = torch.Generator().manual_seed(1)
    return torch.rand(*shape, generator=g), torch.randint(0, classes, (shape[0], 1, *shape[2:]), generator=g)


def _network(name: str, channels_last: bool) -> torch.nn.Module:
    factory, shape, _, _ = NETWORKS[name]
    torch.manual_seed(0)
    return to_channels_last(factory(), len(shape) - 2, channels_last)


def _step(name: str, channels_last: bool) -> tuple[torch.Tensor, float, dict[str, torch.Tensor]]:
    """One training step's fused output, loss and gradients, as configs/train.yaml computes them (fp32)."""
    network, (image, label) = _network(name, channels_last).train(), _batch(name)
    forward = AutocastInferer("cpu", amp=False, channels_last=channels_last)
    outputs = forward(image, network)
    loss = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True), weight_mode="same")(outputs, label)
    loss.backward()
    fused = outputs[0] if isinstance(outputs, list) else outputs
    return fused.detach(), loss.item(), {k: p.grad for k, p in network.named_parameters()}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_fp32_forward_outputs_equal_the_default_layout_to_1e5(name):
    image, _ = _batch(name)
    network, layouts = _network(name, True).eval(), []
    first_conv = next(m for m in network.modules() if isinstance(m, torch.nn.modules.conv._ConvNd))
    first_conv.register_forward_hook(lambda module, args, output: layouts.append(output.is_contiguous()))
    with torch.no_grad():
        plain = _network(name, False).eval()(image)
        ours = AutocastInferer("cpu", amp=False, channels_last=True)(image, network)
    assert layouts == [False]  # the convolutions ran in channels-last layout
    assert (ours - plain).abs().max() <= 1e-5 * plain.abs().max()


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_fp32_training_step_equals_the_default_layout(name):
    tolerance = NETWORKS[name][3]
    plain_out, plain_loss, plain_grads = _step(name, channels_last=False)
    ours_out, ours_loss, ours_grads = _step(name, channels_last=True)
    assert ours_loss == pytest.approx(plain_loss, rel=tolerance)
    assert (ours_out - plain_out).abs().max() <= tolerance * plain_out.abs().max()
    if name not in GRADIENTS_COMPARED:
        return
    scale = max(g.abs().max() for g in plain_grads.values())  # bias gradients before BatchNorm are ~0: no per-tensor
    for key, grad in plain_grads.items():
        assert (ours_grads[key] - grad).abs().max() <= tolerance * scale, key


def test_auto_follows_cpu_bf16_autocast_and_true_false_force_it():
    assert channels_last_wanted("auto", "cpu", amp=True) == cpu_has_fast_bf16()
    assert channels_last_wanted("auto", "cpu", amp=False) is False
    assert channels_last_wanted("auto", "cuda", amp=True) is False  # not measured on GPUs: the default layout
    assert channels_last_wanted(True, "cpu", amp=False) is True and channels_last_wanted(False, "cpu", True) is False
    assert (
        channels_last_wanted("true", "cpu", amp=False) is True and channels_last_wanted("False", "cpu", True) is False
    )
    with pytest.raises(ValueError, match="channels_last must be true, false or 'auto'"):
        channels_last_wanted("yes", "cpu", True)


def test_one_dimensional_networks_and_disabled_conversion_are_left_alone():
    conv = torch.nn.Conv1d(2, 3, 3)
    assert to_channels_last(conv, 1) is conv and conv.weight.is_contiguous()
    conv3d = torch.nn.Conv3d(2, 3, 3)
    weight = conv3d.weight
    assert to_channels_last(conv3d, 3, enabled=False).weight.is_contiguous()
    to_channels_last(conv3d, 3)
    assert conv3d.weight is weight  # the same Parameter: an optimizer built earlier still holds it
    assert conv3d.weight.is_contiguous(memory_format=torch.channels_last_3d)
