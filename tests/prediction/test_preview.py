"""The PNG preview: slices through the labels' centre, RAS display, physical aspect; written by predict --preview."""

from __future__ import annotations

import json
import zlib

import nibabel as nib
import numpy as np
import pytest
from monai_unet_bundle.__main__ import main as cli
from monai_unet_bundle.prediction import preview_picture
from tests.conftest import write_nifti
from tests.prediction.conftest import AFFINES, THRESHOLD_SET, blob_image


def _read_png(path) -> np.ndarray:
    """RGB pixels of a PNG that visualize.png wrote (one IDAT, filter 0 rows)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    start = data.index(b"IDAT") + 4
    length = int.from_bytes(data[start - 8 : start - 4], "big")
    rows = np.frombuffer(zlib.decompress(data[start : start + length]), np.uint8).reshape(height, -1)
    return rows[:, 1:].reshape(height, width, 3)


def _coloured(picture: np.ndarray) -> np.ndarray:
    return np.any(np.abs(picture.astype(int) - picture.astype(int).mean(-1, keepdims=True)) > 20, axis=-1)


def test_three_slices_through_the_labels_centre_with_physical_aspect():
    image = np.random.default_rng(0).normal(size=(20, 30, 10)).astype(np.float32)
    labels = np.zeros(image.shape, np.uint8)
    labels[2:6, 20:26, 1:4] = 1  # a box far off the volume's centre
    picture = preview_picture(image, labels, np.diag([1.0, 1.0, 3.0, 1.0]), gap=4)
    # rows: axial 30 (y) x 2*20, coronal 30 (z: 10 at 3 mm -> 30 px) x 2*20, sagittal 30 x 2*30 (+ gaps)
    assert picture.dtype == np.uint8 and picture.shape == (30 + 4 + 30 + 4 + 30, 2 * 30 + 4, 3)
    # every view cuts the box: each row shows label colour, in its overlay half only
    for top in (0, 34, 68):
        row = _coloured(picture[top : top + 30])
        assert row.any(), top
    assert not _coloured(picture[:30, :20]).any(), "the left tile is the plain image"


def test_empty_labels_use_the_volume_centre_and_lps_is_shown_as_ras():
    image = np.zeros((8, 6, 4), np.float32)
    image[0] = 1.0  # bright at index x = 0
    empty = preview_picture(image, np.zeros(image.shape, np.uint8), np.diag([-1.0, -1.0, 1.0, 1.0]))
    assert not _coloured(empty).any()
    ras = preview_picture(image[::-1].copy(), np.zeros(image.shape, np.uint8), np.diag([1.0, -1.0, 1.0, 1.0]))
    # LPS index 0 is the rightmost x; flipped to RAS it is the same picture as the RAS array with it last
    assert np.array_equal(empty, ras)


def test_two_dimensional_input_gives_one_row():
    picture = preview_picture(
        np.ones((12, 7), np.float32), np.eye(12, 7, dtype=np.uint8), np.diag([1.0, 1.0, 1.0, 1.0])
    )
    assert picture.shape == (7, 2 * 12 + 4, 3)
    with pytest.raises(ValueError, match="one shape"):
        preview_picture(np.ones((4, 4)), np.ones((4, 5)))


def test_predict_preview_writes_a_png_beside_each_output(tmp_path, threshold_model):
    image, mask = blob_image((26, 24, 18), AFFINES["lps"])
    source = write_nifti(tmp_path / "in" / "case.nii.gz", image, AFFINES["lps"])
    out = tmp_path / "out"
    args = ["predict", str(source), "--output-dir", str(out), "--model", str(threshold_model), "--no-progress"]
    assert cli([*args, "--preview", *THRESHOLD_SET]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["case_preview.png", "case_qc.json", "case_seg.nii.gz"]
    picture = _read_png(out / "case_preview.png")
    labels = np.asarray(nib.load(out / "case_seg.nii.gz").dataobj)
    expected = preview_picture(image, labels, AFFINES["lps"])
    assert np.array_equal(picture, expected), "the picture is the written labels over the input as read"
    assert _coloured(picture).any(), "the blob is drawn"
    assert json.loads((out / "case_qc.json").read_text())["classes"]["class_1"]["voxels"] == int((labels == 1).sum())


def test_no_qc_writes_only_the_labels_and_contradictions_are_refused(tmp_path, threshold_model, capsys):
    image, _ = blob_image((18, 17, 16), np.eye(4))
    source = write_nifti(tmp_path / "in" / "case.nii.gz", image, np.eye(4))
    out = tmp_path / "out"
    args = ["predict", str(source), "--output-dir", str(out), "--model", str(threshold_model), "--no-progress"]
    assert cli([*args, "--no-qc", *THRESHOLD_SET]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["case_seg.nii.gz"]
    assert cli([*args, "--no-qc", "--uncertainty", *THRESHOLD_SET]) == 2
    assert "--no-qc contradicts" in capsys.readouterr().err
