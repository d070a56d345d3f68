"""Engine helpers for MONAI's SupervisedTrainer / Evaluator."""

from .autocast import AutocastInferer, native_amp
from .channels_last import channels_last_wanted, to_channels_last
from .prepare_batch import PrepareBatchWeightInTarget

__all__ = ["AutocastInferer", "PrepareBatchWeightInTarget", "channels_last_wanted", "native_amp", "to_channels_last"]
