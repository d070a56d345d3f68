"""DICOM in and out: image series folders as inputs, DICOM series for NIfTI inputs, DICOM-SEG outputs."""

from .series_reader import DicomSeriesError, DicomSeriesReader, SeriesInfo, find_series, read_series, series_inputs
from .series_writer import write_series

__all__ = [
    "DicomSeriesError",
    "DicomSeriesReader",
    "SeriesInfo",
    "find_series",
    "read_series",
    "series_inputs",
    "write_series",
]
