"""Losses."""

from .weighted import DistanceWeightedLoss

__all__ = ["DistanceWeightedLoss"]
