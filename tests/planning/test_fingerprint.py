"""Fingerprint: RAS-ordered spacings and cropped shapes, class fractions, intensity statistics, and refusals."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from monai_unet_bundle.planning import PlanningError, fingerprint_dataset, read_header
from tests.conftest import write_nifti
from tests.planning.conftest import write_msd


def test_fingerprint_of_an_anisotropic_dataset(tmp_path):
    root = write_msd(tmp_path / "aniso", [(0.5, 0.5, 5.0), (0.6, 0.6, 4.0), (0.5, 0.5, 5.0)], (40, 36, 8))
    fp = fingerprint_dataset(root, progress=False)
    assert fp.spatial_dims == 3 and fp.modality == "MRI" and fp.num_classes == 3
    assert fp.cases == ["case_0", "case_1"]  # the last case validates
    assert fp.spacings == [[0.5, 0.5, 5.0], [0.6, 0.6, 4.0]]
    assert fp.shapes == [[40, 36, 8], [40, 36, 8]]
    assert fp.validation_shapes == [[40, 36, 8]]
    assert sum(fp.class_fractions) == pytest.approx(1.0) and min(fp.class_fractions) > 0
    # foreground is 150 or 250 + noise(10): mean between, percentiles around them
    assert 140 < fp.foreground_intensity["mean"] < 260
    assert fp.foreground_intensity["percentile_00_5"] < 150 < fp.foreground_intensity["percentile_99_5"]
    saved = json.loads(fp.save(root / "fingerprint.json").read_text())
    assert saved["spacings"] == fp.spacings and saved["labels"] == {"0": "background", "1": "organ_1", "2": "organ_2"}


def test_cropped_shape_is_the_nonzero_box_in_ras_order(tmp_path):
    root = write_msd(tmp_path / "crop", [(1.0, 1.0, 1.0)] * 2, (30, 20, 10))
    path = root / "imagesTr" / "case_0.nii.gz"
    image = np.zeros((30, 20, 10), np.float32)
    image[5:25, 2:12, 3:8] = 1.0
    # an LPS-like affine (x and y flipped) and axes swapped: y first in the voxel array
    affine = np.array([[0, -2.0, 0, 0], [-1.0, 0, 0, 0], [0, 0, 3.0, 0], [0, 0, 0, 1]])
    write_nifti(path, image, affine)
    write_nifti(root / "labelsTr" / "case_0.nii.gz", (image > 0).astype(np.uint8), affine)
    header = read_header(path)
    assert header.shape == (20, 30, 10) and header.spacing == pytest.approx((2.0, 1.0, 3.0))
    fp = fingerprint_dataset(root, progress=False)
    assert fp.cropped_shapes == [[10, 20, 5]]


def test_one_slice_images_are_2d(tmp_path):
    root = write_msd(tmp_path / "slices", [(0.8, 0.8)] * 3, (64, 48))
    fp = fingerprint_dataset(root, progress=False)
    assert fp.spatial_dims == 2 and fp.spacings == [[0.8, 0.8], [0.8, 0.8]] and fp.shapes == [[64, 48]] * 2


def test_label_values_that_dataset_json_does_not_list(tmp_path):
    root = write_msd(tmp_path / "unknown", [(1.0, 1.0, 1.0)] * 3, (16, 16, 8))
    label_path = root / "labelsTr" / "case_1.nii.gz"
    label = np.asarray(nib.load(label_path).dataobj).copy()
    label[0, 0, 0] = 7
    write_nifti(label_path, label, np.eye(4))
    with pytest.raises(PlanningError, match=r"case 'case_1'.*label values \[7\].*dataset.json does not list"):
        fingerprint_dataset(root, progress=False)


def test_image_and_label_on_different_grids(tmp_path):
    root = write_msd(tmp_path / "grids", [(1.0, 1.0, 1.0)] * 3, (16, 16, 8))
    write_nifti(root / "labelsTr" / "case_0.nii.gz", np.ones((16, 16, 4), np.uint8), np.diag([1.0, 1.0, 2.0, 1.0]))
    with pytest.raises(PlanningError, match=r"case 'case_0': image and label are on different grids.*\(16, 16, 4\)"):
        fingerprint_dataset(root, progress=False)


def test_a_case_without_foreground(tmp_path):
    root = write_msd(tmp_path / "empty", [(1.0, 1.0, 1.0)] * 3, (16, 16, 8))
    write_nifti(root / "labelsTr" / "case_1.nii.gz", np.zeros((16, 16, 8), np.uint8), np.eye(4))
    with pytest.raises(PlanningError, match=r"case 'case_1'.*has no foreground"):
        fingerprint_dataset(root, progress=False)


def test_dataset_without_dataset_json(tmp_path):
    root = write_msd(tmp_path / "nojson", [(1.0, 1.0, 1.0)] * 3, (16, 16, 8))
    (root / "dataset.json").unlink()
    with pytest.raises(PlanningError, match="no dataset.json"):
        fingerprint_dataset(root, progress=False)
