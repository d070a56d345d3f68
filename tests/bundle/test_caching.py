"""Every training config caches its whole deterministic preprocessing: CacheDataset stops at the first transform
that is random or not a plain Transform (a nested Compose counts as random), so a config mistake silently turns
the cache off and reloads every volume every iteration."""

from __future__ import annotations

import pytest
from monai.bundle import ConfigParser
from monai.transforms import Compose, RandomizableTrait, Transform
from tests.conftest import CONFIGS

CONFIG_SETS = [
    ["train.yaml"],
    ["train.yaml", "u2net.yaml"],
    ["train.yaml", "ct_window.yaml"],
    ["train.yaml", "nuclei2d.yaml"],
    ["train.yaml", "u2net.yaml", "nuclei2d.yaml"],
    ["train.yaml", "unet_valid.yaml"],
]


def _first_random(compose: Compose) -> int:
    return compose.get_index_of_first(lambda t: isinstance(t, RandomizableTrait) or not isinstance(t, Transform))


@pytest.mark.parametrize("files", CONFIG_SETS, ids=["+".join(f.removesuffix(".yaml") for f in s) for s in CONFIG_SETS])
def test_the_cache_holds_every_deterministic_transform(files, tmp_path):
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / name) for name in files])
    parser.update({"bundle_root": str(tmp_path)})
    deterministic = parser.get_parsed_content("train#deterministic_transforms")
    preprocessing = parser.get_parsed_content("train#preprocessing")
    assert not any(isinstance(t, Compose) for t in deterministic), "nest no Compose: the cache would stop there"
    assert _first_random(preprocessing) == len(deterministic)
    validation = parser.get_parsed_content("validate#preprocessing")
    assert _first_random(validation) is None or _first_random(validation) == len(validation.transforms)
