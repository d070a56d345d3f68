"""Write a volume as a DICOM image series (one file per slice), with its geometry: position, orientation, spacing.

Used where a DICOM-SEG needs source images to reference but the input was NIfTI / NRRD, and by the tests to make
real series (LPS, oblique, anisotropic). The series is written to a hidden temporary folder that is renamed into
place, so a folder under the final name always holds the whole series. Example::

    >>> image = SimpleITK.ReadImage("ct.nii.gz")
    >>> files = write_series(image, "out/ct_dicom", modality="CT")  # out/ct_dicom/slice_0000.dcm, ...
"""

from __future__ import annotations

import datetime
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK
from monai_unet_bundle.atomic_write import temporary_path
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

__all__ = ["SOP_CLASSES", "write_series"]

#: image storage SOP classes by modality
SOP_CLASSES = {"CT": "1.2.840.10008.5.1.4.1.1.2", "MR": "1.2.840.10008.5.1.4.1.1.4"}


def _stored_values(volume: np.ndarray) -> tuple[np.ndarray, float, float]:
    """int16 stored values and (slope, intercept) so that slope * stored + intercept == volume (to float32)."""
    low, high = float(volume.min()), float(volume.max())
    if np.allclose(volume, np.round(volume)) and low >= -32768 and high <= 32767:
        return np.round(volume).astype(np.int16), 1.0, 0.0
    slope = (high - low) / 65535.0 or 1.0
    stored = np.round((volume - low) / slope - 32768).astype(np.int16)
    return stored, slope, low + 32768 * slope


def write_series(
    image: SimpleITK.Image,
    folder: str | Path,
    *,
    modality: str = "CT",
    series_description: str = "",
    series_number: int = 1,
    study_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    patient_id: str = "anonymous",
) -> list[Path]:
    """Write a 3D ``image`` (LPS, any direction) as one DICOM file per slice in ``folder``; return the files.

    Args:
        image: a scalar 3D SimpleITK image; its third axis is the slice axis.
        folder: the series folder (replaced if it exists).
        modality: "CT" (values are HU) or "MR".
        series_description, series_number, study_uid, frame_of_reference_uid, patient_id: the identifying
            attributes; UIDs are generated when not given.
    """
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise ValueError(f"write_series: a scalar 3D image is needed, got {image.GetDimension()}D")
    if modality not in SOP_CLASSES:
        raise ValueError(f"write_series: modality must be one of {sorted(SOP_CLASSES)}, got {modality!r}")
    folder = Path(folder)
    volume = SimpleITK.GetArrayFromImage(image).astype(np.float64)  # (z, y, x)
    stored, slope, intercept = _stored_values(volume)
    direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
    spacing = np.asarray(image.GetSpacing(), dtype=np.float64)
    origin = np.asarray(image.GetOrigin(), dtype=np.float64)
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_uid = frame_of_reference_uid or generate_uid()
    now = datetime.datetime.now()
    date, time = now.strftime("%Y%m%d"), now.strftime("%H%M%S")

    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_path(folder)  # the one temporary name and clean-up rule (atomic_write)
    partial.mkdir()
    files = []
    try:
        for k in range(volume.shape[0]):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = SOP_CLASSES[modality]
            meta.MediaStorageSOPInstanceUID = generate_uid()
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
            ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
            ds.Modality, ds.SeriesNumber, ds.InstanceNumber = modality, series_number, k + 1
            ds.SeriesDescription = series_description
            ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = patient_id, f"{patient_id}^", "", "O"
            ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
            ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
            ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "", ""
            ds.Manufacturer = "monai-unet-bundle"
            ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
            # DICOM: the row direction is that of increasing column index (ITK's first axis), then the column one
            ds.ImageOrientationPatient = [f"{v:.10g}" for v in (*direction[:, 0], *direction[:, 1])]
            ds.ImagePositionPatient = [f"{v:.10g}" for v in origin + direction[:, 2] * spacing[2] * k]
            ds.PixelSpacing = [f"{spacing[1]:.10g}", f"{spacing[0]:.10g}"]
            ds.SliceThickness = f"{spacing[2]:.10g}"
            ds.SpacingBetweenSlices = f"{spacing[2]:.10g}"
            ds.Rows, ds.Columns = stored.shape[1], stored.shape[2]
            ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
            ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
            ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{intercept:.10g}"
            if modality == "CT":
                ds.RescaleType = "HU"
            ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
            path = partial / f"slice_{k:04d}.dcm"
            pydicom.dcmwrite(str(path), ds, enforce_file_format=True)
            os.chmod(path, 0o644)
            files.append(folder / path.name)
        os.chmod(partial, 0o755)
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return files
