"""Transforms for the U-Net paper's training recipe (array form + dictionary ``...d`` twin, 2D and 3D)."""

from .clicks import CheckClicksd, ClickError, GuidanceToGridd
from .crop import RandCropByLabelClassesSafed, RandCropByPosNegLabelSafed
from .elastic import RandCoarseElastic, RandCoarseElasticd
from .guidance import GuidanceToJsond, LabelNamesd, RestoreMetad, SeedSlicesd, deepedit_label_names
from .percentile_scaling import ScaleIntensityRangePercentilesNonzero, ScaleIntensityRangePercentilesNonzerod
from .separate_touching import SeparateTouchingObjects, SeparateTouchingObjectsd
from .weight_map import UNetWeightMap, UNetWeightMapd

__all__ = [
    "CheckClicksd",
    "ClickError",
    "GuidanceToGridd",
    "GuidanceToJsond",
    "RestoreMetad",
    "LabelNamesd",
    "SeedSlicesd",
    "deepedit_label_names",
    "RandCoarseElastic",
    "RandCoarseElasticd",
    "RandCropByLabelClassesSafed",
    "RandCropByPosNegLabelSafed",
    "ScaleIntensityRangePercentilesNonzero",
    "ScaleIntensityRangePercentilesNonzerod",
    "SeparateTouchingObjects",
    "SeparateTouchingObjectsd",
    "UNetWeightMap",
    "UNetWeightMapd",
]
