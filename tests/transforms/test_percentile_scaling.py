import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from monai_unet_bundle.transforms import ScaleIntensityRangePercentilesNonzero, ScaleIntensityRangePercentilesNonzerod


def masked_volume():
    rng = np.random.default_rng(0)
    vol = np.zeros((1, 20, 20, 20), np.float32)
    vol[0, 5:15, 5:15, 5:15] = rng.uniform(100.0, 200.0, size=(10, 10, 10))
    return vol


def test_percentiles_come_from_nonzero_voxels_only():
    vol = masked_volume()
    lo, hi = np.percentile(vol[vol != 0], [0.5, 99.5])
    out = ScaleIntensityRangePercentilesNonzero(0.5, 99.5, 0.0, 1.0, clip=True)(vol)
    assert out.dtype == np.float32
    inside = vol != 0
    np.testing.assert_allclose(out[inside], np.clip((vol[inside] - lo) / (hi - lo), 0, 1), rtol=1e-5, atol=1e-6)
    assert out[~inside].max() == 0.0  # background is below the lower percentile: clipped to b_min
    # whole-image percentiles (MONAI's behaviour) would map 0 to 0 and squash the foreground range
    whole = ScaleIntensityRangePercentilesNonzero(0.5, 99.5, 0.0, 1.0, clip=True, nonzero=False)(vol)
    assert whole[inside].min() > 0.4


def test_dict_metatensor_channel_wise_and_empty():
    vol = np.concatenate([masked_volume(), 3 * masked_volume()])
    img = MetaTensor(torch.as_tensor(vol), meta={"filename_or_obj": "t1.nii.gz"})
    out = ScaleIntensityRangePercentilesNonzerod("image", channel_wise=True)({"image": img})["image"]
    assert isinstance(out, MetaTensor) and out.meta["filename_or_obj"] == "t1.nii.gz"
    torch.testing.assert_close(out[0], out[1])
    empty = torch.zeros(1, 4, 4)
    torch.testing.assert_close(ScaleIntensityRangePercentilesNonzero()(empty), empty)
    with pytest.raises(ValueError, match="lower < upper"):
        ScaleIntensityRangePercentilesNonzero(99.0, 1.0)
