"""configs/deepedit/train.yaml ``pretrained_automatic``: a click network warm-started from an automatic model.pt on
disk, built from the real configs with MONAI's parser."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser
from monai_unet_bundle.checkpoints import WarmStartError, warm_start_from_automatic
from monai_unet_bundle.checks import CheckpointFileError
from tests.conftest import CONFIGS

TINY = {"network_def#features": [4, 8, 16, 32], "class_names": ["csf", "gray_matter", "white_matter"]}
NETWORKS = {"unet": [], "u2net": ["u2net.yaml"]}


def parser(network: str, click: bool, overrides: dict) -> ConfigParser:
    files = [CONFIGS / "train.yaml", *(CONFIGS / f for f in NETWORKS[network])]
    files += [CONFIGS / "deepedit" / "train.yaml"] if click else []
    config = ConfigParser()
    config.read_config([str(f) for f in files])
    for key, value in {"device": "$torch.device('cpu')", "dataset_dir": "/nonexistent", **overrides}.items():
        config[key] = value
    return config


def automatic_model(path: Path, network: str, overrides: dict, seed: int = 1) -> torch.nn.Module:
    """An automatic network with non-trivial weights and BatchNorm statistics, saved as a flat state_dict."""
    torch.manual_seed(seed)
    model = parser(network, click=False, overrides=overrides).get_parsed_content("network_def", instantiate=True)
    with torch.no_grad():
        model.train()
        model(torch.randn(2, 1, 16, 16, 16))  # moves the BatchNorm running statistics off their defaults
    model.eval()
    torch.save(model.state_dict(), path)
    return model


@pytest.mark.parametrize("network", ["unet", "u2net"])
def test_the_click_network_starts_as_the_automatic_one(tmp_path, network):
    overrides = TINY if network == "unet" else {"class_names": TINY["class_names"]}
    automatic = automatic_model(tmp_path / "model.pt", network, overrides)
    torch.manual_seed(2)
    click = parser(network, click=True, overrides={**overrides, "pretrained_automatic": str(tmp_path / "model.pt")})
    # the id the trainer trains: the click network with the automatic weights in it
    trained = click.get_parsed_content("train#trainer#network").eval()
    assert trained is click.get_parsed_content("network")
    widened = [
        (name, value)
        for name, value in trained.state_dict().items()
        if value.shape != automatic.state_dict()[name].shape
    ]
    assert len(widened) == 1 and widened[0][1].shape[1] == 1 + 4, "one input convolution: image + 4 guidance"
    name, weight = widened[0]
    assert float(weight[:, 1:].abs().max()) == 0.0, f"{name}: guidance kernels must start at zero"
    torch.testing.assert_close(weight[:, :1], automatic.state_dict()[name])
    image = torch.rand(1, 1, 16, 16, 16)
    with torch.no_grad():
        expected = automatic(image)
        zero_guidance = trained(torch.cat([image, torch.zeros(1, 4, 16, 16, 16)], dim=1))
        clicked = torch.zeros(1, 4, 16, 16, 16)
        clicked[0, 2, 8, 8, 8] = 1.0
        with_click = trained(torch.cat([image, clicked], dim=1))
    torch.testing.assert_close(zero_guidance, expected)
    # untrained guidance inputs: a click does not move the output yet (training teaches it to)
    torch.testing.assert_close(with_click, expected)
    # with a warm start BatchNorm keeps the automatic statistics in training too (freeze_batch_norm auto): a training
    # forward of one patch computes what inference computes, and leaves the statistics as they were
    with torch.no_grad():
        output = trained.train()(torch.cat([image, torch.zeros(1, 4, 16, 16, 16)], dim=1))
    torch.testing.assert_close(output[0] if isinstance(output, list) else output, expected)
    for name, value in trained.named_buffers():
        torch.testing.assert_close(value, automatic.state_dict()[name], msg=f"{name} moved")


def test_a_full_state_checkpoint_is_read_through_its_network_entry(tmp_path):
    automatic = automatic_model(tmp_path / "model.pt", "unet", TINY)
    torch.save({"network": automatic.state_dict(), "epoch": 3}, tmp_path / "checkpoint_epoch_0003.pt")
    click = parser("unet", click=True, overrides=TINY).get_parsed_content("network_def", instantiate=True)
    warm_start_from_automatic(click, tmp_path / "checkpoint_epoch_0003.pt", image_channels=1)
    first = next(name for name, value in click.state_dict().items() if value.ndim == 5)
    torch.testing.assert_close(click.state_dict()[first][:, :1], automatic.state_dict()[first])


def test_without_a_path_the_network_keeps_its_own_weights():
    click = parser("unet", click=True, overrides=TINY).get_parsed_content("network_def", instantiate=True)
    before = {k: v.clone() for k, v in click.state_dict().items()}
    assert warm_start_from_automatic(click, None) is click
    assert warm_start_from_automatic(click, "") is click
    for name, value in click.state_dict().items():
        torch.testing.assert_close(value, before[name])
    # from scratch the trainer's network learns its BatchNorm statistics as usual (freeze_batch_norm auto)
    trained = parser("unet", click=True, overrides=TINY).get_parsed_content("train#trainer#network").train()
    with torch.no_grad():
        trained(torch.randn(1, 5, 16, 16, 16))
        trained(torch.randn(1, 5, 16, 16, 16))
    assert all(int(m.num_batches_tracked) == 2 for m in trained.modules() if isinstance(m, torch.nn.BatchNorm3d))


def test_another_architecture_is_refused_naming_the_file(tmp_path):
    automatic_model(tmp_path / "wide.pt", "unet", {**TINY, "network_def#features": [8, 16, 32, 64]})
    click = parser("unet", click=True, overrides=TINY).get_parsed_content("network_def", instantiate=True)
    with pytest.raises(WarmStartError, match=r"wide\.pt.*only an input convolution may differ"):
        warm_start_from_automatic(click, tmp_path / "wide.pt")


def test_another_network_class_is_refused_naming_the_file(tmp_path):
    automatic_model(tmp_path / "u2net.pt", "u2net", {"class_names": TINY["class_names"]})
    click = parser("unet", click=True, overrides=TINY).get_parsed_content("network_def", instantiate=True)
    with pytest.raises(WarmStartError, match=r"u2net\.pt.*missing"):
        warm_start_from_automatic(click, tmp_path / "u2net.pt")


def test_a_click_model_is_not_taken_for_an_automatic_one(tmp_path):
    click = parser("unet", click=True, overrides=TINY).get_parsed_content("network_def", instantiate=True)
    torch.save(click.state_dict(), tmp_path / "click.pt")
    with pytest.raises(WarmStartError, match=r"click\.pt.*no input convolution"):
        warm_start_from_automatic(click, tmp_path / "click.pt")


def test_a_missing_file_is_named(tmp_path):
    click = parser("unet", click=True, overrides=TINY).get_parsed_content("network_def", instantiate=True)
    with pytest.raises(CheckpointFileError, match=r"absent\.pt"):
        warm_start_from_automatic(click, tmp_path / "absent.pt")
