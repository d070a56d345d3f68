import math

import numpy as np
import pytest
import SimpleITK
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai_unet_bundle.data.sources import package_file
from monai_unet_bundle.transforms import SeparateTouchingObjects, UNetWeightMap, UNetWeightMapd
from monai_unet_bundle.transforms.weight_map import unet_weight_map, unet_weight_map_reference
from scipy import ndimage

W0, SIGMA = 10.0, 5.0


def two_squares(gap: int) -> np.ndarray:
    """(1, 30, 40): object 1 at rows 10..19, cols 5..14; object 2 at rows 10..19 starting `gap` columns after it."""
    lab = np.zeros((1, 30, 40), np.int32)
    lab[0, 10:20, 5:15] = 1
    lab[0, 10:20, 15 + gap : 25 + gap] = 2
    return lab


def brute_force(labels: np.ndarray, w0: float, sigma: float) -> np.ndarray:
    """Border term by explicit pixel-to-pixel distances (no separation, w_c = 1); tiny images only."""
    coords = np.stack(np.indices(labels.shape), -1).reshape(-1, labels.ndim).astype(float)
    flat = labels.ravel()
    ids = [k for k in np.unique(flat) if k != 0]
    dists = [np.sqrt(((coords[:, None] - coords[flat == k][None]) ** 2).sum(-1)).min(1) for k in ids]
    out = np.ones(flat.shape)
    if len(ids) >= 2:
        two = np.sort(np.stack(dists), axis=0)[:2]
        out += np.where(flat == 0, w0 * np.exp(-((two[0] + two[1]) ** 2) / (2 * sigma**2)), 0.0)
    return out.reshape(labels.shape)


def test_ridge_between_two_squares_has_exact_weight():
    w = UNetWeightMap(W0, SIGMA, class_weights=None)(two_squares(gap=4))
    assert w.shape == (1, 30, 40) and w.dtype == np.float32
    ridge = 1 + W0 * math.exp(-(5.0**2) / (2 * SIGMA**2))  # every gap pixel: d1 + d2 = 5
    np.testing.assert_allclose(w[0, 10:20, 15:19], ridge, rtol=1e-6)
    # inside an object only w_c
    np.testing.assert_allclose(w[0, 12, 8], 1.0)
    # a corner pixel: d1 to (10, 14) of object 1 is sqrt(2), d2 to (10, 19) is 5 + ... = sqrt(1 + 16)
    d1, d2 = math.hypot(1, 1), math.hypot(1, 4)
    assert w[0, 9, 15] == pytest.approx(1 + W0 * math.exp(-((d1 + d2) ** 2) / (2 * SIGMA**2)), rel=1e-6)


def test_balanced_class_weights_have_unit_mean():
    lab = two_squares(gap=4)
    w = UNetWeightMap(w0=0.0, class_weights="balanced")(lab)
    assert w.mean() == pytest.approx(1.0, rel=1e-6)
    n_fg = (lab > 0).sum()
    assert w[lab > 0][0] / w[lab == 0][0] == pytest.approx((lab.size - n_fg) / n_fg)
    explicit = UNetWeightMap(w0=0.0, class_weights=(0.5, 3.0))(lab)
    assert set(np.unique(explicit).tolist()) == {0.5, 3.0}


def test_touching_squares_get_a_separation_border():
    lab = two_squares(gap=0)
    w = UNetWeightMap(W0, SIGMA, class_weights=None)(lab)
    # object 2 (the higher id) loses its first column; there d1 = d2 = 1
    np.testing.assert_allclose(w[0, 10:20, 15], 1 + W0 * math.exp(-4.0 / (2 * SIGMA**2)), rtol=1e-6)
    np.testing.assert_allclose(w[0, 10:20, 14], 1.0)  # object 1 keeps its pixels
    unseparated = UNetWeightMap(W0, SIGMA, class_weights=None, separate_touching=False)(lab)
    np.testing.assert_allclose(unseparated[0, 10:20, 14:16], 1.0)  # both sides foreground: no ridge


def test_semantic_mask_is_split_into_components():
    lab = two_squares(gap=4)
    np.testing.assert_array_equal(UNetWeightMap()(lab), UNetWeightMap()((lab > 0).astype(np.uint8)))


def test_non_consecutive_ids_are_fine():
    lab = two_squares(gap=3)
    relabelled = np.where(lab == 1, 1000, np.where(lab == 2, 7, 0))
    np.testing.assert_allclose(UNetWeightMap()(relabelled), UNetWeightMap()(lab))


