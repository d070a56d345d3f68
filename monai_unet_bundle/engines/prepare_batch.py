"""A ``prepare_batch`` for MONAI engines that hands a per-pixel weight map to the loss with the label."""

from __future__ import annotations

from typing import Any

import torch
from monai.engines import PrepareBatch, default_prepare_batch

__all__ = ["PrepareBatchWeightInTarget"]


class PrepareBatchWeightInTarget(PrepareBatch):
    """Return ``(image, cat([label, weight], dim=1))`` so that ``loss_function(pred, target)`` sees the weight.

    ``SupervisedTrainer`` calls ``loss_function(pred, targets)`` with exactly the second item of what
    ``prepare_batch`` returns, so the weight map travels as the last channel of the target; pair it with
    ``DistanceWeightedLoss(weight_in_target=True)`` (alone or inside MONAI's ``DeepSupervisionLoss``, which resizes
    the combined target with nearest-neighbour interpolation). The label keeps its own channels (1 for class
    indices, C for one-hot).

    Args:
        weight_key: batch key of the ``(B, 1, *spatial)`` weight map (e.g. written by ``UNetWeightMapd``).

    Returns (call):
        image ``(B, C_in, *spatial)`` and target ``(B, C_label + 1, *spatial)``, both on ``device``.

    Example (bundle config)::

        train#trainer#prepare_batch: {_target_: monai_unet_bundle.engines.PrepareBatchWeightInTarget,
                                      weight_key: weight}
    """

    def __init__(self, weight_key: str = "weight") -> None:
        self.weight_key = weight_key

    def __call__(
        self,
        batchdata: dict[str, torch.Tensor],
        device: str | torch.device | None = None,
        non_blocking: bool = False,
        **kwargs: Any,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batchdata, dict) or self.weight_key not in batchdata:
            keys = list(batchdata) if isinstance(batchdata, dict) else type(batchdata).__name__
            raise KeyError(f"PrepareBatchWeightInTarget needs weight key {self.weight_key!r}; the batch has {keys}.")
        image, label = default_prepare_batch(batchdata, device, non_blocking, **kwargs)
        if label is None:
            raise KeyError("PrepareBatchWeightInTarget needs a 'label' in the batch.")
        weight = batchdata[self.weight_key].to(device=device, non_blocking=non_blocking, **kwargs)
        if weight.shape[0] != label.shape[0] or weight.shape[1] != 1 or weight.shape[2:] != label.shape[2:]:
            raise ValueError(
                f"weight {tuple(weight.shape)} must be (B, 1, *spatial) matching label {tuple(label.shape)}."
            )
        return image, torch.cat([label.to(weight.dtype), weight], dim=1)
