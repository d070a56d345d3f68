"""configs/u2net.yaml and configs/unet_valid.yaml merged after the lead's train.yaml / inference.yaml."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from monai.losses import DeepSupervisionLoss
from monai.transforms import CenterSpatialCropd
from monai_unet_bundle.networks import U2Net, UNet
from monai_unet_bundle.prediction import OverlapTileInferer, SegmentationInferer

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"

pytestmark = pytest.mark.skipif(
    not all((CONFIGS / f).is_file() for f in ("train.yaml", "inference.yaml")),
    reason="needs the lead's configs/train.yaml and configs/inference.yaml",
)


def _parser(base: str, override: str, **overrides) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / base), str(CONFIGS / override)])
    for k, v in overrides.items():
        parser[k] = v
    return parser


@pytest.mark.filterwarnings("ignore:Can't merge entry")
@pytest.mark.parametrize("base", ["train.yaml", "inference.yaml"])
def test_u2net_override_builds_the_lite_network_by_default(base):
    net = _parser(base, "u2net.yaml").get_parsed_content("network_def")
    assert isinstance(net, U2Net) and net.variant == "lite" and net.spatial_dims == 3


def test_u2net_override_full_variant_by_one_key():
    net = _parser("train.yaml", "u2net.yaml", u2net_variant="full").get_parsed_content("network_def")
    assert isinstance(net, U2Net) and net.variant == "full"


def test_u2net_override_trains_all_seven_outputs_with_deep_supervision():
    parser = _parser("train.yaml", "u2net.yaml", num_classes=3)
    loss = parser.get_parsed_content("train#trainer#loss_function")
    assert isinstance(loss, DeepSupervisionLoss) and loss.get_weights(7) == [1.0] * 7
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def").train()
    x = torch.rand(2, 1, 24, 20, 18)
    label = torch.randint(0, 3, (2, 1, 24, 20, 18))
    outs = net(x)
    total = loss(outs, label)
    single = loss.loss(outs[0], label)
    assert len(outs) == 7 and total > single  # the sum over seven supervised outputs
    total.backward()


@pytest.mark.filterwarnings("ignore:Can't merge entry")
def test_unet_valid_override_sizes_patch_label_and_tiles():
    parser = _parser("train.yaml", "unet_valid.yaml")
    net = parser.get_parsed_content("network_def")
    assert isinstance(net, UNet) and net.padding == "valid"
    roi = tuple(parser.get_parsed_content("roi_size"))
    out = net.valid_output_size(roi)  # raises if the patch were not a legal input size
    assert all(o >= parser.get_parsed_content("output_size") for o in out) and len(out) == 3
    crop = parser.get_parsed_content("train#preprocessing").transforms[-1]
    assert isinstance(crop, CenterSpatialCropd)
    sample = {"image": torch.rand(1, *roi), "label": torch.randint(0, 4, (1, *roi)), "weight": torch.rand(1, *roi)}
    sample = crop(sample)
    assert tuple(sample["label"].shape[1:]) == tuple(sample["weight"].shape[1:]) == out
    assert tuple(sample["image"].shape[1:]) == roi
    # validation shares inference's SegmentationInferer, which tiles a valid network overlap-tile style
    inferer = parser.get_parsed_content("validate#inferer")
    assert isinstance(inferer, SegmentationInferer) and tuple(inferer.roi_size) == roi
    tiles = inferer.overlap_tile(net)
    assert isinstance(tiles, OverlapTileInferer) and tuple(tiles.tile_size) == out


@pytest.mark.filterwarnings("ignore:Can't merge entry")
def test_unet_valid_override_in_2d_and_for_inference():
    parser = _parser("train.yaml", "unet_valid.yaml", spatial_dims=2)
    roi = tuple(parser.get_parsed_content("roi_size"))
    assert len(roi) == 2 and parser.get_parsed_content("network_def").valid_output_size(roi) == (44, 44)
    inference = _parser("inference.yaml", "unet_valid.yaml")
    net = inference.get_parsed_content("network_def")
    assert net.padding == "valid" and tuple(inference.get_parsed_content("roi_size")) == (84, 84, 84)


def _run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "monai.bundle", "run", *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    return log


@pytest.mark.slow
def test_unet_valid_trains_validates_and_infers_end_to_end(tmp_path, synthetic_dir):
    models = tmp_path / "models"
    small = ["--output_size", "12", "--network_def#features", "[4, 8, 16]"]  # 52^3 patches, 12^3 supervised
    train_log = _run(
        "--config_file", str([str(CONFIGS / "train.yaml"), str(CONFIGS / "unet_valid.yaml")]),
        "--dataset_dir", str(synthetic_dir), "--ckpt_dir", str(models), "--output_dir", str(tmp_path / "eval"),
        "--max_epochs", "1", "--epoch_length", "2", "--val_interval", "1", "--num_samples", "2",
        "--cache_rate", "0", *small,
    )  # fmt: skip
    assert re.search(r"val_mean_dice: [0-9.]+", train_log), train_log[-3000:]
    assert (models / "model.pt").is_file()
    out = tmp_path / "seg"
    _run(
        "--config_file", str([str(CONFIGS / "inference.yaml"), str(CONFIGS / "unet_valid.yaml")]),
        "--dataset_dir", str(synthetic_dir), "--ckpt_path", str(models / "model.pt"), "--output_dir", str(out),
        *small,
    )  # fmt: skip
    images = sorted((synthetic_dir / "imagesTr").glob("*.nii.gz"))
    assert images
    for image in images:
        seg = nib.load(out / image.name.replace(".nii.gz", "_seg.nii.gz"))
        assert seg.shape[:3] == nib.load(image).shape[:3]  # overlap-tile output covers the whole volume
        assert set(np.unique(np.asarray(seg.dataobj))) <= {0, 1, 2, 3}


@pytest.mark.slow
def test_u2net_trains_and_validates_end_to_end(tmp_path, synthetic_dir):
    log = _run(
        "--config_file", str([str(CONFIGS / "train.yaml"), str(CONFIGS / "u2net.yaml")]),
        "--dataset_dir", str(synthetic_dir), "--ckpt_dir", str(tmp_path / "models"),
        "--output_dir", str(tmp_path / "eval"), "--roi_size", "[24, 24, 24]", "--num_samples", "2",
        "--max_epochs", "1", "--epoch_length", "2", "--val_interval", "1", "--cache_rate", "0",
    )  # fmt: skip
    losses = [float(v) for v in re.findall(r"output=([0-9.]+)", log)]
    # Dice + CE of one freshly initialised 4-class output is about 2.2 (ln 4 + ~0.8); seven summed outputs exceed 7
    assert losses and losses[0] > 7, log[-3000:]
    # validation runs the network in eval mode: one tensor of fused logits through the sliding window
    assert re.search(r"val_mean_dice: [0-9.]+", log), log[-3000:]
