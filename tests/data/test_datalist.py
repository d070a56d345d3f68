"""Datalists: MSD folders, name pairing, inference inputs, and the errors that name what was searched."""

from __future__ import annotations

import json

import numpy as np
import pytest
from monai_unet_bundle.data import DatasetError, inference_datalist, training_datalist
from tests.conftest import write_nifti

AFFINE = np.eye(4)


def _pair(root, name, image_name=None):
    write_nifti(root / "imagesTr" / f"{image_name or name}.nii.gz", np.zeros((4, 4, 4), np.float32), AFFINE)
    write_nifti(root / "labelsTr" / f"{name}.nii.gz", np.zeros((4, 4, 4), np.uint8), AFFINE)


def test_msd_manifest_splits(synthetic_dir):
    train = training_datalist(synthetic_dir, "training")
    val = training_datalist(synthetic_dir, "validation")
    assert len(train) == 3 and len(val) == 1
    assert not {i["image"] for i in train} & {i["image"] for i in val}
    assert all(item["label"].endswith(".nii.gz") for item in train + val)


def test_pairs_by_name_and_holds_out_a_fifth(tmp_path):
    for index in range(5):
        _pair(tmp_path, f"case{index}", image_name=f"case{index}_0000")  # nnU-Net channel suffix
    train, val = training_datalist(tmp_path, "training"), training_datalist(tmp_path, "validation")
    assert [len(train), len(val)] == [4, 1]
    assert val[0]["image"].endswith("case4_0000.nii.gz") and val[0]["label"].endswith("case4.nii.gz")


def test_unmatched_pairs_are_named(tmp_path):
    _pair(tmp_path, "a")
    write_nifti(tmp_path / "imagesTr" / "b.nii.gz", np.zeros((4, 4, 4), np.float32), AFFINE)
    write_nifti(tmp_path / "labelsTr" / "c.nii.gz", np.zeros((4, 4, 4), np.uint8), AFFINE)
    expected = r"images without a label \['b.nii.gz'\].*labels without an image \['c.nii.gz'\]"
    with pytest.raises(DatasetError, match=expected):
        training_datalist(tmp_path)


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        training_datalist(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no training images in .*empty.*imagesTr"):
        training_datalist(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"no images found in .*empty.*imagesTs/, imagesTr/"):
        inference_datalist(tmp_path / "empty")


def test_missing_file_listed_in_manifest(tmp_path):
    (tmp_path / "dataset.json").write_text(
        json.dumps({"training": [{"image": "./imagesTr/x.nii.gz", "label": "./labelsTr/x.nii.gz"}], "validation": []})
    )
    with pytest.raises(DatasetError, match=r"dataset.json: the image file .*x.nii.gz.* does not exist"):
        training_datalist(tmp_path)


def test_embedded_dataset_is_built_in_an_empty_folder_of_its_name(tmp_path):
    items = training_datalist(tmp_path / "synthetic", "training")
    assert len(items) == 3 and (tmp_path / "synthetic" / "dataset.json").is_file()


def test_inference_inputs(tmp_path, synthetic_dir):
    for name in ("b.nii", "a.nii.gz"):
        write_nifti(tmp_path / name, np.zeros((4, 4, 4), np.float32), AFFINE)
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p["image"].split("/")[-1] for p in inference_datalist(tmp_path)] == ["a.nii.gz", "b.nii"]
    # an MSD folder without top-level images falls back to imagesTr/
    assert len(inference_datalist(synthetic_dir)) == 4
    # a dataset.json as datalist: its validation list (there is no test list)
    (only,) = inference_datalist(tmp_path, synthetic_dir / "dataset.json")
    assert only["image"].endswith("sphere_003.nii.gz") and "label" in only
    listing = tmp_path / "list.json"
    listing.write_text(json.dumps(["a.nii.gz", {"image": "b.nii"}]))
    assert [p["image"] for p in inference_datalist("unused", listing)] == [
        str(tmp_path / "a.nii.gz"),
        str(tmp_path / "b.nii"),
    ]
    with pytest.raises(DatasetError, match="has no 'image'"):
        inference_datalist("unused", [{"label": "x"}])
