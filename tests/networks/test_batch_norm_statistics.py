"""Frozen BatchNorm statistics for click fine-tuning: training computes what inference computes."""

from __future__ import annotations

import copy

import pytest
import torch
from monai_unet_bundle.networks import U2Net, UNet, freeze_batch_norm_statistics


def trained_statistics(network: torch.nn.Module, size: int = 16) -> torch.nn.Module:
    torch.manual_seed(0)
    with torch.no_grad():
        network.train()
        network(torch.randn(2, network_in(network), size, size, size) * 3 + 1)  # running statistics off their defaults
    return network


def network_in(network: torch.nn.Module) -> int:
    return next(m for m in network.modules() if isinstance(m, torch.nn.Conv3d)).in_channels


def buffers(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.clone() for name, value in network.named_buffers()}


def test_a_training_step_normalises_with_the_running_statistics_and_keeps_them():
    network = trained_statistics(UNet(3, 2, 3, features=(4, 8, 16, 32)))
    image = torch.randn(1, 2, 16, 16, 16)
    with torch.no_grad():
        expected = network.eval()(image)
    frozen = freeze_batch_norm_statistics(network)
    assert frozen is network
    before = buffers(network)
    network.train()  # what the trainer does every iteration
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    output = network(image)
    torch.testing.assert_close(output, expected)  # a one-patch batch: its own statistics would differ
    output.square().mean().backward()
    norm = next(m for m in network.modules() if isinstance(m, torch.nn.BatchNorm3d))
    assert norm.weight.grad is not None and norm.weight.grad.abs().sum() > 0, "the affine parameters still learn"
    optimizer.step()
    for name, value in buffers(network).items():
        torch.testing.assert_close(value, before[name], msg=f"{name} moved")
    # same keys: the trained weights load into a plain network for inference
    plain = UNet(3, 2, 3, features=(4, 8, 16, 32))
    plain.load_state_dict(network.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain.eval()(image), network.eval()(image))


def test_without_freezing_a_one_patch_batch_normalises_with_its_own_statistics():
    """The failure the helper exists for: in train mode a one-patch batch is not what inference computes."""
    network = trained_statistics(U2Net(3, 2, 3, variant="lite"), size=64)
    image = torch.randn(1, 2, 64, 64, 64)
    with torch.no_grad():
        expected = network.eval()(image)
        plain = freeze_batch_norm_statistics(copy.deepcopy(network), freeze=False).train()
        assert not torch.allclose(plain(image)[0], expected, atol=1e-3)  # train mode: [fused, *sides]
        torch.testing.assert_close(freeze_batch_norm_statistics(network).train()(image)[0], expected)


def test_auto_keeps_learnt_statistics_and_learns_fresh_ones():
    """auto decides per layer at its first training forward, after any checkpoint loaded at the trainer's start."""
    image = torch.randn(1, 2, 16, 16, 16)
    fresh = freeze_batch_norm_statistics(UNet(3, 2, 3, features=(4, 8, 16, 32)), "auto").train()
    learnt = trained_statistics(UNet(3, 2, 3, features=(4, 8, 16, 32)))
    loaded = freeze_batch_norm_statistics(UNet(3, 2, 3, features=(4, 8, 16, 32)), "auto")
    loaded.load_state_dict(learnt.state_dict())  # as MONAI Label's CheckpointLoader does when training starts
    with torch.no_grad():
        for _ in range(3):
            fresh(image)
            loaded.train()(image)
    norms = [m for m in fresh.modules() if isinstance(m, torch.nn.BatchNorm3d)]
    assert all(int(m.num_batches_tracked) == 3 for m in norms), "from scratch: learnt, and still learning"
    for name, value in loaded.named_buffers():
        torch.testing.assert_close(value, learnt.state_dict()[name], msg=f"{name} moved")


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="freeze_batch_norm must be true, false or 'auto'"):
        freeze_batch_norm_statistics(UNet(3, 1, 2, features=(4, 8, 16, 32)), "yes")
