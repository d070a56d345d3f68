"""The fitted softmax temperature at inference: read beside the model, checked against it, applied before softmax."""

from __future__ import annotations

import hashlib
import json
import logging

import nibabel as nib
import numpy as np
import pytest
import torch
from monai_unet_bundle.__main__ import main as cli
from monai_unet_bundle.prediction import TemperatureScaled, read_temperature
from scipy import ndimage
from tests.prediction.conftest import AFFINES, THRESHOLD_SET, blob_image


def _write_temperature(model, temperature: float, sha256: str | None = None):
    path = model.parent / "temperature.json"
    digest = sha256 or hashlib.sha256(model.read_bytes()).hexdigest()
    path.write_text(json.dumps({"temperature": temperature, "model_sha256": digest}))
    return path


def test_read_temperature_missing_matching_foreign_and_broken(tmp_path, threshold_model, caplog):
    caplog.set_level(logging.INFO)
    path = threshold_model.parent / "temperature.json"
    assert read_temperature(path, threshold_model) == 1.0
    assert f"no temperature file {path}" in caplog.text
    assert read_temperature(None, threshold_model) == 1.0

    _write_temperature(threshold_model, 2.5)
    assert read_temperature(path, threshold_model) == 2.5

    _write_temperature(threshold_model, 2.5, sha256="0" * 64)
    caplog.clear()
    assert read_temperature(path, threshold_model) == 1.0
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1 and str(path) in warning[0] and str(threshold_model) in warning[0]

    path.write_text("{not json")
    with pytest.raises(ValueError, match=f"{path} is not a temperature file"):
        read_temperature(path, threshold_model)
    path.write_text(json.dumps({"temperature": -1.0}))
    with pytest.raises(ValueError, match="> 0"):
        read_temperature(path, threshold_model)


def test_transform_divides_the_logits_and_keeps_the_argmax():
    logits = torch.randn(3, 5, 6, 7, generator=torch.Generator().manual_seed(0)) * 4
    with torch.inference_mode():  # the inferer's stitched logits may be inference tensors
        frozen = logits.clone()
    out = TemperatureScaled(keys="pred", temperature=2.0)({"pred": frozen})
    assert torch.allclose(out["pred"], logits / 2.0) and out["temperature"] == 2.0
    assert torch.equal(out["pred"].argmax(0), logits.argmax(0))
    unchanged = TemperatureScaled(keys="pred")({"pred": logits.clone()})
    assert torch.equal(unchanged["pred"], logits) and unchanged["temperature"] == 1.0


def test_predict_applies_the_temperature_beside_the_model(tmp_path, threshold_model):
    """Same labels; softer probabilities and a lower QC confidence with T = 4; a foreign file is not applied."""
    image, _ = blob_image((26, 24, 18), AFFINES["oblique"])
    source = tmp_path / "in" / "case.nii.gz"
    source.parent.mkdir()
    nib.save(nib.Nifti1Image(image, AFFINES["oblique"]), str(source))
    common = [str(source), "--model", str(threshold_model), "--save-probabilities", "--no-progress", *THRESHOLD_SET]

    def predict(name: str) -> tuple[np.ndarray, np.ndarray, dict]:
        out = tmp_path / name
        assert cli(["predict", *common, "--output-dir", str(out)]) == 0
        assert sorted(p.name for p in out.iterdir()) == ["case_prob.nii.gz", "case_qc.json", "case_seg.nii.gz"]
        labels = np.asarray(nib.load(out / "case_seg.nii.gz").dataobj)
        return labels, nib.load(out / "case_prob.nii.gz").get_fdata(), json.loads((out / "case_qc.json").read_text())

    plain_labels, plain_p, plain_qc = predict("plain")
    _write_temperature(threshold_model, 4.0)
    labels, p, qc = predict("calibrated")
    assert plain_qc["softmax_temperature"] == 1.0 and qc["softmax_temperature"] == 4.0
    # argmax of softmax(l / T) is that of l on the network grid; the trilinear resampling of the probabilities to
    # the input grid may move voxels on the label border, and only there
    changed = labels != plain_labels
    border = ndimage.binary_dilation(plain_labels == 1) & ~ndimage.binary_erosion(plain_labels == 1)
    assert changed.mean() < 0.005 and not (changed & ~border).any()
    assert p.max(-1).mean() < plain_p.max(-1).mean() - 0.05
    assert qc["confidence"] < plain_qc["confidence"]

    # fitted for another model file: not applied (the warning's text: test_read_temperature_... above)
    _write_temperature(threshold_model, 4.0, sha256="f" * 64)
    foreign_labels, foreign_p, foreign_qc = predict("foreign")
    assert foreign_qc["softmax_temperature"] == 1.0 and np.array_equal(foreign_p, plain_p)
    assert np.array_equal(foreign_labels, plain_labels)
