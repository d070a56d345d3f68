"""The predict command and `monai.bundle run` on real files: geometry, failures, skipping, probabilities, sharding."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import SimpleITK
from monai.bundle import run
from monai_unet_bundle.__main__ import main as cli
from monai_unet_bundle.prediction.sitk_reader import sitk_affine_ras
from tests.conftest import CONFIGS, REPO, write_nifti
from tests.prediction.conftest import THRESHOLD_NET, THRESHOLD_SET, blob_image, dice

QUIET = ["--no-progress"]


def _predict(*args) -> int:
    return cli(["predict", *map(str, args), *QUIET])


def test_labels_come_back_in_each_input_geometry(tmp_path, oriented_inputs, threshold_model):
    out = tmp_path / "out"
    assert _predict(tmp_path / "in", "--output-dir", out, "--model", threshold_model, *THRESHOLD_SET) == 0
    for name, (path, affine, mask) in oriented_inputs.items():
        written = nib.load(out / f"{name}_seg.nii.gz")
        if path.suffix in (".nrrd", ".mha"):
            source = SimpleITK.ReadImage(str(path))
            shape, source_affine = (
                tuple(reversed(SimpleITK.GetArrayViewFromImage(source).shape)),
                sitk_affine_ras(source),
            )
        else:
            source = nib.load(path)
            shape, source_affine = source.shape, source.affine
        assert written.shape == shape, name
        assert np.allclose(written.affine, source_affine, atol=1e-4), (name, written.affine, source_affine)
        assert np.allclose(source_affine, affine, atol=1e-4)
        assert nib.aff2axcodes(written.affine) == nib.aff2axcodes(affine)
        assert written.get_data_dtype() == np.uint8
        labels = np.asarray(written.dataobj)
        # the ball comes back where it is in the input, through 2 mm resampling and back
        assert dice(labels == 1, mask) > 0.85, (name, dice(labels == 1, mask))


def test_both_entry_points_write_the_same_labels(tmp_path, oriented_inputs, tiny_unet_model):
    """`monai.bundle run` (in process, as its CLI calls it) and `predict` give byte-identical label maps."""
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("lsa", "sitk_nrrd"):
        source = oriented_inputs[name][0]
        (folder / source.name).write_bytes(source.read_bytes())
    tiny = {"roi_size": [24, 24, 24], "network_def#features": [4, 8, 16, 32], "progress": False}
    run(
        config_file=str(CONFIGS / "inference.yaml"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        bundle_root=str(REPO),
        ckpt_path=str(tiny_unet_model),
        dataset_dir=str(folder),
        output_dir=str(tmp_path / "bundle"),
        **tiny,
    )
    assert (
        _predict(
            folder,
            "--output-dir",
            tmp_path / "cli",
            "--model",
            tiny_unet_model,
            "--roi-size",
            "24",
            "24",
            "24",
            "--set",
            "network_def#features=[4,8,16,32]",
        )
        == 0
    )
    names = sorted(p.name for p in (tmp_path / "bundle").iterdir())
    assert names == ["lsa_qc.json", "lsa_seg.nii.gz", "sitk_nrrd_qc.json", "sitk_nrrd_seg.nii.gz"]
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == names
    for name in ("lsa_seg.nii.gz", "sitk_nrrd_seg.nii.gz"):
        a = np.asarray(nib.load(tmp_path / "bundle" / name).dataobj)
        b = np.asarray(nib.load(tmp_path / "cli" / name).dataobj)
        assert np.array_equal(a, b), name


def test_a_bad_file_amid_good_ones_is_reported_and_the_rest_is_done(tmp_path, threshold_model, capsys):
    folder = tmp_path / "in"
    for index in range(2):
        image, _ = blob_image((18, 17, 16), np.eye(4), seed=index)
        write_nifti(folder / f"good{index}.nii.gz", image, np.eye(4))
    whole = (folder / "good0.nii.gz").read_bytes()
    (folder / "broken.nii.gz").write_bytes(whole[: len(whole) // 2])  # a copy cut short
    missing = tmp_path / "gone.nrrd"
    status = _predict(folder, missing, "--output-dir", tmp_path / "out", "--model", threshold_model, *THRESHOLD_SET)
    assert status == 1
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "good0_qc.json",
        "good0_seg.nii.gz",
        "good1_qc.json",
        "good1_seg.nii.gz",
    ]
    stdout = capsys.readouterr().out
    assert re.search(r"2 done, 0 skipped \(output exists\), 2 failed", stdout), stdout
    failures = [line for line in stdout.splitlines() if line.startswith("  failed: ")]
    assert len(failures) == 2, stdout
    broken = next(line for line in failures if "broken.nii.gz" in line)
    assert re.search(r"EOFError: Compressed file ended", broken), broken  # the file and why
    assert re.search(rf"failed: {re.escape(str(missing))}: no such file", stdout)
    # the end-of-run summary says where the time went, stage by stage, for the volumes that were read
    stages = re.search(r"time per stage \(2 volume\(s\), [0-9.]+ s\): (.*)", stdout).group(1)
    names = [part.split(" ")[0] for part in stages.split(", ")]
    for stage in ("MemoryCheckedLoadImaged", "Orientationd", "Lambdad(Spacing)", "windows", "stitching"):
        assert stage in names, (stage, names)
    assert names.index("Orientationd") < names.index("windows") < names.index("InvertToInputd")
    # the QC report and the preview read the written segmentation, so they come after the writer
    assert names.index("InvertToInputd") < names.index("SavePredictiond") < names.index("QualityReportd")
    assert names[-1] == "SavePreviewd", names


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path, threshold_model, capsys):
    image, _ = blob_image((18, 17, 16), np.eye(4))
    write_nifti(tmp_path / "in" / "case.nii.gz", image, np.eye(4))
    target = tmp_path / "out" / "case_seg.nii.gz"
    target.parent.mkdir()
    target.write_bytes(b"an earlier result")
    args = [tmp_path / "in", "--output-dir", tmp_path / "out", "--model", threshold_model, *THRESHOLD_SET]
    assert _predict(*args) == 0
    assert target.read_bytes() == b"an earlier result"
    assert "0 done, 1 skipped" in capsys.readouterr().out
    assert _predict(*args, "--overwrite") == 0
    assert nib.load(target).shape == (18, 17, 16)


def test_probabilities_and_tta(tmp_path, oriented_inputs, threshold_model):
    args = ["--model", threshold_model, *THRESHOLD_SET, "--save-probabilities"]
    path = oriented_inputs["oblique"][0]
    assert _predict(path, "--output-dir", tmp_path / "plain", *args) == 0
    assert _predict(path, "--output-dir", tmp_path / "tta", *args, "--tta") == 0
    labels = np.asarray(nib.load(tmp_path / "plain" / "oblique_seg.nii.gz").dataobj)
    probabilities = nib.load(tmp_path / "plain" / "oblique_prob.nii.gz")
    assert probabilities.shape == (*labels.shape, 2) and probabilities.get_data_dtype() == np.uint8
    p = probabilities.get_fdata()  # uint8 on disk, scaled by 1/255 by the header
    assert p.min() >= 0.0 and p.max() <= 1.0 + 1e-6 and np.allclose(p.sum(-1), 1.0, atol=2.5 / 255)
    assert np.mean(p.argmax(-1) == labels) > 0.999
    # the threshold model is mirror-symmetric: TTA must not change its labels
    tta = np.asarray(nib.load(tmp_path / "tta" / "oblique_seg.nii.gz").dataobj)
    assert np.array_equal(tta, labels)


def test_tta_axes_reach_the_inferer_and_imply_tta(tmp_path, oriented_inputs):
    from monai.bundle import ConfigParser
    from monai_unet_bundle.prediction.predict import build_parser, overrides_from_args
    from tests.conftest import CONFIGS

    path = oriented_inputs["oblique"][0]
    overrides = overrides_from_args(
        build_parser().parse_args([str(path), "--output-dir", str(tmp_path), "--tta-axes", "0"])
    )
    assert overrides["tta"] is True and overrides["tta_axes"] == [0]
    plain = overrides_from_args(build_parser().parse_args([str(path), "--output-dir", str(tmp_path)]))
    assert plain["tta"] is False and "tta_axes" not in plain
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.yaml"))
    parser.update({"tta": True, "tta_axes": [0]})
    inferer = parser.get_parsed_content("inferer")
    assert inferer.tta and list(inferer.tta_axes) == [0]


def test_u2net_override_file(tmp_path, oriented_inputs):
    import torch
    from monai_unet_bundle.networks import U2Net

    torch.manual_seed(0)
    model = tmp_path / "u2net.pt"
    torch.save(U2Net(3, 1, 4, "lite").state_dict(), model)
    path = oriented_inputs["lps"][0]
    status = _predict(
        path,
        "--output-dir",
        tmp_path / "out",
        "--model",
        model,
        "--config",
        CONFIGS / "u2net.yaml",
        "--roi-size",
        "24",
        "24",
        "24",
    )
    assert status == 0
    written = nib.load(tmp_path / "out" / "lps_seg.nii.gz")
    assert written.shape == nib.load(path).shape


@pytest.mark.slow
def test_torchrun_processes_take_disjoint_shares(tmp_path, threshold_model):
    folder = tmp_path / "in"
    for index in range(4):
        image, _ = blob_image((16, 16, 16), np.eye(4), seed=index)
        write_nifti(folder / f"case{index}.nii.gz", image, np.eye(4))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "monai_unet_bundle",
        "predict",
        str(folder),
        "--output-dir",
        str(tmp_path / "out"),
        "--model",
        str(threshold_model),
        "--set",
        f"network_def={THRESHOLD_NET}",
        "--set",
        "num_classes=2",
        "--roi-size",
        "16",
        "16",
        "16",
        "--no-progress",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summaries = re.findall(r"\[rank (\d)/2\]: (\d+) done", result.stdout + result.stderr)
    assert sorted(rank for rank, _ in summaries) == ["0", "1"], result.stdout
    assert [int(done) for _, done in sorted(summaries)] == [2, 2]  # 4 inputs, each predicted exactly once
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"case{i}_{kind}" for i in range(4) for kind in ("qc.json", "seg.nii.gz")
    ]


@pytest.mark.parametrize("override_file", [False, True], ids=["auto-selected", "unet_valid.yaml"])
def test_valid_unet_is_tiled_overlap_tile_style(tmp_path, oriented_inputs, override_file):
    import torch
    from monai_unet_bundle.networks import UNet

    torch.manual_seed(0)
    model = tmp_path / "valid.pt"
    torch.save(UNet(3, 1, 4, features=(4, 8, 16), padding="valid").state_dict(), model)
    path = oriented_inputs["oblique"][0]
    if override_file:  # roi_size = the input patch for output_size; the default inferer tiles with it
        extra = ["--config", CONFIGS / "unet_valid.yaml", "--set", "output_size=12"]
    else:  # the default inferer notices the valid network; roi_size is the input patch
        extra = ["--roi-size", "60", "60", "60", "--set", "network_def#padding=valid"]
    status = _predict(
        path, "--output-dir", tmp_path / "out", "--model", model, "--set", "network_def#features=[4,8,16]", *extra
    )
    assert status == 0
    written = nib.load(tmp_path / "out" / "oblique_seg.nii.gz")
    assert written.shape == nib.load(path).shape and np.allclose(written.affine, nib.load(path).affine, atol=1e-4)
