"""The QC report and uncertainty map of predict, on real files with the threshold model (known labels)."""

from __future__ import annotations

import hashlib
import io
import json

import nibabel as nib
import numpy as np
from monai_unet_bundle.__main__ import main as cli
from monai_unet_bundle.prediction import BatchReport
from tests.prediction.conftest import AFFINES, THRESHOLD_SET, blob_image


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_qc_json_and_uncertainty_map_describe_the_written_prediction(tmp_path, threshold_model, capsys):
    image, _ = blob_image((30, 28, 20), AFFINES["lps"])
    source = tmp_path / "in" / "case.nii.gz"
    source.parent.mkdir()
    nib.save(nib.Nifti1Image(image, AFFINES["lps"]), str(source))
    out = tmp_path / "out"
    args = ["predict", str(source), "--output-dir", str(out), "--model", str(threshold_model), "--no-progress"]
    assert cli([*args, "--uncertainty", "--qc-threshold", "0.9999", *THRESHOLD_SET]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["case_qc.json", "case_seg.nii.gz", "case_uncertainty.nii.gz"]

    labels = np.asarray(nib.load(out / "case_seg.nii.gz").dataobj)
    report = json.loads((out / "case_qc.json").read_text())
    voxels = int((labels == 1).sum())
    assert voxels > 0 and report["classes"]["class_1"]["voxels"] == voxels
    assert report["classes"]["class_1"]["volume_ml"] == round(voxels * 1.5 * 2.0 * 3.0 / 1000, 3)
    mean_p = report["classes"]["class_1"]["mean_max_probability"]
    assert 0.5 < report["classes"]["class_1"]["p5_max_probability"] <= mean_p <= 1.0
    assert report["confidence"] == mean_p and 0.0 <= report["uncertain_fraction"] <= 1.0
    assert report["input"]["sha256"] == _sha256(source) and report["input"]["shape"] == [30, 28, 20]
    assert report["input"]["orientation"] == "LPS" and report["input"]["spacing_mm"] == [1.5, 2.0, 3.0]
    assert report["model"]["sha256"] == _sha256(threshold_model)
    assert set(report["versions"]) >= {"monai", "torch", "monai-unet-bundle"}

    uncertainty = nib.load(out / "case_uncertainty.nii.gz")
    assert uncertainty.get_data_dtype() == np.uint16 and uncertainty.shape == labels.shape
    assert np.allclose(uncertainty.affine, AFFINES["lps"], atol=1e-5)
    values = uncertainty.get_fdata()  # scaled back to [0, 1]
    assert 0.0 <= values.min() and values.max() <= 1.0
    # the most uncertain voxels are at the blob's edge, where the labels change
    edge = np.abs(np.diff(labels.astype(np.int8), axis=0)) > 0
    assert values[1:][edge].mean() > values[1:][~edge].mean()
    # confidence below --qc-threshold: the case is listed in the summary
    assert f"low confidence ({mean_p:.3f} < 0.9999): {source}" in capsys.readouterr().out


def test_the_summary_lists_low_confidence_cases_first_least_confident_first():
    stream = io.StringIO()
    report = BatchReport(stream=stream, qc_threshold=0.8)
    for source, confidence in (("a", 0.95), ("b", 0.61), ("c", 0.79)):
        report.add_done(source)
        report.add_quality(source, confidence)
    report.finish()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("inference: 3 done")
    assert lines[1:] == ["  low confidence (0.610 < 0.8): b", "  low confidence (0.790 < 0.8): c"]
