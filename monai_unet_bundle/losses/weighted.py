"""Pixel-wise weighted cross-entropy (U-Net paper, eq. 1), optionally plus Dice.

How the weight map reaches the loss in MONAI engines: ``SupervisedTrainer`` calls ``loss_function(pred, targets)``
with the targets returned by its ``prepare_batch``, and ``DeepSupervisionLoss`` calls ``loss(input, target)``; neither
has a slot for a third tensor. :class:`monai_unet_bundle.engines.PrepareBatchWeightInTarget` therefore appends the
weight map to the label as one extra, last channel, and ``DistanceWeightedLoss(weight_in_target=True)`` splits it
off again. ``DeepSupervisionLoss`` resizes that combined target with nearest-neighbour interpolation, so the weight
map follows the label to every output resolution, and U2-Net's seven outputs need no special wrapper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss
from torch.nn.modules.loss import _Loss

__all__ = ["DistanceWeightedLoss"]


class DistanceWeightedLoss(_Loss):
    """``lambda_ce * weighted CE + lambda_dice * Dice``; the CE of every pixel is multiplied by its weight.

    Args:
        softmax: multi-class: softmax over the channels and categorical CE (needs C >= 2).
        sigmoid: binary / multi-label: sigmoid per channel and binary CE (the weight applies to every channel).
        lambda_ce: factor of the weighted CE term.
        lambda_dice: factor of an (unweighted) MONAI ``DiceLoss`` term; 0 leaves it out.
        reduction: "mean" (mean of weight * CE over all pixels, so all-ones weights give plain CE), "sum" or
            "none" (per-pixel weighted CE ``(B, 1, *spatial)`` for softmax, ``(B, C, *spatial)`` for sigmoid; only
            with ``lambda_dice=0``).
        weight_in_target: the target carries the weight map as its last channel (see the module docstring).

    Call:
        input: logits ``(B, C, *spatial)``.
        target: class indices ``(B, 1, *spatial)`` or one-hot / binary ``(B, C, *spatial)``; with
            ``weight_in_target`` one more channel holding the weight.
        weight: ``(B, 1, *spatial)`` pixel weights (or None: all ones); not allowed with ``weight_in_target``.

    Example::

        >>> loss = DistanceWeightedLoss(softmax=True)
        >>> loss(torch.randn(2, 2, 32, 32), torch.randint(0, 2, (2, 1, 32, 32)), torch.ones(2, 1, 32, 32))
    """

    def __init__(
        self,
        softmax: bool = True,
        sigmoid: bool = False,
        lambda_ce: float = 1.0,
        lambda_dice: float = 0.0,
        reduction: str = "mean",
        weight_in_target: bool = False,
    ) -> None:
        super().__init__()
        if softmax == sigmoid:
            raise ValueError("DistanceWeightedLoss needs exactly one of softmax=True or sigmoid=True.")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}.")
        if lambda_ce < 0 or lambda_dice < 0:
            raise ValueError(f"lambda_ce and lambda_dice must be >= 0, got {lambda_ce}, {lambda_dice}.")
        if reduction == "none" and lambda_dice > 0:
            raise ValueError("reduction='none' gives per-pixel CE and cannot include the Dice term.")
        self.softmax = softmax
        self.sigmoid = sigmoid
        self.lambda_ce = float(lambda_ce)
        self.lambda_dice = float(lambda_dice)
        self.reduction = reduction
        self.weight_in_target = weight_in_target
        self.dice = DiceLoss(softmax=softmax, sigmoid=sigmoid, reduction="mean") if lambda_dice > 0 else None

    def _one_hot(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        n_classes = input.shape[1]
        if target.shape[1] == n_classes:
            return target.to(input.dtype)
        if target.shape[1] != 1:
            raise ValueError(
                f"target must have 1 channel (class indices) or {n_classes} (one-hot), got shape {tuple(target.shape)}."
            )
        indices = target[:, 0].round().long()
        if indices.min() < 0 or indices.max() >= max(n_classes, 2):
            raise ValueError(f"class indices must lie in [0, {max(n_classes, 2) - 1}], got {indices.unique()}.")
        if n_classes == 1:  # binary sigmoid with a 0/1 target
            return indices[:, None].to(input.dtype)
        return F.one_hot(indices, n_classes).movedim(-1, 1).to(input.dtype)

    def forward(self, input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        if self.weight_in_target:
            if weight is not None:
                raise ValueError("weight_in_target=True takes the weight from the target; do not pass weight too.")
            target, weight = target[:, :-1], target[:, -1:]
        if input.shape[0] != target.shape[0] or input.shape[2:] != target.shape[2:]:
            raise ValueError(f"input {tuple(input.shape)} and target {tuple(target.shape)} do not match.")
        if self.softmax and input.shape[1] < 2:
            raise ValueError(f"softmax needs at least 2 channels, got input of shape {tuple(input.shape)}.")
        input = torch.as_tensor(input)
        if input.dtype in (torch.float16, torch.bfloat16):  # log-probabilities need float32 under autocast
            input = input.float()
        target = torch.as_tensor(target)
        one_hot = self._one_hot(input, target)
        if self.softmax:
            ce = -(one_hot * F.log_softmax(input, dim=1)).sum(dim=1, keepdim=True)
        else:
            ce = F.binary_cross_entropy_with_logits(input, one_hot, reduction="none")
        if weight is not None:
            weight = torch.as_tensor(weight).to(ce.dtype)
            if weight.shape[0] != ce.shape[0] or weight.shape[1] != 1 or weight.shape[2:] != ce.shape[2:]:
                raise ValueError(
                    f"weight must have shape (B, 1, *spatial) = {(ce.shape[0], 1, *ce.shape[2:])}, "
                    f"got {tuple(weight.shape)}."
                )
            ce = ce * weight
        if self.reduction == "none":
            return self.lambda_ce * ce
        loss = self.lambda_ce * (ce.mean() if self.reduction == "mean" else ce.sum())
        if self.dice is not None:
            loss = loss + self.lambda_dice * self.dice(input, one_hot)
        return loss
