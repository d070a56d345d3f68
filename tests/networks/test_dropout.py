"""``network_def#dropout``, the key MONAI Label's epistemic scoring sets, for every network the configs build.

MONAI Label 0.8.5 (``tasks/infer/bundle.py``) writes ``bundle_config["network_def"]["dropout"] = p`` before it
builds the network, loads ``models/model.pt`` into it and runs it in train mode ``simulation_size`` times.
"""

from __future__ import annotations

import pytest
import torch
from monai.bundle import ConfigParser
from monai_unet_bundle.networks import U2Net
from tests.conftest import CONFIGS

#: (override file, extra overrides): UNet padded, UNet valid, U2-Net lite, U2-Net full (2D: the full width is big)
NETWORKS = {
    "unet_padded": ([], {"network_def#features": [4, 8, 16]}),
    "unet_valid": (["unet_valid.yaml"], {"network_def#features": [4, 8, 16]}),
    "u2net_lite": (["u2net.yaml"], {"spatial_dims": 2}),
    "u2net_full": (["u2net.yaml"], {"spatial_dims": 2, "u2net_variant": "full"}),
}


def build(name: str, dropout: float | None) -> torch.nn.Module:
    files, overrides = NETWORKS[name]
    parser = ConfigParser()
    parser.read_config([str(CONFIGS / "inference.yaml")] + [str(CONFIGS / f) for f in files])
    for key, value in overrides.items():
        parser[key] = value
    if dropout is not None:
        parser["network_def"]["dropout"] = dropout  # what MONAI Label does
    torch.manual_seed(0)
    return parser.get_parsed_content("network_def", instantiate=True)


@pytest.mark.filterwarnings("ignore:Can't merge entry")
@pytest.mark.parametrize("name", list(NETWORKS))
def test_dropout_from_the_config_samples_in_train_mode_and_keeps_the_weights(name):
    torch.set_num_threads(1)
    plain, dropped = build(name, None), build(name, 0.3)
    # the served models/model.pt (trained without dropout) loads strictly into the dropout network
    dropped.load_state_dict(plain.state_dict(), strict=True)
    spatial = 2 if "u2net" in name else 3
    size = 124 if name == "unet_valid" else 32  # valid convolutions need room for their border
    x = torch.rand(2, 1, *([size] * spatial), generator=torch.Generator().manual_seed(1))

    dropped.train()
    with torch.no_grad():
        first, second = dropped(x), dropped(x)
    first, second = (o[0] if isinstance(o, list) else o for o in (first, second))
    assert not torch.allclose(first, second), "train mode with dropout must give different samples"

    # eval mode: dropout off, the prediction is the plain network's (train mode moved the BatchNorm statistics)
    dropped.load_state_dict(plain.state_dict(), strict=True)
    plain.eval()
    dropped.eval()
    with torch.no_grad():
        torch.testing.assert_close(dropped(x), plain(x))


def test_u2net_default_has_no_dropout_layer_and_rejects_bad_rates():
    assert isinstance(U2Net(2, 1, 2, "lite").dropout, torch.nn.Identity)
    with pytest.raises(ValueError, match="dropout"):
        U2Net(2, 1, 2, "lite", dropout=1.0)
