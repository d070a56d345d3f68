"""Transforms for the U-Net paper's training recipe (array form + dictionary ``...d`` twin, 2D and 3D)."""

from .crop import RandCropByLabelClassesSafed, RandCropByPosNegLabelSafed
from .elastic import RandCoarseElastic, RandCoarseElasticd
from .percentile_scaling import ScaleIntensityRangePercentilesNonzero, ScaleIntensityRangePercentilesNonzerod
from .separate_touching import SeparateTouchingObjects, SeparateTouchingObjectsd
from .weight_map import UNetWeightMap, UNetWeightMapd

__all__ = [
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
