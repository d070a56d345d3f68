import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from monai.data import MetaTensor
from monai_unet_bundle.transforms import RandCoarseElastic, RandCoarseElasticd
from monai_unet_bundle.transforms.elastic import cubic_interpolation_matrix
from scipy import ndimage


def blocks(shape, n_labels=4, seed=0):
    """A label map of random boxes (ids 1..n_labels) with the given spatial shape, channel-first."""
    rng = np.random.default_rng(seed)
    lab = np.zeros(shape, np.int64)
    for k in range(1, n_labels + 1):
        lo = [int(rng.integers(0, s // 2)) for s in shape]
        hi = [a + int(rng.integers(s // 4, s // 2)) for a, s in zip(lo, shape)]
        lab[tuple(slice(a, b) for a, b in zip(lo, hi))] = k
    return lab[None]


def test_sigma_zero_is_identity():
    img = torch.rand(1, 20, 24)
    assert RandCoarseElastic(prob=1.0, sigma=0.0)(img) is img
    data = {"image": img, "label": torch.zeros(1, 20, 24)}
    out = RandCoarseElasticd(["image", "label"], prob=1.0, sigma=0.0)(data)
    assert out["image"] is img and out["label"] is data["label"]


def test_prob_zero_leaves_data_alone():
    img = np.random.default_rng(0).random((1, 10, 10, 10), dtype=np.float32)
    assert RandCoarseElastic(prob=0.0, sigma=10.0)(img) is img


def test_interpolation_matrix_hits_nodes_and_sums_to_one():
    m = cubic_interpolation_matrix(9, 3)
    torch.testing.assert_close(m.sum(1), torch.ones(9, dtype=torch.float64))
    torch.testing.assert_close(m[[0, 4, 8]], torch.eye(3, dtype=torch.float64))


def test_grid_passes_through_the_coarse_displacements():
    t = RandCoarseElastic(prob=1.0, grid_size=3, sigma=4.0)
    t.set_random_state(seed=3)
    t.randomize((9, 13))
    grid = t.sampling_grid((9, 13), torch.device("cpu"), torch.float64)[0]
    source = (grid.flip(-1) + 1.0) / torch.tensor([2.0 / 8, 2.0 / 12], dtype=torch.float64)  # back to pixels
    coarse = t._params[0]
    for a, i in enumerate((0, 4, 8)):
        for b, j in enumerate((0, 6, 12)):
            np.testing.assert_allclose(source[i, j].numpy(), np.array([i, j]) + coarse[:, a, b], atol=1e-9)


def test_label_values_preserved_and_image_aligned_2d():
    lab = blocks((64, 64))
    data = {"image": torch.as_tensor(lab, dtype=torch.float32), "label": lab.astype(np.uint16), "copy": lab.copy()}
    t = RandCoarseElasticd(["image", "label", "copy"], prob=1.0, sigma=6.0, mode=["bilinear", "nearest", "nearest"])
    t.set_random_state(seed=0)
    out = t(data)
    assert isinstance(out["label"], np.ndarray) and out["label"].dtype == np.uint16
    assert set(np.unique(out["label"])) <= set(np.unique(lab))
    assert not np.array_equal(out["label"], lab)  # it did deform
    np.testing.assert_array_equal(out["label"], out["copy"])  # one grid for every key
    # away from label edges the linearly interpolated image equals the label
    label = out["label"][0].astype(np.int64)
    flat = ndimage.maximum_filter(label, size=5) == ndimage.minimum_filter(label, size=5)
    np.testing.assert_allclose(out["image"][0].numpy()[flat], label[flat], atol=1e-4)


def test_same_seed_same_output():
    img = torch.rand(1, 32, 32)
    a = RandCoarseElastic(prob=1.0, sigma=5.0).set_random_state(seed=7)(img)
    b = RandCoarseElastic(prob=1.0, sigma=5.0).set_random_state(seed=7)(img)
    c = RandCoarseElastic(prob=1.0, sigma=5.0).set_random_state(seed=8)(img)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_rotation_by_90_degrees_is_exact():
    img = torch.arange(49.0).reshape(1, 7, 7)
    t = RandCoarseElastic(prob=1.0, sigma=0.0, rotate_range=[(math.pi / 2, math.pi / 2)], mode="nearest")
    out = t(img)[0]
    # source = centre + R (x - centre): out[i, j] = in[n - 1 - j, i]
    expected = img[0].flip(0).T
    torch.testing.assert_close(out, expected)


def test_3d_metatensor_and_scaling():
    lab = blocks((24, 20, 16), n_labels=3, seed=1)
    img = MetaTensor(torch.as_tensor(lab, dtype=torch.float32), affine=torch.diag(torch.tensor([2.0, 2.0, 3.0, 1.0])))
    t = RandCoarseElasticd(
        ["image", "label"], prob=1.0, sigma=3.0, rotate_range=0.2, scale_range=0.1, mode=["nearest", "nearest"]
    )
    t.set_random_state(seed=2)
    out = t({"image": img, "label": torch.as_tensor(lab)})
    assert isinstance(out["image"], MetaTensor) and out["image"].shape == (1, 24, 20, 16)
    torch.testing.assert_close(out["image"].affine, img.affine)
    assert out["label"].dtype == torch.int64
    torch.testing.assert_close(out["image"].as_tensor(), out["label"].float())
    assert set(out["label"].unique().tolist()) <= set(np.unique(lab).tolist())


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        RandCoarseElasticd("image", mode="cubic")
    with pytest.raises(ValueError, match="2D"):
        RandCoarseElastic(prob=1.0, mode="bicubic")(torch.rand(1, 8, 8, 8))
    with pytest.raises(ValueError, match="grid_size"):
        RandCoarseElastic(prob=1.0, grid_size=1)(torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="spatial shape"):
        RandCoarseElasticd(["a", "b"], prob=1.0)({"a": torch.rand(1, 8, 8), "b": torch.rand(1, 8, 9)})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_matches_cpu():
    lab = torch.as_tensor(blocks((32, 32, 32), seed=4), dtype=torch.float32)
    outs = []
    for device in ("cpu", "cuda"):
        t = RandCoarseElastic(prob=1.0, sigma=4.0, mode="bilinear").set_random_state(seed=5)
        outs.append(t(lab.to(device)).cpu())
    torch.testing.assert_close(outs[0], outs[1], atol=1e-4, rtol=1e-4)


@settings(max_examples=12, deadline=None)
@given(
    shape=st.sampled_from([(16, 20), (33, 17), (12, 10, 14)]),
    sigma=st.floats(0.5, 6.0),
    seed=st.integers(0, 2**16),
    grid_size=st.integers(2, 5),
)
def test_property_labels_preserved_and_keys_aligned(shape, sigma, seed, grid_size):
    lab = blocks(shape, n_labels=3, seed=seed)
    t = RandCoarseElasticd(["a", "b"], prob=1.0, grid_size=grid_size, sigma=sigma, mode="nearest")
    t.set_random_state(seed=seed)
    out = t({"a": torch.as_tensor(lab), "b": torch.as_tensor(lab, dtype=torch.float32) * 10})
    assert out["a"].shape == lab.shape
    assert set(out["a"].unique().tolist()) <= set(np.unique(lab).tolist())
    torch.testing.assert_close(out["a"].float() * 10, out["b"])
