"""Read a DICOM image series folder as one volume, in its own geometry, or refuse it with a clear error.

A PACS export is a folder of single-slice files. The series is checked before its voxels are read: every file must
parse, be an image (not a structured report, a segmentation or a presentation state), share one orientation and
matrix, and sit at evenly spaced positions along the slice normal (a missing slice or uneven spacing would silently
distort a volume built from the files). Several series in one folder are told apart by SeriesInstanceUID; each is an
input of its own, addressed as ``<folder>::<SeriesInstanceUID>``.

The volume is read with SimpleITK's series reader (LPS, oblique directions kept, rescale slope / intercept applied)
and handed to MONAI through :class:`DicomSeriesReader`, so that a series folder goes anywhere a NIfTI file does::

    >>> LoadImaged("image", reader=DicomSeriesReader(), image_only=True)({"image": "study/CT_0001"})["image"].shape
    (512, 512, 120)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import SimpleITK
from monai.data import ImageReader
from monai_unet_bundle.checks.errors import InputCheckError
from monai_unet_bundle.prediction.sitk_reader import NOT_MINE, SimpleITKReader

__all__ = [
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
]

SEPARATOR = "::"
#: files that are volumes of their own, never slices of a series
_VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".raw", ".json", ".txt")
#: slice positions may differ from an even grid by this share of the slice spacing (scanner rounding)
SPACING_TOLERANCE = 0.05
#: what every slice of an image series has (reports, segmentations and presentation states lack them)
_IMAGE_ATTRIBUTES = ("Rows", "Columns", "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing")


class DicomSeriesError(InputCheckError):
    """A DICOM folder or series that cannot be read as one volume; the message names the folder and the reason."""


@dataclass
class SeriesInfo:
    """One image series of a folder: its files sorted along the slice normal, and what names it."""

    folder: Path
    uid: str
    files: list[Path] = field(default_factory=list)
    number: str = ""
    description: str = ""
    modality: str = ""

    @property
    def input_path(self) -> str:
        """How the series is addressed as an input: ``<folder>::<uid>``."""
        return f"{self.folder}{SEPARATOR}{self.uid}"


def _check_pixel_data_length(folder: Path, path: Path, header: pydicom.Dataset) -> None:
    """Refuse a file cut short: pydicom reads a truncated file without complaint, with fewer pixel bytes."""
    if "PixelData" not in header:
        return
    if not header.file_meta.get("TransferSyntaxUID", pydicom.uid.ExplicitVRLittleEndian).is_compressed:
        frames = int(header.get("NumberOfFrames", 1) or 1)
        samples = int(header.get("SamplesPerPixel", 1))
        expected = int(header.Rows) * int(header.Columns) * frames * samples * int(header.BitsAllocated) // 8
        if len(header.PixelData) < expected:
            raise DicomSeriesError(
                f"DICOM folder '{folder}': {path.name} is truncated ({len(header.PixelData)} of {expected} pixel bytes)"
            )
    del header.PixelData  # only the header is kept; SimpleITK reads the voxels


def _headers(folder: Path) -> dict[str, list[tuple[Path, pydicom.Dataset]]]:
    """SeriesInstanceUID -> [(file, header)] of every file in ``folder`` (hidden files and DICOMDIR skipped)."""
    if not folder.is_dir():
        raise DicomSeriesError(f"DICOM folder '{folder}': not a folder")
    by_series: dict[str, list[tuple[Path, pydicom.Dataset]]] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.name.upper() == "DICOMDIR":
            continue
        try:
            header = pydicom.dcmread(str(path))
        except Exception as error:  # pydicom raises InvalidDicomError, EOFError, OSError, ... for broken files
            reason = f"{path.name} is not a readable DICOM file ({error})"
            raise DicomSeriesError(f"DICOM folder '{folder}': {reason}") from None
        _check_pixel_data_length(folder, path, header)
        uid = str(header.get("SeriesInstanceUID", ""))
        if not uid:
            raise DicomSeriesError(
                f"DICOM folder '{folder}': {path.name} has no SeriesInstanceUID (truncated, or not DICOM)"
            )
        by_series.setdefault(uid, []).append((path, header))
    if not by_series:
        raise DicomSeriesError(f"DICOM folder '{folder}': no DICOM files")
    return by_series


def _check_and_sort(folder: Path, uid: str, items: list[tuple[Path, pydicom.Dataset]]) -> SeriesInfo:
    first = items[0][1]
    name = f"DICOM series {uid} in '{folder}'"
    missing = [a for a in _IMAGE_ATTRIBUTES if a not in first]
    if missing:
        sop = getattr(first.get("SOPClassUID", None), "name", first.get("SOPClassUID", "unknown SOP class"))
        raise DicomSeriesError(f"{name}: not an image series ({sop}; no {', '.join(missing)})")
    orientation = np.asarray(first.ImageOrientationPatient, dtype=np.float64)
    matrix = (int(first.Rows), int(first.Columns))
    for path, header in items:
        if any(a not in header for a in _IMAGE_ATTRIBUTES):
            raise DicomSeriesError(
                f"{name}: {path.name} lacks the image attributes the other files have (truncated, or not an image)"
            )
        if (int(header.Rows), int(header.Columns)) != matrix:
            raise DicomSeriesError(f"{name}: {path.name} is {header.Rows}x{header.Columns}, the series {matrix}")
        if not np.allclose(np.asarray(header.ImageOrientationPatient, dtype=np.float64), orientation, atol=1e-4):
            raise DicomSeriesError(f"{name}: {path.name} has another orientation (mixed series?)")
    normal = np.cross(orientation[:3], orientation[3:])
    positions = np.asarray([np.dot(normal, np.asarray(h.ImagePositionPatient, float)) for _, h in items])
    order = np.argsort(positions)
    items = [items[i] for i in order]
    positions = positions[order]
    if len(items) > 1:
        gaps = np.diff(positions)
        if np.any(gaps < 1e-3):
            i = int(np.argmin(gaps))
            raise DicomSeriesError(
                f"{name}: {items[i][0].name} and {items[i + 1][0].name} are at the same position (duplicated slices "
                "or two series with one SeriesInstanceUID)"
            )
        step = float(np.median(gaps))
        off = np.abs(gaps - step) > SPACING_TOLERANCE * step
        if np.any(off):
            i = int(np.argmax(np.abs(gaps - step)))
            raise DicomSeriesError(
                f"{name}: uneven slice spacing ({gaps[i]:.3g} mm between {items[i][0].name} and "
                f"{items[i + 1][0].name}, {step:.3g} mm elsewhere): missing slices or a non-uniform series, which "
                "cannot be read as one volume"
            )
    return SeriesInfo(
        folder=folder,
        uid=uid,
        files=[path for path, _ in items],
        number=str(first.get("SeriesNumber", "")),
        description=str(first.get("SeriesDescription", "")),
        modality=str(first.get("Modality", "")),
    )


def find_series(folder: str | Path) -> list[SeriesInfo]:
    """The image series of ``folder``, each checked (see the module docstring); errors name the folder."""
    folder = Path(folder)
    return [_check_and_sort(folder, uid, items) for uid, items in _headers(folder).items()]


def holds_dicom(folder: str | Path) -> bool:
    """Whether ``folder`` directly holds a DICOM file (the "DICM" marker after the 128-byte preamble)."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    for path in folder.iterdir():
        if not path.is_file() or path.name.startswith(".") or path.name.lower().endswith(_VOLUME_SUFFIXES):
            continue
        try:
            with open(path, "rb") as handle:
                if handle.read(132)[128:] == b"DICM":
                    return True
        except OSError:
            continue  # an unreadable file is reported by whoever reads it
    return False


