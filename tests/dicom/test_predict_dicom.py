"""predict on DICOM series and DICOM-SEG output, end to end with real files (the threshold model of
tests/prediction: class 1 where the scaled intensity is above 0.5, so the expected labels are known)."""

from __future__ import annotations

import highdicom
import nibabel as nib
import numpy as np
import pydicom
import SimpleITK
from monai_unet_bundle.__main__ import main as cli
from monai_unet_bundle.dicom import find_series, read_series, write_series
from monai_unet_bundle.prediction.sitk_reader import sitk_affine_ras
from tests.prediction.conftest import AFFINES, THRESHOLD_SET, blob_image, dice, write_sitk


def _predict(*args) -> int:
    return cli(["predict", *map(str, args), "--no-progress"])


def _blob_series(tmp_path, name: str, affine: np.ndarray):
    """A blob volume written as NIfTI-like SimpleITK image, then as a DICOM MR series; returns (folder, mask)."""
    image, mask = blob_image((40, 36, 16), affine)
    staging = write_sitk(tmp_path / "staging" / f"{name}.mha", image, affine)
    folder = tmp_path / "dicom" / name
    write_series(SimpleITK.ReadImage(str(staging)), folder, modality="MR")
    return folder, mask


def _seg_labels(seg_path, series_folder) -> np.ndarray:
    """The SEG's label map in the source series' (slice, row, column) order."""
    seg = highdicom.seg.segread(str(seg_path))
    (series,) = find_series(series_folder)
    uids = [str(pydicom.dcmread(str(f), stop_before_pixels=True).SOPInstanceUID) for f in series.files]
    return seg.get_pixels_by_source_instance(uids, combine_segments=True, skip_overlap_checks=True)


def test_a_dicom_series_in_gives_nifti_in_its_geometry_and_a_seg_with_the_same_labels(tmp_path, threshold_model):
    affine = AFFINES["oblique"] @ np.diag([1 / 1.2, 1 / 1.8, 1.0, 1.0])  # 1 x 1 x 2.5 mm, oblique
    folder, mask = _blob_series(tmp_path, "mr_oblique", affine)
    out = tmp_path / "out"
    code = _predict(folder, "--output-dir", out, "--model", threshold_model, "--output-format", "both", *THRESHOLD_SET)
    assert code == 0
    written = nib.load(out / "mr_oblique_seg.nii.gz")
    source = read_series(folder)
    assert written.shape == tuple(reversed(SimpleITK.GetArrayViewFromImage(source).shape)) == (40, 36, 16)
    assert np.allclose(written.affine, sitk_affine_ras(source), atol=1e-4)
    assert np.allclose(written.affine, affine, atol=1e-3)
    labels = np.asarray(written.dataobj)
    assert dice(labels == 1, mask) > 0.85

    seg_path = out / "mr_oblique_seg.dcm"
    seg = highdicom.seg.segread(str(seg_path))
    first = pydicom.dcmread(str(find_series(folder)[0].files[0]), stop_before_pixels=True)
    assert seg.FrameOfReferenceUID == first.FrameOfReferenceUID and seg.StudyInstanceUID == first.StudyInstanceUID
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["class_1"]
    assert np.array_equal(_seg_labels(seg_path, folder), labels.transpose(2, 1, 0))


def test_a_nifti_input_gets_a_dicom_series_beside_its_seg(tmp_path, threshold_model):
    image, mask = blob_image((30, 28, 12), AFFINES["lps"])
    source = tmp_path / "in" / "case.nii.gz"
    source.parent.mkdir()
    nib.save(nib.Nifti1Image(image, AFFINES["lps"]), str(source))
    out = tmp_path / "out"
    assert (
        _predict(source, "--output-dir", out, "--model", threshold_model, "--output-format", "both", *THRESHOLD_SET)
        == 0
    )
    labels = np.asarray(nib.load(out / "case_seg.nii.gz").dataobj)
    assert dice(labels == 1, mask) > 0.85
    image_series = out / "case_seg_image"
    assert len(list(image_series.iterdir())) == 12
    assert np.array_equal(_seg_labels(out / "case_seg.dcm", image_series), labels.transpose(2, 1, 0))
    # the written series is the input, in its own geometry
    assert np.allclose(sitk_affine_ras(read_series(image_series)), AFFINES["lps"], atol=1e-4)


def test_broken_series_are_reported_by_folder_and_the_batch_goes_on(tmp_path, threshold_model, capsys):
    good, _ = _blob_series(tmp_path, "good", AFFINES["ras"] @ np.diag([1 / 1.5, 1 / 2.0, 2.5 / 3.0, 1.0]))
    gap, _ = _blob_series(tmp_path, "gap", AFFINES["ras"] @ np.diag([1 / 1.5, 1 / 2.0, 2.5 / 3.0, 1.0]))
    (gap / "slice_0007.dcm").unlink()
    cut, _ = _blob_series(tmp_path, "cut", AFFINES["ras"] @ np.diag([1 / 1.5, 1 / 2.0, 2.5 / 3.0, 1.0]))
    (cut / "slice_0003.dcm").write_bytes((cut / "slice_0003.dcm").read_bytes()[:-64])
    out = tmp_path / "out"
    assert _predict(tmp_path / "dicom", "--output-dir", out, "--model", threshold_model, *THRESHOLD_SET) == 1
    printed = capsys.readouterr().out
    assert f"'{gap}'" in printed and "uneven slice spacing" in printed
    assert f"'{cut}'" in printed and "slice_0003.dcm is truncated" in printed
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["good_qc.json", "good_seg.nii.gz"]
