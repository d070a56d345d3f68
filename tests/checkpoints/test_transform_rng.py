"""TransformRandomState: a restored chain continues the random transforms' own streams, nested ones included."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from monai.transforms import Compose, RandCropByLabelClassesd, RandScaleIntensityd, ScaleIntensityd
from monai_unet_bundle.checkpoints import TransformRandomState


def _chain(seed: int) -> Compose:
    chain = Compose(
        [
            ScaleIntensityd(keys="image"),
            RandCropByLabelClassesd(
                keys=["image", "label"], label_key="label", spatial_size=[4, 4], num_classes=2, num_samples=2
            ),
            RandScaleIntensityd(keys="image", factors=0.5, prob=1.0),
        ]
    )
    chain.set_random_state(seed)
    return chain


def _draws(chain: Compose, n: int = 3) -> list[np.ndarray]:
    image = torch.arange(256.0).reshape(1, 16, 16)
    label = (torch.rand(1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    return [np.asarray(out["image"]) for _ in range(n) for out in chain({"image": image, "label": label})]


def test_restored_chain_continues_the_streams():
    original = _chain(seed=1)
    _draws(original)
    buffer = io.BytesIO()
    torch.save(TransformRandomState(original).state_dict(), buffer)
    expected = _draws(original)

    fresh = _chain(seed=99)  # as a resumed run's data loader seeds it
    buffer.seek(0)
    TransformRandomState(fresh).load_state_dict(torch.load(buffer, weights_only=True))
    got = _draws(fresh)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    # the nested cropper has its own generator: it is among the states
    assert len(TransformRandomState(fresh).state_dict()["states"]) == 5


def test_a_different_chain_is_an_error():
    state = TransformRandomState(_chain(seed=1)).state_dict()
    with pytest.raises(ValueError, match="random states for 5 random transforms, this chain has 1"):
        TransformRandomState(Compose([ScaleIntensityd(keys="image")])).load_state_dict(state)
