"""Fine-tuning with frozen BatchNorm statistics (configs/deepedit/train.yaml ``freeze_batch_norm``).

Click training runs one patch per iteration (MONAI's ``Interaction`` zeroes the guidance of the first batch item only).
A batch of one patch gives BatchNorm the mean and variance of that patch alone: the running variance it accumulates
misses the spread between patches, so the network in eval mode (running statistics) computes something other than
what it trained. On brain3d a warm-started click network fell from Dice 0.815 to 0.693 without clicks that way, while
in train mode it scored 0.93 on the same patches. Frozen statistics keep the running mean and variance the network
came with (the automatic network's, gathered over batches of 4 patches) and normalise with them in training too, so
training and inference compute the same function; the affine weight and bias still learn.
"""

from __future__ import annotations

from monai_unet_bundle.checkpoints.training_state import unwrap_network
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ["freeze_batch_norm_statistics"]

_MODES = (True, False, "auto")


class _FrozenStatistics:
    """Forward pre-hook: normalise with the running statistics even in train mode (the trainer calls
    ``network.train()`` every iteration). ``auto`` decides at the layer's first training forward."""

    def __init__(self, mode: bool | str) -> None:
        self.frozen = None if mode == "auto" else bool(mode)

    def __call__(self, module: _BatchNorm, args: tuple) -> None:
        if self.frozen is None and module.training:
            # statistics that were learnt before this run (a warm start, or MONAI Label's CheckpointLoader of the
            # served model at the trainer's start) are kept; fresh ones (training from scratch) are learnt
            tracked = module.num_batches_tracked
            self.frozen = tracked is not None and int(tracked) > 0
        if self.frozen:
            module.training = False


def freeze_batch_norm_statistics(network: nn.Module, freeze: bool | str = True) -> nn.Module:
    """Make every BatchNorm layer of ``network`` normalise with its running statistics, in training too, and never
    update them (in place; returned as given, a ``DistributedDataParallel`` wrapper included).

    ``freeze``: True, False (``network`` unchanged), or ``"auto"``: freeze each layer whose statistics were already
    learnt (``num_batches_tracked > 0``) at its first training forward, i.e. after any checkpoint loaded when the
    trainer starts (so a run resumed with ``--resume true`` keeps the statistics it had reached). Shapes are
    unchanged (``(B, C, *spatial)`` in and out); the state_dict keeps its keys, so the trained weights load into the
    plain network for inference.

    Example (configs/deepedit/train.yaml)::

        train#trainer#network: "$monai_unet_bundle.networks.freeze_batch_norm_statistics(@network, @freeze_batch_norm)"
    """
    if freeze not in _MODES:
        raise ValueError(f"freeze_batch_norm must be true, false or 'auto', got {freeze!r}.")
    if freeze is False:
        return network
    for module in unwrap_network(network).modules():
        if isinstance(module, _BatchNorm):
            module.register_forward_pre_hook(_FrozenStatistics(freeze))
    return network
