"""What MONAI Label does with configs/inference.yaml: a bare ConfigParser (no metadata), device as a plain string,
network_def + a state_dict, preprocessing, inferer, and postprocessing without its SaveImaged transforms."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import torch
from monai.bundle import ConfigParser
from monai.transforms import LoadImaged, SaveImaged

from tests.conftest import CONFIGS, REPO


def test_monai_label_style_use_gives_labels_in_the_input_geometry(oriented_inputs, tiny_unet_model):
    parser = ConfigParser()
    parser.read_config(str(CONFIGS / "inference.yaml"))
    parser["bundle_root"] = str(REPO)
    parser["device"] = "cpu"
    parser["network_def#features"] = [4, 8, 16, 32]
    parser["roi_size"] = [24, 24, 24]
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(tiny_unet_model, weights_only=True))
    network.eval()
    pre = list(parser.get_parsed_content("preprocessing").transforms)
    assert isinstance(pre[0], LoadImaged)
    pre[0] = LoadImaged(keys="image", image_only=True)  # MONAI Label brings its own loader
    inferer = parser.get_parsed_content("inferer")
    post_all = parser.get_parsed_content("postprocessing").transforms
    assert any(isinstance(t, SaveImaged) for t in post_all)
    post = [t for t in post_all if not isinstance(t, SaveImaged)]

    path = oriented_inputs["lsa"][0]
    data = {"image": str(path)}
    for transform in pre:
        data = transform(data)
    with torch.no_grad():
        data["pred"] = inferer(data["image"][None].to("cpu"), network)[0]
    for transform in post:
        data = transform(data)
    source = nib.load(path)
    assert tuple(data["pred"].shape) == (1, *source.shape)
    assert np.allclose(data["pred"].affine.numpy(), source.affine, atol=1e-5)
    assert int(data["pred"].max()) <= 3
