"""SimpleITKReader: NRRD / MetaImage in MONAI's (x, y, z) + RAS-affine convention, the same as nibabel's NIfTI."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK
from monai.transforms import LoadImage
from monai_unet_bundle.prediction import SimpleITKReader
from tests.prediction.conftest import AFFINES, write_sitk


@pytest.mark.parametrize("name", ["lps", "lsa", "oblique"])
def test_nrrd_reads_like_the_same_image_as_nifti(tmp_path, name):
    affine = AFFINES[name]
    image = np.random.default_rng(0).normal(size=(7, 6, 5)).astype(np.float32)
    nrrd = write_sitk(tmp_path / "a.nrrd", image, affine)
    nifti = tmp_path / "a.nii.gz"
    SimpleITK.WriteImage(SimpleITK.ReadImage(str(nrrd)), str(nifti))  # ITK's own NIfTI, read back by nibabel below
    ours = LoadImage(image_only=True, reader=SimpleITKReader())(str(nrrd))
    reference = LoadImage(image_only=True, reader="NibabelReader")(str(nifti))
    assert ours.shape == image.shape and np.allclose(ours.numpy(), image)
    assert np.allclose(ours.affine.numpy(), affine, atol=1e-5)
    assert np.allclose(ours.affine.numpy(), reference.affine.numpy(), atol=1e-5)
    assert np.allclose(ours.numpy(), reference.numpy())


def test_nifti_is_left_to_nibabel_and_errors_name_the_file(tmp_path):
    reader = SimpleITKReader()
    assert reader.verify_suffix("x.mha") and reader.verify_suffix("x.NRRD") and not reader.verify_suffix("x.nii.gz")
    bad = tmp_path / "bad.mha"
    bad.write_text("not an image")
    with pytest.raises(OSError, match="bad.mha"):
        reader.read(str(bad))