def series_case_name(path: str | Path) -> str:
    """The case name of a series input: the folder's name, plus the UID's last 8 digits for ``<folder>::<uid>``."""
    folder, _, uid = str(path).partition(SEPARATOR)
    name = Path(folder).name
    return f"{name}_{uid.replace('.', '')[-8:]}" if uid else name


def series_inputs(folder: str | Path) -> list[tuple[str, str | DicomSeriesError]]:
    """``(input path, name)`` per series of ``folder``, or ``(input path, error)`` for a series that is refused.

    A folder with one series is addressed by the folder itself and named after it; with several, each series is
    ``<folder>::<uid>``, named by :func:`series_case_name`. A batch runner turns the errors into failed inputs and
    goes on with the others.
    """
    folder = Path(folder)
    groups = _headers(folder)
    out: list[tuple[str, str | DicomSeriesError]] = []
    for uid, items in groups.items():
        path = str(folder) if len(groups) == 1 else f"{folder}{SEPARATOR}{uid}"
        try:
            _check_and_sort(folder, uid, items)
        except DicomSeriesError as error:
            out.append((path, error))
            continue
        out.append((path, series_case_name(path)))
    return out


def series_info(path: str | Path) -> SeriesInfo:
    """The checked series that ``<folder>`` (holding one series) or ``<folder>::<uid>`` addresses."""
    folder, _, uid = str(path).partition(SEPARATOR)
    groups = _headers(Path(folder))
    if uid and uid not in groups:
        raise DicomSeriesError(f"DICOM folder '{folder}': no series {uid}")
    if not uid and len(groups) > 1:
        listed = ", ".join(groups)
        raise DicomSeriesError(
            f"DICOM folder '{folder}' holds {len(groups)} series ({listed}): name one as <folder>{SEPARATOR}<uid>"
        )
    uid = uid or next(iter(groups))
    return _check_and_sort(Path(folder), uid, groups[uid])


