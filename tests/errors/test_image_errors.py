"""Bad images (issue 9, part 1): each refused with a message naming the file, or handled, never silently wrong.

Covered elsewhere (docs/errors.md lists them): a missing path and a truncated .nii.gz in a batch
(tests/prediction/test_predict.py::test_a_bad_file_amid_good_ones_is_reported_and_the_rest_is_done), a missing file
listed in dataset.json (tests/data/test_datalist.py::test_missing_file_listed_in_manifest).
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import warnings

import nibabel as nib
import numpy as np
import pytest
import torch
from monai_unet_bundle.checks import CheckImage, ImageCheckError, InsufficientMemoryError, estimate_inference_memory
from tests.conftest import REPO, write_nifti
from tests.errors.conftest import AFFINE_2MM, TINY_PREDICT, config_part, failures, noise, predict, tiny_unet_file


def _good_and(tmp_path, name: str, array: np.ndarray | None = None, affine=AFFINE_2MM):
    """A folder with good.nii.gz and, when given, ``name`` holding ``array``."""
    folder = tmp_path / "in"
    write_nifti(folder / "good.nii.gz", noise(), AFFINE_2MM)
    if array is not None:
        write_nifti(folder / name, array, affine)
    return folder


def _outputs(tmp_path) -> list[str]:
    out = tmp_path / "out"
    return sorted(p.name for p in out.iterdir()) if out.is_dir() else []


@pytest.mark.slow
def test_unreadable_file(tmp_path):
    """A file without read permission fails with the OS's reason; the others are predicted."""
    folder = _good_and(tmp_path, "")
    locked = folder / "locked.nii.gz"
    write_nifti(locked, noise(seed=1), AFFINE_2MM)
    locked.chmod(0)
    model = tiny_unet_file(tmp_path / "model.pt")
    command = [
        sys.executable,
        "-m",
        "monai_unet_bundle",
        "predict",
        str(folder),
        "--output-dir",
        str(tmp_path / "out"),
        "--model",
        str(model),
        *TINY_PREDICT,
    ]
    if os.geteuid() == 0:  # root reads any file: drop the capabilities that bypass file permissions
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a file cannot be made unreadable")
        command = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *command]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    reason = failures(result.stdout)["locked.nii.gz"]
    assert (
        "UnreadableFileError" in reason
        and "locked.nii.gz: cannot be read: Permission denied (mode ----------" in reason
    ), reason
    assert _outputs(tmp_path) == ["good_qc.json", "good_seg.nii.gz"]


def test_non_image_file_named_nii_gz(tmp_path, tiny_model, capsys):
    folder = _good_and(tmp_path, "")
    (folder / "notes.nii.gz").write_text("patient list, not an image\n")
    (folder / "zipped.nii.gz").write_bytes(gzip.compress(b"gzip-compressed text, not NIfTI\n" * 20))
    assert predict(folder, "--output-dir", tmp_path / "out", "--model", tiny_model) == 1
    found = failures(capsys.readouterr().out)
    assert "is not a gzip file" in found["notes.nii.gz"], found
    assert "zipped.nii.gz" in found and found["zipped.nii.gz"], found
    assert _outputs(tmp_path) == ["good_qc.json", "good_seg.nii.gz"]


def test_4d_volume_where_3d_expected(tmp_path, tiny_model, capsys):
    folder = _good_and(tmp_path, "series.nii.gz", np.stack([noise(seed=s) for s in range(3)], axis=-1))
    assert predict(folder, "--output-dir", tmp_path / "out", "--model", tiny_model) == 1
    reason = failures(capsys.readouterr().out)["series.nii.gz"]
    expected = (
        "series.nii.gz: expected a 3D image with 1 channel (in_channels 1), found a 4D series of shape (16, 16, 16, 3)"
    )
    assert "ImageCheckError" in reason and expected in reason, reason
    assert _outputs(tmp_path) == ["good_qc.json", "good_seg.nii.gz"]


