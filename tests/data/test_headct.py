"""headct: built from Debian's invesalius-examples (CI installs it; a missing file fails with the install hint)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest
from monai_unet_bundle.data import headct


@pytest.fixture(scope="module")
def headct_dir(tmp_path_factory):
    try:
        headct.source_file()
    except FileNotFoundError as error:
        pytest.fail(str(error))  # not a skip: CI must have the data (.ci/run installs the package)
    out = tmp_path_factory.mktemp("h") / "headct"
    headct.build(out)
    return out


def test_headct_halves_labels_and_geometry(headct_dir):
    manifest = json.loads((headct_dir / "dataset.json").read_text())
    assert manifest["modality"] == {"0": "CT"}
    assert manifest["labels"] == {"0": "background", "1": "soft_tissue", "2": "bone"}
    (train,), (val,) = manifest["training"], manifest["validation"]
    first, second = (nib.load(headct_dir / item["image"]) for item in (train, val))
    assert first.shape == second.shape == (128, 256, 108)
    assert np.allclose(first.header.get_zooms(), (0.957031, 0.957031, 1.5), atol=1e-5)
    # the second half starts where the first ends, along x
    assert second.affine[0, 3] == pytest.approx(first.affine[0, 3] + 128 * first.header.get_zooms()[0])
    for item in (train, val):
        hu = np.asarray(nib.load(headct_dir / item["image"]).dataobj)
        label = np.asarray(nib.load(headct_dir / item["label"]).dataobj)
        assert hu.dtype == np.int16 and hu.min() == -1024
        # InVesalius' masks are its HU thresholds: bone 226..3071, soft tissue -142..2986 without bone
        assert np.array_equal(label == 2, hu >= 226)
        assert np.array_equal(label == 1, (hu >= -142) & (hu < 226))
        assert set(np.unique(label).tolist()) == {0, 1, 2}


def test_missing_source_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(headct, "DEFAULT_PATH", tmp_path / "absent.inv3")
    monkeypatch.setattr(headct, "PACKAGE", "no-such-package-here")
    with pytest.raises(FileNotFoundError, match="apt-get install invesalius-examples"):
        headct.source_file()
