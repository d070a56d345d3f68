"""DICOM series folders as inputs: read in their own geometry, split by series, broken ones refused by name."""

from __future__ import annotations

import shutil

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK
from monai.transforms import LoadImaged
from monai_unet_bundle.dicom import (
    DicomSeriesError,
    DicomSeriesReader,
    find_series,
    read_series,
    series_inputs,
    write_series,
)
from tests.dicom.conftest import ct_like


def test_a_series_reads_back_voxel_for_voxel_with_its_geometry(ct_series):
    folder, image = ct_series
    volume = read_series(folder)
    assert np.array_equal(SimpleITK.GetArrayFromImage(volume), SimpleITK.GetArrayFromImage(image))
    assert np.allclose(volume.GetDirection(), image.GetDirection(), atol=1e-6)
    assert np.allclose(volume.GetOrigin(), image.GetOrigin(), atol=1e-4)
    assert np.allclose(volume.GetSpacing(), (1.0, 1.0, 2.5), atol=1e-6)


def test_monai_loads_a_series_folder_like_the_same_volume_as_nifti(ct_series, tmp_path):
    folder, image = ct_series
    nifti = tmp_path / "same.nii.gz"
    SimpleITK.WriteImage(image, str(nifti))
    from_dicom = LoadImaged("image", reader=DicomSeriesReader(), image_only=True)({"image": str(folder)})["image"]
    from_nifti = LoadImaged("image", image_only=True)({"image": str(nifti)})["image"]
    assert from_dicom.shape == from_nifti.shape == (24, 20, 12)
    assert np.allclose(from_dicom.numpy(), from_nifti.numpy())
    assert np.allclose(from_dicom.affine.numpy(), from_nifti.affine.numpy(), atol=1e-4)
    assert np.allclose(from_nifti.affine.numpy(), nib.load(nifti).affine, atol=1e-4)


def test_slice_files_in_any_order_and_with_any_names_give_the_same_volume(ct_series, tmp_path):
    folder, image = ct_series
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for index, path in enumerate(sorted(folder.iterdir())[::-1]):
        shutil.copy(path, shuffled / f"IM{(index * 7919) % 1000:04d}")
    assert np.array_equal(SimpleITK.GetArrayFromImage(read_series(shuffled)), SimpleITK.GetArrayFromImage(image))


def test_two_series_in_one_folder_are_split_and_named(tmp_path):
    folder = tmp_path / "study"
    write_series(ct_like(seed=0), tmp_path / "a", series_number=3)
    write_series(ct_like(seed=1, oblique=True), tmp_path / "b", series_number=4)
    folder.mkdir()
    for name in ("a", "b"):
        for path in (tmp_path / name).iterdir():
            shutil.copy(path, folder / f"{name}_{path.name}")
    inputs = series_inputs(folder)
    uids = sorted(path.split("::")[1] for path, _ in inputs)
    assert sorted(name for _, name in inputs) == sorted(f"study_{uid.replace('.', '')[-8:]}" for uid in uids)
    assert len({name for _, name in inputs}) == 2
    for path, _ in inputs:
        assert "::" in path and read_series(path).GetSize() == (24, 20, 12)
    with pytest.raises(DicomSeriesError, match=r"holds 2 series .*name one as <folder>::<uid>"):
        read_series(folder)


def test_a_missing_slice_is_refused_naming_the_folder_and_the_gap(ct_series):
    folder, _ = ct_series
    (folder / "slice_0005.dcm").unlink()
    with pytest.raises(DicomSeriesError) as raised:
        read_series(folder)
    message = str(raised.value)
    assert str(folder) in message and "uneven slice spacing (5 mm between slice_0004.dcm and slice_0006.dcm" in message


def test_a_truncated_file_is_refused_naming_it(ct_series):
    folder, _ = ct_series
    victim = folder / "slice_0003.dcm"
    victim.write_bytes(victim.read_bytes()[:-100])
    with pytest.raises(DicomSeriesError, match=r"slice_0003.dcm is truncated \(860 of 960 pixel bytes\)") as raised:
        read_series(folder)
    assert str(folder) in str(raised.value)


def test_a_non_image_object_is_its_own_series_and_refused_while_the_images_go_on(ct_series):
    folder, _ = ct_series
    source = pydicom.dcmread(str(folder / "slice_0000.dcm"))
    report = pydicom.Dataset()
    report.file_meta = pydicom.dataset.FileMetaDataset()
    report.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    report.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    report.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    report.SOPClassUID = report.file_meta.MediaStorageSOPClassUID
    report.SOPInstanceUID = report.file_meta.MediaStorageSOPInstanceUID
    report.StudyInstanceUID, report.SeriesInstanceUID = source.StudyInstanceUID, pydicom.uid.generate_uid()
    report.Modality = "SR"
    pydicom.dcmwrite(str(folder / "report.dcm"), report, enforce_file_format=True)
    inputs = dict(series_inputs(folder))
    errors = [value for value in inputs.values() if isinstance(value, DicomSeriesError)]
    assert len(inputs) == 2 and len(errors) == 1
    assert "not an image series (Basic Text SR Storage" in str(errors[0]) and str(folder) in str(errors[0])
    (good,) = [path for path, value in inputs.items() if isinstance(value, str)]
    assert read_series(good).GetSize() == (24, 20, 12)


def test_a_file_that_is_not_dicom_is_refused_naming_it(ct_series):
    folder, _ = ct_series
    (folder / "notes.txt").write_text("not a DICOM file")
    with pytest.raises(DicomSeriesError, match=r"notes.txt is not a readable DICOM file"):
        find_series(folder)


def test_an_empty_folder_is_refused(tmp_path):
    with pytest.raises(DicomSeriesError, match="no DICOM files"):
        find_series(tmp_path)
