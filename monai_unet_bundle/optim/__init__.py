"""Optimisation schedules for the bundle configs."""

from .lr_scheduler import LR_SCHEDULES, lr_scheduler

__all__ = ["LR_SCHEDULES", "lr_scheduler"]
