"""Batch inference on image files: reading, geometry inversion in bounded memory, atomic writing, batch runs.

``configs/inference.yaml`` wires these parts around MONAI's SupervisedEvaluator; ``python -m monai_unet_bundle
predict`` (:mod:`monai_unet_bundle.inference.predict`) runs that same config.
"""

from monai_unet_bundle.inference.atomic_writer import AtomicNibabelWriter
from monai_unet_bundle.inference.batch import BatchReport, PredictionDataset, PredictionIteration, process_shard
from monai_unet_bundle.inference.sitk_reader import SimpleITKReader
from monai_unet_bundle.inference.slab_invert import InvertToInputd, label_dtype_for

__all__ = [
    "AtomicNibabelWriter",
    "BatchReport",
    "InvertToInputd",
    "PredictionDataset",
    "PredictionIteration",
    "SimpleITKReader",
    "label_dtype_for",
    "process_shard",
]
