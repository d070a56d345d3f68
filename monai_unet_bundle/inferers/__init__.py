"""Inferers that MONAI lacks."""

from monai_unet_bundle.inferers.batchnorm_folding import fold_batchnorm
from monai_unet_bundle.inferers.overlap_tile import OverlapTileInferer
from monai_unet_bundle.inferers.segmentation import SegmentationInferer
from monai_unet_bundle.inferers.window_predictor import WindowPredictor, autocast_dtype, flip_combinations

__all__ = [
    "OverlapTileInferer",
    "SegmentationInferer",
    "WindowPredictor",
    "autocast_dtype",
    "flip_combinations",
    "fold_batchnorm",
]