def test_3d_known_answer():
    lab = np.zeros((1, 12, 12, 20), np.int16)
    lab[0, 3:9, 3:9, 2:8] = 1
    lab[0, 3:9, 3:9, 11:17] = 5
    w = UNetWeightMap(W0, SIGMA, class_weights=None)(torch.as_tensor(lab))
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float32
    # gap of 3 voxels along the last axis: d1 + d2 = 4 everywhere on it
    torch.testing.assert_close(w[0, 3:9, 3:9, 8:11], torch.full((6, 6, 3), 1 + W0 * math.exp(-16 / 50)))


def test_sigma_is_in_mm_for_metatensors():
    lab = two_squares(gap=4).astype(np.float32)
    meta = MetaTensor(torch.as_tensor(lab), affine=torch.diag(torch.tensor([2.0, 2.0, 1.0, 1.0])))
    in_mm = UNetWeightMap(W0, sigma=2 * SIGMA, class_weights=None)(meta)
    in_px = UNetWeightMap(W0, sigma=SIGMA, class_weights=None)(lab)
    assert isinstance(in_mm, MetaTensor)
    torch.testing.assert_close(in_mm.affine, meta.affine)
    np.testing.assert_allclose(in_mm.numpy(), in_px, rtol=1e-5)


def test_dictionary_version_and_bad_input():
    out = UNetWeightMapd(keys="instance", weight_key="w")({"instance": two_squares(4), "image": np.zeros((1, 30, 40))})
    assert out["w"].shape == (1, 30, 40) and "instance" in out
    with pytest.raises(ValueError, match="single-channel"):
        UNetWeightMap()(np.zeros((2, 8, 8)))
    with pytest.raises(ValueError, match="one source key"):
        UNetWeightMapd(keys=["a", "b"])


def test_no_or_one_object_gives_class_weights_only():
    empty = np.zeros((1, 16, 16), np.uint8)
    np.testing.assert_array_equal(UNetWeightMap()(empty), 1.0)
    one = two_squares(gap=4)
    one[one == 2] = 0
    w = UNetWeightMap(class_weights=None)(one)
    np.testing.assert_array_equal(w, 1.0)


def test_matches_reference_on_stardist_mask():
    mask = SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(package_file("stardist", "data/images/mask2d.tif"))))
    fast = unet_weight_map(mask, W0, SIGMA, "balanced")
    reference = unet_weight_map_reference(mask, W0, SIGMA, "balanced")
    assert np.abs(fast - reference).max() < 1e-3
    # the transform itself, on a channel-first tensor
    transformed = UNetWeightMap(W0, SIGMA, "balanced")(torch.as_tensor(mask[None].astype(np.int32)))
    np.testing.assert_array_equal(transformed[0].numpy(), fast)
    assert fast.max() > 5  # touching nuclei produce high-weight ridges


@settings(max_examples=15, deadline=None)
@given(
    shape=st.sampled_from([(9, 11), (14, 10), (6, 7, 8)]),
    n_seeds=st.integers(0, 6),
    seed=st.integers(0, 2**16),
    sigma=st.sampled_from([1.5, 3.0]),
)
def test_property_fast_equals_brute_force(shape, n_seeds, seed, sigma):
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.int32)
    for k in range(1, n_seeds + 1):  # random boxes, later ones overwrite earlier ones
        lo = [rng.integers(0, s - 1) for s in shape]
        hi = [min(s, a + rng.integers(1, 4)) for a, s in zip(lo, shape)]
        lab[tuple(slice(a, b) for a, b in zip(lo, hi))] = k
    fast = unet_weight_map(lab, W0, sigma, class_weights=None, separate_touching=False)
    np.testing.assert_allclose(fast, brute_force(lab, W0, sigma), atol=2e-4)
    separated = unet_weight_map(lab, W0, sigma, class_weights=None)
    np.testing.assert_allclose(separated, unet_weight_map_reference(lab, W0, sigma, class_weights=None), atol=2e-4)
    assert separated.min() >= 1.0 and separated.max() <= 1.0 + W0


def test_separation_leaves_no_touching_objects():
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 5, size=(1, 20, 20))
    sep = SeparateTouchingObjects()(lab)[0]
    grown = ndimage.maximum_filter(sep, size=3)
    shrunk = ndimage.minimum_filter(np.where(sep > 0, sep, 99), size=3)
    assert np.all((sep == 0) | ((grown == sep) & (shrunk == sep)))
