"""The conversion to nnU-Net v2's raw format, on tiny real NIfTI files (nnunetv2 itself is not needed)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from benchmarks.nnunet_raw import nnunet_dataset_json, nnunet_dataset_name, to_nnunet_raw
from monai_unet_bundle.data import DatasetError
from tests.conftest import write_nifti

AFFINE = np.diag([1.5, 1.5, 3.0, 1.0])


def _msd(root, labels=None, label_values=(0, 1, 2), modality="CT"):
    """An MSD folder: two training cases and one validation case of 8 x 8 x 4 voxels."""
    rng = np.random.default_rng(0)
    entries = {"training": [], "validation": []}
    for split, case in (("training", "a"), ("training", "b"), ("validation", "c")):
        image = rng.normal(size=(8, 8, 4)).astype(np.float32)
        label = np.zeros((8, 8, 4), np.float32)
        for i, value in enumerate(label_values):
            label[i, :, :] = value
        write_nifti(root / "imagesTr" / f"{case}.nii.gz", image, AFFINE)
        write_nifti(root / "labelsTr" / f"{case}.nii.gz", label, AFFINE)
        entries[split].append({"image": f"./imagesTr/{case}.nii.gz", "label": f"./labelsTr/{case}.nii.gz"})
    manifest = {
        "name": "tiny",
        "modality": {"0": modality},
        "labels": labels or {"0": "background", "1": "soft_tissue", "2": "bone"},
        **entries,
    }
    (root / "dataset.json").write_text(json.dumps(manifest))
    return root


def test_training_cases_are_written_in_nnunet_layout(tmp_path):
    source = _msd(tmp_path / "tiny")
    target = to_nnunet_raw(source, tmp_path / "raw", 7)
    assert target == tmp_path / "raw" / "Dataset007_tiny"
    assert sorted(p.name for p in (target / "imagesTr").iterdir()) == ["a_0000.nii.gz", "b_0000.nii.gz"]
    assert sorted(p.name for p in (target / "labelsTr").iterdir()) == ["a.nii.gz", "b.nii.gz"]  # not the held-out c
    content = json.loads((target / "dataset.json").read_text())
    assert content["channel_names"] == {"0": "CT"}
    assert content["labels"] == {"background": 0, "soft_tissue": 1, "bone": 2}
    assert content["numTraining"] == 2 and content["file_ending"] == ".nii.gz"
    image = nib.load(str(target / "imagesTr" / "a_0000.nii.gz"))
    original = nib.load(str(source / "imagesTr" / "a.nii.gz"))
    np.testing.assert_array_equal(np.asarray(image.dataobj), np.asarray(original.dataobj))
    np.testing.assert_allclose(image.affine, AFFINE)
    label = nib.load(str(target / "labelsTr" / "a.nii.gz"))
    assert label.get_data_dtype() == np.uint8
    assert sorted(np.unique(np.asarray(label.dataobj)).tolist()) == [0, 1, 2]
    np.testing.assert_allclose(label.affine, AFFINE)
    assert not list((tmp_path / "raw").glob(".*partial"))


def test_a_second_conversion_replaces_the_first(tmp_path):
    source = _msd(tmp_path / "tiny")
    target = to_nnunet_raw(source, tmp_path / "raw", 7)
    (target / "imagesTr" / "stale_0000.nii.gz").write_bytes(b"old")
    to_nnunet_raw(source, tmp_path / "raw", 7)
    assert not (target / "imagesTr" / "stale_0000.nii.gz").exists()


def test_a_label_value_not_in_dataset_json_names_the_file(tmp_path):
    source = _msd(tmp_path / "tiny", label_values=(0, 1, 5))
    with pytest.raises(DatasetError, match=r"a\.nii\.gz' holds values \[5\]"):
        to_nnunet_raw(source, tmp_path / "raw", 7)
    assert not (tmp_path / "raw" / "Dataset007_tiny").exists()  # nothing half-written


def test_dataset_json_conversion_rules():
    msd = {"name": "x", "modality": {"0": "MRI"}, "labels": {"2": "wm", "0": "background", "1": "gm"}}
    assert nnunet_dataset_json(msd, 3)["labels"] == {"background": 0, "gm": 1, "wm": 2}
    v2 = {"name": "x", "channel_names": {"0": "T1"}, "labels": {"background": 0, "tumour": 1}}
    assert nnunet_dataset_json(v2, 1)["channel_names"] == {"0": "T1"}
    with pytest.raises(DatasetError, match="labels 0..N-1"):
        nnunet_dataset_json({"name": "x", "modality": {"0": "CT"}, "labels": {"0": "background", "2": "bone"}}, 1)
    with pytest.raises(DatasetError, match="no modality"):
        nnunet_dataset_json({"name": "x", "labels": {"0": "background"}}, 1)
    with pytest.raises(ValueError, match="three digits"):
        nnunet_dataset_name(1000, "x")


def test_nnunet_accepts_the_converted_dataset(tmp_path):
    pytest.importorskip("nnunetv2", reason="nnU-Net's own integrity check needs the peers extra (nnunetv2)")
    from nnunetv2.experiment_planning.verify_dataset_integrity import verify_dataset_integrity

    target = to_nnunet_raw(_msd(tmp_path / "tiny"), tmp_path / "raw", 7)
    verify_dataset_integrity(str(target), num_processes=1)  # raises on names, labels, geometry it rejects