def test_wrong_channel_count_for_the_network(tmp_path, capsys):
    """A two-channel network (in_channels 2) given a single-channel volume."""
    folder = _good_and(tmp_path, "")
    model = tiny_unet_file(tmp_path / "two.pt", in_channels=2)
    assert predict(folder, "--output-dir", tmp_path / "out", "--model", model, "--set", "in_channels=2") == 1
    reason = failures(capsys.readouterr().out)["good.nii.gz"]
    assert "expected 2 channel(s) for the network (in_channels 2), found 1 (array shape (16, 16, 16))" in reason


@pytest.mark.parametrize("bad", ["nan", "inf"])
def test_nan_or_inf_intensities_refused_by_default(tmp_path, tiny_model, capsys, bad):
    array = noise(seed=2)
    array[3, 4, 5] = np.nan if bad == "nan" else np.inf
    folder = _good_and(tmp_path, "bad.nii.gz", array)
    assert predict(folder, "--output-dir", tmp_path / "out", "--model", tiny_model) == 1
    reason = failures(capsys.readouterr().out)["bad.nii.gz"]
    counts = "1 NaN, 0 +Inf and 0 -Inf" if bad == "nan" else "0 NaN, 1 +Inf and 0 -Inf"
    assert f"expected finite intensities, found {counts} of 4096 voxels" in reason, reason
    assert _outputs(tmp_path) == ["good_qc.json", "good_seg.nii.gz"]


def test_nan_or_inf_intensities_replaced_when_configured(tmp_path, tiny_model):
    array = noise(seed=2)
    array[0, 0, :3] = [np.nan, np.inf, -np.inf]
    folder = _good_and(tmp_path, "bad.nii.gz", array)
    with pytest.warns(RuntimeWarning, match=r"bad.nii.gz: replaced 1 NaN, 1 \+Inf and 1 -Inf of 4096 voxels"):
        status = predict(
            folder, "--output-dir", tmp_path / "out", "--model", tiny_model, "--set", "non_finite_intensities=replace"
        )
    assert status == 0
    assert _outputs(tmp_path) == ["bad_qc.json", "bad_seg.nii.gz", "good_qc.json", "good_seg.nii.gz"]
    # the replacement follows the finite range, so the scaled image stays finite and in [0, 1]
    scaled = config_part("inference.yaml", "preprocessing", non_finite_intensities="replace")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        image = scaled({"image": str(folder / "bad.nii.gz")})["image"]
    assert torch.isfinite(image).all() and image.min() >= 0 and image.max() <= 1


def test_all_constant_image(tmp_path, tiny_model):
    """Predicted (a blank export is valid input) with a warning naming the file; refusable with constant=error."""
    folder = _good_and(tmp_path, "blank.nii.gz", np.full((16, 16, 16), 7, np.int16))
    with pytest.warns(RuntimeWarning, match="blank.nii.gz: expected varying intensities, found the single value 7"):
        assert predict(folder, "--output-dir", tmp_path / "out", "--model", tiny_model) == 0
    assert _outputs(tmp_path) == ["blank_qc.json", "blank_seg.nii.gz", "good_qc.json", "good_seg.nii.gz"]
    with pytest.raises(ImageCheckError, match="found the single value 7 in every voxel"):
        CheckImage(constant="error")(torch.full((1, 4, 4, 4), 7.0))


INTEGER_TYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


@pytest.mark.parametrize("dtype", INTEGER_TYPES, ids=lambda t: t.__name__)
def test_integer_dtypes_of_any_width(tmp_path, dtype):
    """Stored integers of every width, full range: the inference preprocessing gives a float32 image in [0, 1]."""
    info = np.iinfo(dtype)
    array = np.random.default_rng(0).integers(info.min, info.max, size=(12, 11, 10), dtype=dtype, endpoint=True)
    path = tmp_path / f"{dtype.__name__}.nii.gz"
    image = nib.Nifti1Image(array, AFFINE_2MM, dtype=dtype)
    nib.save(image, path)
    assert nib.load(path).get_data_dtype() == dtype
    out = config_part("inference.yaml", "preprocessing")({"image": str(path)})["image"]
    assert out.dtype == torch.float32 and tuple(out.shape) == (1, 12, 11, 10)
    assert torch.isfinite(out).all() and out.min() == 0 and out.max() == 1
    # the check itself turns integer tensors (uint16 / uint32 / uint64 lack most torch operations) into float32
    raw = torch.from_numpy(array.astype(np.int64) if dtype == np.uint64 else array)[None]
    assert CheckImage()(raw).dtype == torch.float32


