"""Engine helpers for MONAI's SupervisedTrainer / Evaluator."""

from .autocast import AutocastInferer, native_amp
from .prepare_batch import PrepareBatchWeightInTarget

__all__ = ["AutocastInferer", "PrepareBatchWeightInTarget", "native_amp"]
