"""Hausdorff distance in physical units (mm), from each prediction's own voxel spacing.

MONAI's ``HausdorffDistance`` handler calls its metric without ``spacing``, so the distance comes out in voxels of
whatever grid the metric sees. Validation here runs on the resampled training grid (``pixdim``), so voxels are
not millimetres. This handler reads the spacing of every case from the prediction's affine (a ``MetaTensor``,
as MONAI's inferers return) and passes it on; a plain tensor falls back to ``spacing`` (default 1 = voxels).
Example::

    validate#additional_metrics:
      val_hd95:
        _target_: monai_unet_bundle.handlers.PhysicalHausdorffDistance
        percentile: 95
        reduction: mean_batch
        output_transform: $monai.handlers.from_engine(['pred', 'label'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.data import MetaTensor
from monai.data.utils import affine_to_spacing
from monai.handlers import IgniteMetricHandler
from monai.metrics import HausdorffDistanceMetric
from monai.utils import MetricReduction

__all__ = ["PhysicalHausdorffDistance", "PhysicalHausdorffDistanceMetric"]


def _spacing_of(y_pred: torch.Tensor, default: float | Sequence[float] | None) -> Any:
    if not isinstance(y_pred, MetaTensor):
        return default
    spatial_dims = y_pred.ndim - 2
    affines = y_pred.affine if y_pred.affine.ndim == 3 else y_pred.affine[None].expand(y_pred.shape[0], -1, -1)
    return [affine_to_spacing(a, r=spatial_dims).tolist() for a in affines]


class PhysicalHausdorffDistanceMetric(HausdorffDistanceMetric):
    """``HausdorffDistanceMetric`` whose ``spacing`` defaults to the predictions' affine spacing.

    Inputs as the parent: one-hot ``y_pred`` and ``y`` of shape ``(B, C, *spatial)``; output ``(B, C')`` with
    ``C' = C - 1`` without the background. An explicit ``spacing=`` call argument wins.
    """

    def __init__(self, *args: Any, spacing: float | Sequence[float] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spacing = spacing

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor, **kwargs: Any) -> torch.Tensor:  # type: ignore[override]
        kwargs.setdefault("spacing", _spacing_of(y_pred, self.spacing))
        return super()._compute_tensor(y_pred, y, **kwargs)


class PhysicalHausdorffDistance(IgniteMetricHandler):
    """The ``HausdorffDistance`` handler, in the units of the images' affines (mm for NIfTI).

    Args:
        include_background, distance_metric, percentile, directed, reduction, output_transform, save_details:
            as ``monai.handlers.HausdorffDistance``.
        spacing: used only for predictions without an affine (plain tensors); ``None`` = 1 per voxel.
    """

    def __init__(
        self,
        include_background: bool = False,
        distance_metric: str = "euclidean",
        percentile: float | None = None,
        directed: bool = False,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
        spacing: float | Sequence[float] | None = None,
    ) -> None:
        metric_fn = PhysicalHausdorffDistanceMetric(
            include_background=include_background,
            distance_metric=distance_metric,
            percentile=percentile,
            directed=directed,
            reduction=reduction,
            spacing=spacing,
        )
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)
