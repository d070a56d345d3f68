"""The output contract and its NIfTI writer: writes are whole or absent, a failure half-way through nib.save leaves
no output and no stray file; the contract names the files and decides what counts as done."""

from __future__ import annotations

import os
import stat

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai_unet_bundle.__main__ import main as cli
from monai_unet_bundle.prediction import NiftiWriter, PredictionOutput
from tests.conftest import write_nifti
from tests.prediction.conftest import THRESHOLD_SET, blob_image


def _half_then_fail(real_save):
    """nib.save that writes the first half of the real bytes to the given path, then fails like a full disk."""

    def save(image, path):
        real_save(image, path)
        data = open(path, "rb").read()
        with open(path, "wb") as handle:
            handle.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    return save


def _labels(shape=(6, 5, 4)) -> MetaTensor:
    return MetaTensor(
        torch.randint(0, 3, (1, *shape), dtype=torch.uint8),
        affine=torch.diag(torch.tensor([2.0, 2, 2, 1])),
        meta={"filename_or_obj": "case.nii.gz"},
    )


def _save(folder, labels):
    """What SavePredictiond does with the default contract: NIfTI <case>_seg.nii.gz."""
    output = PredictionOutput()
    return output.writer.write(labels, labels.meta, ["a", "b"], output.path(labels.meta["filename_or_obj"], folder))


def test_a_failure_mid_write_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(nib, "save", _half_then_fail(nib.save))
    with pytest.raises(OSError, match="No space left on device"):
        _save(tmp_path, _labels())
    assert list(tmp_path.iterdir()) == []  # neither case_seg.nii.gz nor the partial temporary file


def test_the_contract_names_the_output_and_what_is_done(tmp_path):
    output = PredictionOutput()
    assert output.path("/data/imagesTs/case.nrrd", tmp_path) == tmp_path / "case_seg.nii.gz"
    assert output.path("case.nii", tmp_path, "prob") == tmp_path / "case_prob.nii.gz"
    assert not output.done("/data/case.nii.gz", tmp_path)
    assert _save(tmp_path, _labels()) == [tmp_path / "case_seg.nii.gz"]
    assert output.done("/data/case.nii.gz", tmp_path)


def test_a_whole_write_lands_under_its_name_with_ordinary_permissions(tmp_path):
    labels = _labels()
    _save(tmp_path, labels)
    assert [p.name for p in tmp_path.iterdir()] == ["case_seg.nii.gz"]
    written = nib.load(tmp_path / "case_seg.nii.gz")
    assert np.array_equal(np.asarray(written.dataobj), labels[0].numpy())
    assert written.get_data_dtype() == np.uint8
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "case_seg.nii.gz").stat().st_mode) == 0o666 & ~umask


def test_scaling_is_written_but_never_inherited(tmp_path):
    probabilities = MetaTensor(
        torch.tensor([[[[0, 128, 255]]]], dtype=torch.uint8), meta={"filename_or_obj": "p.nii.gz", "scl_slope": 7.0}
    )
    NiftiWriter().write_probabilities(probabilities, probabilities.meta, tmp_path / "p_prob.nii.gz")
    values = nib.load(tmp_path / "p_prob.nii.gz").get_fdata().ravel()
    assert np.allclose(values, [0.0, 128 / 255, 1.0])


def test_predict_reports_the_failed_write_and_keeps_the_earlier_output(tmp_path, threshold_model, monkeypatch, capsys):
    image, _ = blob_image((16, 16, 16), np.eye(4))
    write_nifti(tmp_path / "in" / "case.nii.gz", image, np.eye(4))
    earlier = tmp_path / "out" / "case_seg.nii.gz"
    earlier.parent.mkdir()
    earlier.write_bytes(b"earlier result")
    monkeypatch.setattr(nib, "save", _half_then_fail(nib.save))
    status = cli(
        [
            "predict",
            str(tmp_path / "in"),
            "--output-dir",
            str(tmp_path / "out"),
            "--model",
            str(threshold_model),
            "--overwrite",
            "--no-progress",
            *THRESHOLD_SET,
        ]
    )
    assert status == 1
    assert "No space left on device" in capsys.readouterr().out
    assert [p.name for p in earlier.parent.iterdir()] == ["case_seg.nii.gz"]
    assert earlier.read_bytes() == b"earlier result"  # not replaced by half a file