def read_series(path: str | Path) -> SimpleITK.Image:
    """The volume of ``<folder>`` (one series) or ``<folder>::<uid>``, with its DICOM geometry (LPS)."""
    series = [series_info(path)]
    folder = series[0].folder
    reader = SimpleITK.ImageSeriesReader()
    reader.SetFileNames([str(f) for f in series[0].files])
    try:
        return reader.Execute()
    except RuntimeError as error:
        reason = str(error).strip().splitlines()[-1]
        raise DicomSeriesError(f"DICOM series in '{folder}': SimpleITK cannot read its voxels ({reason})") from None


def is_series_path(path: str | Path) -> bool:
    """Whether ``path`` addresses a DICOM series: a folder, or ``<folder>::<uid>``."""
    folder = str(path).partition(SEPARATOR)[0]
    return Path(folder).is_dir()


class DicomSeriesReader(ImageReader):
    """MONAI image reader for DICOM series folders (``<folder>`` or ``<folder>::<SeriesInstanceUID>``).

    Gives what :class:`~monai_unet_bundle.inference.SimpleITKReader` gives for a file: ``(x, y, z)`` float32 data
    and a RAS ``affine`` (so orientations, oblique directions and anisotropic spacing are kept), plus
    ``filename_or_obj`` = the path given.
    """

    def __init__(self, dtype: Any = np.float32) -> None:
        super().__init__()
        self._volume_reader = SimpleITKReader(dtype=dtype)

    def verify_suffix(self, filename: Sequence[str] | str) -> bool:
        names = [filename] if isinstance(filename, (str, Path)) else list(filename)
        return len(names) == 1 and is_series_path(names[0])

    def read(self, data: Sequence[str] | str, **kwargs: Any) -> SimpleITK.Image:
        names = [data] if isinstance(data, (str, Path)) else list(data)
        if not self.verify_suffix(names):
            raise ValueError(f"DicomSeriesReader {NOT_MINE} {names} (not one DICOM series folder)")
        return read_series(names[0])

    def get_data(self, img: SimpleITK.Image) -> tuple[np.ndarray, dict]:
        return self._volume_reader.get_data(img)