def test_volume_smaller_than_the_roi(tmp_path, tiny_model):
    """Padded to the 16^3 window by the sliding window, cropped back: the labels have the input's shape."""
    folder = tmp_path / "in"
    write_nifti(folder / "small.nii.gz", noise((9, 7, 5)), AFFINE_2MM)
    assert predict(folder, "--output-dir", tmp_path / "out", "--model", tiny_model) == 0
    written = nib.load(tmp_path / "out" / "small_seg.nii.gz")
    assert written.shape == (9, 7, 5) and np.allclose(written.affine, AFFINE_2MM)
    assert set(np.unique(np.asarray(written.dataobj)).tolist()) <= {0, 1, 2, 3}


def _header_only_nifti(path, shape) -> None:
    """A NIfTI whose header claims ``shape`` (int16, 1 mm) but holds a few bytes of voxel data."""
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.int16)
    header.set_zooms((1.0, 1.0, 1.0))
    header["vox_offset"] = 352
    header.set_sform(np.eye(4), code=1)
    path.write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 64)


def test_volume_too_large_for_memory(tmp_path, tiny_model, capsys):
    """Refused from its header before any voxel is read (the file holds almost no data: a read would fail
    differently), with the estimated need; the other files are predicted."""
    folder = _good_and(tmp_path, "")
    _header_only_nifti(folder / "huge.nii", (10000, 10000, 10000))
    assert predict(folder, "--output-dir", tmp_path / "out", "--model", tiny_model) == 1
    reason = failures(capsys.readouterr().out)["huge.nii"]
    need = estimate_inference_memory((10000,) * 3, (1.0,) * 3, (2.0,) * 3, in_channels=1, num_classes=4)
    assert InsufficientMemoryError.__name__ in reason and "refused before loading" in reason, reason
    assert f"needs at least {need / 1024**4:.1f} TiB" in reason and "(10000, 10000, 10000)" in reason, reason
    assert _outputs(tmp_path) == ["good_qc.json", "good_seg.nii.gz"]
    # the estimate: the image read (int -> float32) + 2 copies at 2 mm + 2 x 4 class maps + a count map + labels
    voxels, resampled = 10000**3, 5000**3
    assert need == 4 * (voxels + 2 * resampled + 9 * resampled) + voxels


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_memory_limit_is_configurable(tmp_path, tiny_model, capsys, suffix):
    """--memory_limit_gb replaces the memory available; NRRD / MetaImage headers are read through SimpleITK."""
    import SimpleITK

    folder = tmp_path / "in"
    folder.mkdir()
    image = SimpleITK.GetImageFromArray(noise((10, 12, 14)))  # SimpleITK arrays are (z, y, x)
    image.SetSpacing((2.0, 2.0, 2.0))
    SimpleITK.WriteImage(image, str(folder / f"case{suffix}"))
    args = [folder, "--output-dir", tmp_path / "out", "--model", tiny_model]
    assert predict(*args, "--set", "memory_limit_gb=0.00001") == 1
    reason = failures(capsys.readouterr().out)[f"case{suffix}"]
    need = estimate_inference_memory((14, 12, 10), (2.0,) * 3, (2.0,) * 3, in_channels=1, num_classes=4)
    assert (
        f"a volume of shape (14, 12, 10) at spacing (2.0, 2.0, 2.0) mm needs at least {need / 1024:.1f} KiB" in reason
        and "10.5 KiB is the limit (limit_gb)" in reason
    ), reason
    assert predict(*args, "--set", "memory_limit_gb=1") == 0  # a limit it fits in
