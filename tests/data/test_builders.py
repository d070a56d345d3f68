"""The embedded datasets are built from the real pip-installed files, with the documented content."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from monai_unet_bundle.data import brain3d, nuclei2d, synthetic
from monai_unet_bundle.data.__main__ import main as data_cli


@pytest.fixture(scope="module")
def brain3d_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "brain3d"
    brain3d.build(out)
    return out


def test_brain3d_hemispheres_are_disjoint_2mm_cases(brain3d_dir):
    manifest = json.loads((brain3d_dir / "dataset.json").read_text())
    assert manifest["labels"] == {"0": "background", "1": "csf", "2": "gray_matter", "3": "white_matter"}
    (train,), (val,) = manifest["training"], manifest["validation"]
    left, right = (nib.load(brain3d_dir / item["image"]) for item in (train, val))
    assert np.allclose(np.abs(np.diag(left.affine)[:3]), 2.0)
    # the two cases tile the 2 mm volume: right starts one voxel after left ends, on the world x = 0 plane
    left_end_x = (left.affine @ [left.shape[0] - 1, 0, 0, 1])[0]
    assert left_end_x < 0 < right.affine[0, 3]
    assert right.affine[0, 3] - left_end_x == pytest.approx(2.0)
    for item in (train, val):
        label = np.asarray(nib.load(brain3d_dir / item["label"]).dataobj)
        image = nib.load(brain3d_dir / item["image"])
        assert label.shape == image.shape
        counts = np.bincount(label.ravel(), minlength=4)
        assert counts.size == 4 and (counts > 1000).all(), counts


def test_brain3d_label_rule():
    brain = np.array([0.0, 1.0, 1.0, 1.0, 1.0])
    gm = np.array([0.9, 0.1, 0.7, 0.2, 0.4])
    wm = np.array([0.0, 0.1, 0.2, 0.7, 0.5])
    # outside the brain: background whatever GM says; CSF where GM + WM leave most of the brain unexplained
    assert brain3d.tissue_label(brain, gm, wm).tolist() == [0, 1, 2, 3, 3]


def test_nuclei2d_instances_and_touching_pairs(tmp_path):
    out = tmp_path / "nuclei2d"
    nuclei2d.build(out)
    manifest = json.loads((out / "dataset.json").read_text())
    assert sum(manifest["touching_pairs"].values()) == 21
    total = 0
    for item in manifest["training"] + manifest["validation"]:
        instances = np.asarray(nib.load(out / item["instance"]).dataobj)
        semantic = np.asarray(nib.load(out / item["label"]).dataobj)
        ids = np.unique(instances)
        assert ids.tolist() == list(range(int(ids.max()) + 1)), "instances are relabelled 1..N"
        assert np.array_equal(semantic, (instances > 0).astype(np.uint8))
        total += int(ids.max())
    # 125 nuclei; those crossing the cut between the parts count once per part
    assert 125 <= total <= 135


def test_touching_pairs_counts_4_connected_neighbours():
    instances = np.zeros((6, 6), dtype=np.int64)
    instances[0:2, 0:2] = 1
    instances[0:2, 2:4] = 2  # shares an edge with 1
    instances[2:4, 4:6] = 3  # touches 2 only at a corner: not 4-connected
    assert nuclei2d.touching_pairs(instances) == {(1, 2)}


def test_synthetic_is_reproducible(tmp_path):
    synthetic.build(tmp_path / "a", num_cases=2, size=16, seed=3)
    synthetic.build(tmp_path / "b", num_cases=2, size=16, seed=3)
    for name in ("imagesTr/sphere_000.nii.gz", "labelsTr/sphere_001.nii.gz"):
        a = np.asarray(nib.load(tmp_path / "a" / name).dataobj)
        b = np.asarray(nib.load(tmp_path / "b" / name).dataobj)
        assert np.array_equal(a, b)
    label = np.asarray(nib.load(tmp_path / "a/labelsTr/sphere_000.nii.gz").dataobj)
    assert set(np.unique(label).tolist()) == {0, 1, 2, 3}


def test_built_files_have_ordinary_permissions_and_no_leftovers(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        synthetic.build(tmp_path, num_cases=2, size=16, seed=3)
    finally:
        os.umask(umask)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in files), files
    assert not [p for p in files if p.name.startswith(".")]


def test_cli_refuses_to_overwrite_without_force(tmp_path, capsys):
    out = tmp_path / "synthetic"
    assert data_cli(["synthetic", "--out", str(out), "--num-cases", "2", "--size", "8"]) == 0
    assert data_cli(["synthetic", "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert data_cli(["synthetic", "--out", str(out), "--num-cases", "3", "--size", "8", "--force"]) == 0
    assert len(list((out / "imagesTr").iterdir())) == 3
