"""Evaluation metrics beyond MONAI's."""

from .clicks import class_dice, clicks_to_reach, foreground_dice, next_click, simulate_clicks
from .touching_pairs import TouchingPairsSeparated, count_separated_pairs

__all__ = [
    "TouchingPairsSeparated",
    "class_dice",
    "clicks_to_reach",
    "count_separated_pairs",
    "foreground_dice",
    "next_click",
    "simulate_clicks",
]
