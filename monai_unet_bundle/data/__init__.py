"""Embedded datasets (built at run time from pip-installed files) and the datalists the bundle configs use."""

from .datalist import DatasetError, case_name, ensure_dataset, image_files, inference_datalist, training_datalist

__all__ = ["DatasetError", "case_name", "ensure_dataset", "image_files", "inference_datalist", "training_datalist"]
