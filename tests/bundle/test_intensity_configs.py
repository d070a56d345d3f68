"""Intensity scaling is one config id (`scale_intensity`), MR percentiles by default, a CT window by override."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from tests.conftest import CONFIGS


def _scaling(*files: str, **overrides):
    parser = ConfigParser(ConfigParser.load_config_files([str(CONFIGS / f) for f in files]))
    parser.update(overrides)
    return parser


@pytest.mark.parametrize("config", ["train.yaml", "inference.yaml"])
def test_ct_window_maps_hounsfield_units(config):
    parser = _scaling(config, "ct_window.yaml", hu_window=[-100, 300])
    transform = parser.get_parsed_content("scale_intensity")
    hu = torch.tensor([[-1000.0, -100.0, 100.0, 300.0, 3000.0]])
    out = transform({"image": hu})["image"]
    np.testing.assert_allclose(np.asarray(out), [[0.0, 0.0, 0.5, 1.0, 1.0]], atol=1e-6)


@pytest.mark.parametrize("config", ["train.yaml", "inference.yaml"])
def test_default_is_mr_percentiles_used_by_the_pipeline(config):
    parser = _scaling(config)
    transform = parser.get_parsed_content("scale_intensity")
    assert type(transform).__name__ == "ScaleIntensityRangePercentilesd"
    image = torch.arange(1000, dtype=torch.float32).reshape(1, 10, 10, 10)
    out = np.asarray(transform({"image": image})["image"])
    assert out.min() == 0.0 and out.max() == 1.0
    # the pipeline uses that one id (training preprocessing, or inference preprocessing)
    key = "train#deterministic_transforms" if config == "train.yaml" else "preprocessing#transforms"
    assert "@scale_intensity" in parser.get(key)
