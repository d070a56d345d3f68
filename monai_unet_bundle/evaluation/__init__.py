"""Evaluation metrics beyond MONAI's."""

from .touching_pairs import TouchingPairsSeparated, count_separated_pairs

__all__ = ["TouchingPairsSeparated", "count_separated_pairs"]
