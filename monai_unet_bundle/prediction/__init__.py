"""Prediction on image files, the one path of validation, evaluation and inference.

The inferer (:mod:`.inferer`: sliding window, or overlap-tile for a valid U-Net, with :mod:`.window_predictor`,
:mod:`.overlap_tile`, :mod:`.batchnorm_folding`), the inversion to each input's geometry (:mod:`.invert`), the
output contract and its writers (:mod:`.output`), the batch runner (:mod:`.batch`), the SimpleITK reader
(:mod:`.sitk_reader`) and the ``predict`` command (:mod:`.predict`). ``configs/train.yaml`` (validation),
``configs/evaluate.yaml`` and ``configs/inference.yaml`` wire the same parts.
"""

from monai_unet_bundle.prediction.batch import BatchReport, PredictionDataset, process_shard
from monai_unet_bundle.prediction.batchnorm_folding import fold_batchnorm
from monai_unet_bundle.prediction.inferer import SegmentationInferer
from monai_unet_bundle.prediction.invert import InputLabeld, InvertToInputd
from monai_unet_bundle.prediction.output import (
    NiftiWriter,
    PredictionOutput,
    SavePredictiond,
    SegmentationWriter,
    source_path,
)
from monai_unet_bundle.prediction.overlap_tile import OverlapTileInferer
from monai_unet_bundle.prediction.sitk_reader import SimpleITKReader
from monai_unet_bundle.prediction.window_predictor import WindowPredictor, autocast_dtype, flip_combinations

__all__ = [
    "BatchReport",
    "InputLabeld",
    "InvertToInputd",
    "NiftiWriter",
    "OverlapTileInferer",
    "PredictionDataset",
    "PredictionOutput",
    "SavePredictiond",
    "SegmentationInferer",
    "SegmentationWriter",
    "SimpleITKReader",
    "WindowPredictor",
    "autocast_dtype",
    "flip_combinations",
    "fold_batchnorm",
    "process_shard",
    "source_path",
]
