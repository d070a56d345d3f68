"""Start a click-guided network from an automatic one (configs/deepedit/train.yaml ``pretrained_automatic``).

The click network is the automatic network with more input channels: the image channels, then one guidance channel
per label. Every weight is copied from the automatic network's ``model.pt``; in the convolution(s) that read the
input, the image channels' kernels are copied and the guidance channels' kernels start at zero. With zero guidance
the click network then computes exactly what the automatic one does, and training only has to teach it to follow
clicks, instead of segmenting from scratch on a click-training budget.

Example (configs/deepedit/train.yaml: the trainer's network, so it works inside DistributedDataParallel too)::

    train#trainer#network: "$monai_unet_bundle.checkpoints.warm_start_from_automatic(@network, @pretrained_automatic, @in_channels)"
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from monai_unet_bundle.checks.checkpoint import CheckpointFileError, load_weights_only
from torch import nn

from .training_state import unwrap_network

__all__ = ["WarmStartError", "warm_start_from_automatic"]


class WarmStartError(CheckpointFileError):
    """An automatic checkpoint that does not fit the click network beyond the input convolution's channels."""


def _state_dict(loaded: object, path: str | os.PathLike) -> Mapping[str, torch.Tensor]:
    # models/model.pt is a flat state_dict; models/checkpoint_epoch_NNNN.pt holds it under "network"
    if isinstance(loaded, Mapping) and isinstance(loaded.get("network"), Mapping):
        loaded = loaded["network"]
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WarmStartError(f"pretrained_automatic '{path}' is not a network state_dict (a flat dict of tensors).")
    return loaded


def warm_start_from_automatic(network: nn.Module, path: str | os.PathLike | None, image_channels: int = 1) -> nn.Module:
    """Load the automatic network's weights from ``path`` into the click ``network`` (in place; returned as given,
    a ``DistributedDataParallel`` / ``DataParallel`` wrapper included: its module is loaded).

    ``network``'s input convolution(s) have ``image_channels + G`` input channels (``G`` guidance channels), the
    automatic one's ``image_channels``: their weights ``(out, image_channels + G, *kernel)`` get the automatic
    ``(out, image_channels, *kernel)`` in ``[:, :image_channels]`` and zeros in ``[:, image_channels:]``. Every other
    tensor must match in name and shape. ``path`` None or empty: ``network`` unchanged (random initialisation).

    Raises:
        CheckpointFileError: the file is missing or unreadable (``torch.load(weights_only=True)``).
        WarmStartError: a missing or extra tensor, or a shape that differs other than in the input channels.
    """
    if path is None or str(path) == "":
        return network
    automatic = _state_dict(load_weights_only(path), path)
    module = unwrap_network(network)
    target = module.state_dict()
    missing = sorted(set(target) - set(automatic))
    extra = sorted(set(automatic) - set(target))
    if missing or extra:
        raise WarmStartError(
            f"pretrained_automatic '{path}' does not hold the click network's tensors (same network_def, only "
            f"in_channels larger?): missing {missing[:5]}{' ...' if len(missing) > 5 else ''}, "
            f"unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}."
        )
    merged, widened = {}, []
    for name, wanted in target.items():
        given = automatic[name]
        if given.shape == wanted.shape:
            merged[name] = given.to(wanted.dtype)
            continue
        same_elsewhere = given.ndim == wanted.ndim >= 3 and given.shape[0] == wanted.shape[0]
        same_elsewhere = same_elsewhere and given.shape[2:] == wanted.shape[2:]
        if not (same_elsewhere and given.shape[1] == image_channels < wanted.shape[1]):
            raise WarmStartError(
                f"pretrained_automatic '{path}': {name} has shape {tuple(given.shape)}, the click network needs "
                f"{tuple(wanted.shape)}; only an input convolution may differ, in its input channels "
                f"({image_channels} image channels -> image + guidance). Same features / network as the automatic run?"
            )
        weight = torch.zeros_like(wanted)
        weight[:, :image_channels] = given.to(wanted.dtype)
        merged[name] = weight
        widened.append(name)
    if not widened:
        raise WarmStartError(
            f"pretrained_automatic '{path}': no input convolution with {image_channels} input channel(s) to widen; "
            "the file holds a network with the click network's own input channels (a click model, not an automatic "
            "one?)."
        )
    module.load_state_dict(merged)
    return network
