"""`mirror_axes`: training patches flipped at random along chosen axes (nnU-Net's mirroring), none by default."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
from monai.bundle import ConfigParser
from monai.transforms import RandFlipd
from monai.utils import set_determinism
from tests.conftest import CONFIGS

OVERRIDES = {"train.yaml": [], "deepedit": ["deepedit/train.yaml"], "unet_valid": ["unet_valid.yaml"]}


def _parser(extra: list[str], **overrides) -> ConfigParser:
    parser = ConfigParser(ConfigParser.load_config_files([str(CONFIGS / f) for f in ["train.yaml", *extra]]))
    parser.update(overrides)
    return parser


@pytest.mark.parametrize("name", list(OVERRIDES))
def test_no_mirroring_by_default_and_one_flip_per_axis_when_asked(name):
    default = _parser(OVERRIDES[name]).get_parsed_content("train#preprocessing#transforms")
    assert not any(isinstance(t, RandFlipd) for t in default), "the published figures were trained without mirroring"
    asked = _parser(OVERRIDES[name], mirror_axes=[0, 2]).get_parsed_content("train#preprocessing#transforms")
    flips = [t for t in asked if isinstance(t, RandFlipd)]
    assert [f.flipper.spatial_axis for f in flips] == [0, 2]
    assert all(f.prob == 0.5 and list(f.keys) == ["image", "label", "weight"] for f in flips)


def test_patches_come_out_both_ways_with_image_and_label_flipped_together(tmp_path):
    """A real NIfTI whose label is a block in the left half of axis 0: with mirror_axes [0], the training pipeline
    gives patches with the block on either side, and the label stays on the image's bright voxels."""
    shape = (16, 16, 16)
    image = np.zeros(shape, np.float32)
    image[2:6, 4:12, 4:12] = 100.0
    label = (image > 0).astype(np.uint8)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    nib.save(nib.Nifti1Image(image + np.random.default_rng(0).random(shape, np.float32), affine), tmp_path / "i.nii.gz")
    nib.save(nib.Nifti1Image(label, affine), tmp_path / "l.nii.gz")
    parser = _parser(
        [], mirror_axes=[0], num_classes=2, class_ratios=[1, 1], roi_size=list(shape), num_samples=1, amp=False
    )
    transform = parser.get_parsed_content("train#preprocessing")
    set_determinism(seed=0)
    sides = set()
    try:
        for _ in range(20):
            item = transform({"image": str(tmp_path / "i.nii.gz"), "label": str(tmp_path / "l.nii.gz")})
            item = item[0] if isinstance(item, list) else item
            img, lab = np.asarray(item["image"])[0], np.asarray(item["label"])[0]
            bright = img > 0.5 * img.max()
            np.testing.assert_array_equal(lab.astype(bool), bright)
            sides.add("low" if lab[:8].sum() > lab[8:].sum() else "high")
    finally:
        set_determinism(seed=None)
    assert sides == {"low", "high"}
