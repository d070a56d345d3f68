"""Evaluation metrics beyond MONAI's."""

from .calibration import (
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    softmax_with_temperature,
)
from .clicks import (
    class_dice,
    click_changes,
    clicks_to_reach,
    foreground_dice,
    next_click,
    region_oracle,
    simulate_clicks,
)
from .touching_pairs import TouchingPairsSeparated, count_separated_pairs

__all__ = [
    "TouchingPairsSeparated",
    "calibration_summary",
    "class_dice",
    "click_changes",
    "expected_calibration_error",
    "fit_temperature",
    "negative_log_likelihood",
    "softmax_with_temperature",
    "clicks_to_reach",
    "count_separated_pairs",
    "foreground_dice",
    "next_click",
    "region_oracle",
    "simulate_clicks",
]
