import numpy as np
import torch
from monai_unet_bundle.transforms import SeparateTouchingObjects, SeparateTouchingObjectsd
from scipy import ndimage


def touching_squares():
    lab = np.zeros((1, 12, 16), np.uint16)
    lab[0, 2:8, 2:7] = 4
    lab[0, 2:8, 7:12] = 9
    return lab


def test_higher_id_loses_its_contact_column():
    out = SeparateTouchingObjects()(touching_squares())
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[0, 2:8, 7], 0)
    np.testing.assert_array_equal(out[0, 2:8, 6], 4)
    np.testing.assert_array_equal(out[0, 2:8, 8:12], 9)
    assert ndimage.label(out[0] > 0, structure=np.ones((3, 3)))[1] == 2  # separate even with 8-connectivity


def test_diagonal_contact_and_3d():
    lab = torch.zeros(1, 4, 4, 4, dtype=torch.int32)
    lab[0, :2, :2, :2] = 1
    lab[0, 2:, 2:, 2:] = 2  # touches object 1 only at a corner
    out = SeparateTouchingObjects()(lab)
    assert out[0, 2, 2, 2] == 0 and (out == 2).sum() == 7 and (out == 1).sum() == 8


def test_dict_masks_the_semantic_label_too():
    inst = touching_squares()
    data = {"instance": inst, "label": (inst > 0).astype(np.uint8)}
    out = SeparateTouchingObjectsd("instance", mask_keys="label")(data)
    np.testing.assert_array_equal(out["label"], (out["instance"] > 0).astype(np.uint8))
    assert out["label"].sum() == (inst > 0).sum() - 6
