"""Plan a training run from the data: a dataset fingerprint sets spacing, patch, network, scaling and schedule."""

from .fingerprint import DatasetFingerprint, PlanningError, fingerprint_dataset, read_header
from .plan import NETWORKS, Plan, make_plan, pool_plan

__all__ = [
    "NETWORKS",
    "DatasetFingerprint",
    "Plan",
    "PlanningError",
    "fingerprint_dataset",
    "make_plan",
    "pool_plan",
    "read_header",
]
