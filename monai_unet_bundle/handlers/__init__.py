"""Ignite / MONAI event handlers of the bundle configs: checkpointing, resumption, metric naming and logging."""

from .best_model_saver import BestModelSaver, FinalModelFallback
from .class_names import foreground_class_names
from .early_stopping import ResumableEarlyStopHandler
from .full_state_saver import FullStateSaver
from .hausdorff_distance import PhysicalHausdorffDistance, PhysicalHausdorffDistanceMetric
from .learning_rate import LearningRateRecorder
from .metrics_report import ClassNamedMetricsSaver
from .non_finite_loss import NonFiniteLossHandler as NonFiniteLossHandler
from .per_class_metrics import PerClassMetrics
from .resume import ResumeFromCheckpoint
from .temperature_fit import TemperatureFitter
from .time_budget import TrainingTimeBudget
from .validate_at_end import ValidateAtEnd

__all__ = [
    "BestModelSaver",
    "FinalModelFallback",
    "ClassNamedMetricsSaver",
    "FullStateSaver",
    "LearningRateRecorder",
    "PerClassMetrics",
    "PhysicalHausdorffDistance",
    "PhysicalHausdorffDistanceMetric",
    "ResumableEarlyStopHandler",
    "ResumeFromCheckpoint",
    "TemperatureFitter",
    "TrainingTimeBudget",
    "ValidateAtEnd",
    "foreground_class_names",
]
