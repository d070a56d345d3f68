"""Small labelled NIfTI volumes and a writable bundle folder laid out the way MONAI Label's monaibundle app sees it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from tests.conftest import CONFIGS, write_nifti

#: the bundle files MONAI Label reads (configs/) besides the weights it loads and writes (models/model.pt)
BUNDLE_CONFIGS = ("inference.yaml", "train.yaml", "metadata.json", "logging.conf")
#: network size for tests; a config override MONAI Label users would not pass, applied on top of MONAI Label's own
TINY_NETWORK = {"network_def#features": [4, 8, 16, 32]}


def labelled_volume(shape: tuple[int, int, int], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A T1-like float image and its 4-class label map (0 background, 1..3 nested shells around a random centre)."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij"))
    centre = np.array([n / 2 for n in shape], dtype=np.float32) + rng.uniform(-1.5, 1.5, 3).astype(np.float32)
    radius = np.sqrt(((grid - centre[:, None, None, None]) ** 2).sum(0)) / (min(shape) / 2)
    label = np.select([radius < 0.35, radius < 0.6, radius < 0.85], [3, 2, 1], 0).astype(np.uint8)
    image = (np.array([0.0, 0.3, 0.6, 1.0], dtype=np.float32)[label] * 400 + rng.normal(0, 20, shape)).astype(
        np.float32
    )
    return image, label


@pytest.fixture(scope="session")
def monailabel_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """Image/label NIfTI pairs at 2 mm: ``case_0..2`` 20^3, ``small`` 12x14x10 (smaller than a 16^3 crop) and
    ``lps`` 22x18x15, LPS, anisotropic (1.5 x 2 x 3 mm), for inference in a geometry other than the network's."""
    folder = tmp_path_factory.mktemp("monailabel_cases")
    shapes = {"case_0": (20, 20, 20), "case_1": (20, 20, 20), "case_2": (20, 20, 20), "small": (12, 14, 10)}
    affines = {name: np.diag([2.0, 2.0, 2.0, 1.0]) for name in shapes}
    shapes["lps"], affines["lps"] = (22, 18, 15), np.diag([-1.5, -2.0, 3.0, 1.0])
    cases = {}
    for seed, (name, shape) in enumerate(shapes.items()):
        image, label = labelled_volume(shape, seed)
        cases[name] = {
            "image": str(write_nifti(folder / "images" / f"{name}.nii.gz", image, affines[name])),
            "label": str(write_nifti(folder / "labels" / f"{name}.nii.gz", label, affines[name])),
        }
    return cases


def make_bundle(folder: Path, seed: int = 0, batches_tracked: int = 0, network: dict | None = None) -> Path:
    """``folder`` as a bundle: copies of the configs and a ``models/model.pt``, a flat state_dict of ``network_def``
    with the ``network`` overrides (default: the tiny test network; ``{}`` for the configs' own).

    ``batches_tracked`` is written into every BatchNorm's ``num_batches_tracked``: a training run that starts from
    this file and writes it back shows ``batches_tracked + iterations`` there.
    """
    (folder / "configs").mkdir(parents=True, exist_ok=True)
    for name in BUNDLE_CONFIGS:
        shutil.copy2(CONFIGS / name, folder / "configs" / name)
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.yaml"))
    for key, value in (TINY_NETWORK if network is None else network).items():
        parser[key] = value
    torch.manual_seed(seed)
    state = parser.get_parsed_content("network_def", instantiate=True).state_dict()
    for key in state:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(batches_tracked)
    (folder / "models").mkdir(exist_ok=True)
    torch.save(state, folder / "models" / "model.pt")
    return folder
