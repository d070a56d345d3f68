"""Engine helpers for MONAI's SupervisedTrainer / Evaluator."""

from .autocast import AutocastIteration, cpu_autocast, native_amp
from .prepare_batch import PrepareBatchWeightInTarget

__all__ = ["AutocastIteration", "PrepareBatchWeightInTarget", "cpu_autocast", "native_amp"]
