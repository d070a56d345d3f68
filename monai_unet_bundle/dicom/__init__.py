"""DICOM in and out: image series folders as inputs, DICOM series for NIfTI inputs, DICOM-SEG outputs."""

from .series_reader import (
    DicomSeriesError,
    DicomSeriesReader,
    SeriesInfo,
    find_series,
    holds_dicom,
    is_series_path,
    read_series,
    series_case_name,
    series_info,
    series_inputs,
)
from .series_writer import write_series


def __getattr__(name: str):
    # highdicom is imported only when a DICOM-SEG is written
    if name == "DicomSegWriter":
        from .seg_writer import DicomSegWriter

        return DicomSegWriter
    raise AttributeError(name)


__all__ = [
    "DicomSegWriter",
    "DicomSeriesError",
    "DicomSeriesReader",
    "SeriesInfo",
    "find_series",
    "holds_dicom",
    "is_series_path",
    "read_series",
    "series_case_name",
    "series_info",
    "series_inputs",
    "write_series",
]
