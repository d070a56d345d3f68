"""Prediction on image files: the one path of validation (train.yaml), evaluate.yaml and inference.yaml.

The inferer (:mod:`.inferer` with :mod:`.window_predictor`, :mod:`.overlap_tile`, :mod:`.batchnorm_folding`), the
inversion to each input's geometry (:mod:`.invert`), the output contract and its writers (:mod:`.output`), the
batch runner (:mod:`.batch`), the QC report (:mod:`.quality`) and preview (:mod:`.preview`), the fitted softmax
temperature (:mod:`.temperature`), a SimpleITK reader (:mod:`.sitk_reader`) and the ``predict`` command
(:mod:`.predict`).
"""

from monai_unet_bundle.prediction.batch import BatchReport, PredictionDataset, process_shard
from monai_unet_bundle.prediction.batchnorm_folding import fold_batchnorm
from monai_unet_bundle.prediction.inferer import SegmentationInferer
from monai_unet_bundle.prediction.invert import InputLabeld, InvertToInputd
from monai_unet_bundle.prediction.output import (
    MultiWriter,
    NiftiWriter,
    PredictionOutput,
    SavePredictiond,
    SegmentationWriter,
)
from monai_unet_bundle.prediction.overlap_tile import OverlapTileInferer
from monai_unet_bundle.prediction.preview import SavePreviewd, preview_picture
from monai_unet_bundle.prediction.quality import QualityReportd
from monai_unet_bundle.prediction.sitk_reader import SimpleITKReader
from monai_unet_bundle.prediction.stage_times import StageTimes, TimedCompose
from monai_unet_bundle.prediction.temperature import TemperatureScaled, read_temperature
from monai_unet_bundle.prediction.window_predictor import WindowPredictor, flip_combinations

__all__ = [
    "BatchReport",
    "InputLabeld",
    "InvertToInputd",
    "MultiWriter",
    "NiftiWriter",
    "OverlapTileInferer",
    "PredictionDataset",
    "PredictionOutput",
    "QualityReportd",
    "SavePredictiond",
    "SavePreviewd",
    "SegmentationInferer",
    "SegmentationWriter",
    "SimpleITKReader",
    "StageTimes",
    "TemperatureScaled",
    "TimedCompose",
    "WindowPredictor",
    "flip_combinations",
    "fold_batchnorm",
    "preview_picture",
    "process_shard",
    "read_temperature",
]
