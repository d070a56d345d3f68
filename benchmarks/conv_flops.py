"""FLOPs of one forward pass, counted from the convolutions it really runs (forward hooks), for achieved GFLOP/s.

Convention (one multiply-add = 2 FLOPs; nothing but convolutions counted: BatchNorm, activations, pooling,
interpolation and the loss are a few percent of a U-Net's arithmetic and are left out, so achieved figures are
slight underestimates):

- ``nn.ConvNd``: ``2 * C_in / groups * C_out * prod(kernel) * output voxels * batch``;
- ``nn.ConvTransposeNd``: ``2 * C_in * C_out / groups * prod(kernel) * input voxels * batch`` (every input voxel
  meets the whole kernel; with stride = kernel, as a U-Net's up-convolution, that equals one output voxel each);
- dilation does not change the count; a training step (forward + backward: the gradients of the inputs and of the
  weights, each as much arithmetic as the forward) counts ``3 x`` the forward.

Example::

    >>> conv_flops(UNet(3, 1, 4, features=(16, 32, 64, 128)), torch.rand(4, 1, 48, 64, 64))   # ~8.4e10
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["TRAINING_STEP_FACTOR", "conv_flops", "layer_flops"]

#: a training step's FLOPs as a multiple of the forward's: forward, grad of inputs, grad of weights
TRAINING_STEP_FACTOR = 3


def layer_flops(module: nn.Module, inputs: torch.Tensor, output: torch.Tensor) -> int:
    """FLOPs of one call of a convolution or transposed convolution (0 for any other module)."""
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        per_voxel = module.in_channels * module.out_channels // module.groups * math.prod(module.kernel_size)
        return 2 * per_voxel * inputs.shape[0] * math.prod(inputs.shape[2:])
    if isinstance(module, nn.modules.conv._ConvNd):
        per_voxel = module.in_channels // module.groups * module.out_channels * math.prod(module.kernel_size)
        return 2 * per_voxel * output.shape[0] * math.prod(output.shape[2:])
    return 0


def conv_flops(network: nn.Module, inputs: torch.Tensor) -> int:
    """FLOPs of ``network(inputs)`` (``inputs`` ``(B, C_in, *spatial)``) in its current train / eval mode."""
    total = [0]

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        total[0] += layer_flops(module, args[0], output)

    handles = [m.register_forward_hook(hook) for m in network.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    try:
        with torch.no_grad():
            network(inputs)
    finally:
        for handle in handles:
            handle.remove()
    return total[0]
