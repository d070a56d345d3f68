"""Training caches sized from the image headers before anything is read (fit_cache_rate in configs/train.yaml)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from monai.bundle import ConfigParser
from monai_unet_bundle.checks import estimate_cache_memory, fit_cache_rate
from tests.conftest import CONFIGS, write_nifti

#: a 40 x 30 x 20 volume at 1 mm is 20 x 15 x 10 voxels at 2 mm: 3000 voxels, 5 bytes each in the cache
CACHED_BYTES = 3000 * 5


def _items(folder, count: int = 3) -> list[dict]:
    items = []
    for index in range(count):
        image = write_nifti(folder / f"case{index}.nii.gz", np.zeros((40, 30, 20), np.float32), np.eye(4))
        items.append({"image": str(image), "label": str(image)})
    return items


def test_estimate_is_float_image_plus_uint8_label_on_the_training_grid(tmp_path):
    items = _items(tmp_path) + [{"image": str(tmp_path / "missing.nii.gz")}]
    assert estimate_cache_memory(items, [2.0, 2.0, 2.0]) == [CACHED_BYTES] * 3 + [None]
    assert estimate_cache_memory(items[:1], [2.0], in_channels=2) == [3000 * 9]


def test_cache_rate_is_kept_when_the_cache_fits(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert fit_cache_rate(_items(tmp_path), 1.0, [2.0] * 3, limit_gb=1.0) == 1.0
        assert fit_cache_rate(_items(tmp_path), 0.0, [2.0] * 3, limit_gb=1e-9) == 0.0
    assert caplog.records == []


def test_cache_rate_is_lowered_to_what_fits_with_a_warning(tmp_path, caplog):
    # half of the limit holds two cached volumes, not three
    limit_gb = 2 * (2.5 * CACHED_BYTES) / 1024**3
    with caplog.at_level(logging.WARNING):
        rate = fit_cache_rate(_items(tmp_path), 1.0, [2.0] * 3, limit_gb=limit_gb)
    assert rate == pytest.approx(2 / 3)
    message = caplog.records[-1].getMessage()
    assert "caching 3 training volumes at pixdim (2.0, 2.0, 2.0) mm needs about 43.9 KiB" in message
    assert "caching the first 2 (cache_rate 0.667)" in message


def test_processes_of_one_node_share_the_budget(tmp_path, monkeypatch):
    limit_gb = 2 * (3.5 * CACHED_BYTES) / 1024**3
    assert fit_cache_rate(_items(tmp_path), 1.0, [2.0] * 3, limit_gb=limit_gb) == 1.0
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert fit_cache_rate(_items(tmp_path), 1.0, [2.0] * 3, limit_gb=limit_gb) == pytest.approx(1 / 3)


def test_train_config_caches_only_what_fits(tmp_path, synthetic_dir):
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "train.yaml"))
    parser.update({"bundle_root": str(tmp_path), "dataset_dir": str(synthetic_dir), "memory_limit_gb": 1e-9})
    assert parser.get_parsed_content("train#dataset").cache_num == 0
    parser.update({"memory_limit_gb": None})
    dataset = parser.get_parsed_content("train#dataset", lazy=False)
    assert dataset.cache_num == len(dataset.data) == 3
