"""The literal `python -m monai.bundle run` commands of the README, in subprocesses, on small NIfTI files."""

from __future__ import annotations

import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
from tests.conftest import REPO, TINY_TRAIN, cli_overrides, write_nifti


def _bundle_run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", *args]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_train_then_infer_with_the_cli(tmp_path, synthetic_dir):
    _bundle_run(
        "--config_file",
        "configs/train.yaml",
        "--bundle_root",
        str(tmp_path),
        "--dataset_dir",
        str(synthetic_dir),
        "--mirror_axes",  # the README's left-right mirroring, as the shell passes it
        "[0]",
        *cli_overrides(TINY_TRAIN),
    )
    assert (tmp_path / "models" / "model.pt").is_file()
    assert any((tmp_path / "eval").glob("events.out.tfevents.*")), "TensorBoard logs are written"

    inputs = tmp_path / "in"
    sources = {
        "lps_case": write_nifti(
            inputs / "lps_case.nii.gz",
            np.random.default_rng(1).normal(size=(21, 18, 15)).astype(np.float32),
            np.diag([-1.0, -1.0, 2.5, 1.0]),
        ),
        "int_case": write_nifti(
            inputs / "int_case.nii",
            np.arange(16 * 16 * 9, dtype=np.int16).reshape(16, 16, 9),
            np.diag([2.0, 2.0, 2.0, 1.0]),
        ),
    }
    _bundle_run(
        "--config_file",
        "configs/inference.yaml",
        "--bundle_root",
        str(tmp_path),
        "--dataset_dir",
        str(inputs),
        "--output_dir",
        str(tmp_path / "out"),
        "--roi_size",
        "[24,24,24]",
        "--network_def#features",
        "[4,8,16,32]",
    )
    for name, path in sources.items():
        source, written = nib.load(path), nib.load(tmp_path / "out" / f"{name}_seg.nii.gz")
        assert written.shape == source.shape
        assert np.allclose(written.affine, source.affine, atol=1e-5)
        labels = np.asarray(written.dataobj)
        assert labels.dtype == np.uint8 and labels.max() <= 3
