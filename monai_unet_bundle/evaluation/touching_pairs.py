"""How many touching object pairs a semantic prediction separates (the U-Net paper's motivation for eq. 2).

Two ground-truth objects touch when they share a pixel face (see ``monai_unet_bundle.data.nuclei2d.touching_pairs``).
A pair counts as separated when both objects are detected and fall into different connected components of the
predicted foreground: each object is assigned the predicted component that covers most of its pixels, and the two
assigned components must differ. Components use full connectivity (8 in 2D, 26 in 3D), the strict choice: a one-pixel
diagonal bridge keeps two nuclei merged.
"""

from __future__ import annotations

import numpy as np
import torch
from monai.metrics import CumulativeIterationMetric
from monai.utils import convert_to_numpy
from scipy import ndimage

from ..data.nuclei2d import touching_pairs

__all__ = ["TouchingPairsSeparated", "count_separated_pairs"]


def count_separated_pairs(prediction: np.ndarray, instances: np.ndarray) -> tuple[int, int]:
    """``(separated, total)`` touching pairs of ``instances`` that the binary ``prediction`` separates.

    Args:
        prediction: spatial foreground mask (bool or 0/1), 2D or 3D.
        instances: spatial instance ids of the same shape (0 = background).
    """
    prediction = np.asarray(prediction) > 0.5
    instances = np.rint(np.asarray(instances)).astype(np.int64)
    if prediction.shape != instances.shape:
        raise ValueError(f"prediction {prediction.shape} and instances {instances.shape} differ in shape.")
    pairs = touching_pairs(instances)
    if not pairs:
        return 0, 0
    components, n_components = ndimage.label(prediction, structure=np.ones((3,) * prediction.ndim))
    # overlap counts (object id, component id); column 0 (background) is ignored for the assignment
    overlap = np.zeros((instances.max() + 1, n_components + 1), np.int64)
    np.add.at(overlap, (instances.ravel(), components.ravel()), 1)
    overlap[:, 0] = 0
    assigned = np.where(overlap.max(axis=1) > 0, overlap.argmax(axis=1), 0)
    separated = sum(1 for a, b in pairs if assigned[a] and assigned[b] and assigned[a] != assigned[b])
    return separated, len(pairs)


class TouchingPairsSeparated(CumulativeIterationMetric):
    """MONAI metric: touching ground-truth pairs separated by the prediction, summed over all images.

    Call (per iteration): ``y_pred`` ``(B, C, *spatial)`` one-hot / probabilities (foreground = channels >= 1
    summed, or the single channel) and ``y`` ``(B, 1, *spatial)`` instance ids. ``aggregate()`` returns the number
    of separated pairs, or their fraction with ``fraction=True``; ``total_pairs`` holds the denominator.

    Example (bundle config, evaluator metric)::

        val_pairs_separated:
          _target_: IgniteMetricHandler
          metric_fn: {_target_: monai_unet_bundle.evaluation.TouchingPairsSeparated}
          output_transform: $monai.handlers.from_engine(['pred', 'gt_instance'])
    """

    def __init__(self, fraction: bool = False) -> None:
        super().__init__()
        self.fraction = fraction
        self.total_pairs = 0

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if y is None:
            raise ValueError("TouchingPairsSeparated needs the instance map as y.")
        pred = convert_to_numpy(y_pred)
        foreground = pred[:, 0] if pred.shape[1] == 1 else pred[:, 1:].sum(axis=1)
        inst = convert_to_numpy(y)[:, 0]
        counts = [count_separated_pairs(f, i) for f, i in zip(foreground, inst)]
        return torch.tensor(counts, dtype=torch.float32).reshape(-1, 2)

    def aggregate(self) -> torch.Tensor:
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor) or data.numel() == 0:
            return torch.tensor(0.0)
        separated, total = data.reshape(-1, 2).sum(dim=0)
        self.total_pairs = int(total)
        if self.fraction:
            return separated / total if total > 0 else torch.tensor(float("nan"))
        return separated
