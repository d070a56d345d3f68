"""The export commands of docs/training.md on a models/model.pt written by the training workflow itself (the flat
state_dict of the best-model saver): TorchScript for the UNet and the U2-Net, ONNX for the UNet; the outputs equal
eager ones within 1e-4. Outputs go to tmp folders, never to the repository's models/."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from monai.bundle import ConfigParser, ConfigWorkflow

from tests.conftest import CONFIGS, REPO, TINY_TRAIN

TOL = {"rtol": 1e-4, "atol": 1e-4}
U2NET_TRAIN = {**{k: v for k, v in TINY_TRAIN.items() if k != "network_def#features"},
               "epoch_length": 1, "validate#inferer#overlap": 0.0}
NETWORKS = {
    # name: (override files, config overrides on the command line)
    "unet": ([], {"network_def#features": [4, 8, 16, 32]}),
    "u2net": (["u2net.yaml"], {}),
}


@pytest.fixture(scope="module")
def u2net_bundle(tmp_path_factory, synthetic_dir):
    root = tmp_path_factory.mktemp("u2net_bundle")
    workflow = ConfigWorkflow(
        config_file=[str(CONFIGS / "train.yaml"), str(CONFIGS / "u2net.yaml")],
        meta_file=str(CONFIGS / "metadata.json"), logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train", bundle_root=str(root), dataset_dir=str(synthetic_dir), **U2NET_TRAIN,
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    return root


def _export(command: str, configs: list[str], ckpt, out, overrides: dict, *extra: str) -> None:
    args = [sys.executable, "-m", "monai.bundle", command, "--net_id", "network_def", "--filepath", str(out),
            "--ckpt_file", str(ckpt), "--meta_file", "configs/metadata.json", "--config_file", repr(configs), *extra]
    for key, value in overrides.items():
        args += [f"--{key}", json.dumps(value)]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def _eager(configs: list[str], overrides: dict, ckpt) -> torch.nn.Module:
    parser = ConfigParser()
    parser.read_config([str(REPO / c) for c in configs])
    for key, value in overrides.items():
        parser[key] = value
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(ckpt, weights_only=True))
    return network.eval()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_exported_models_match_the_trained_network(name, tmp_path, trained_bundle, request):
    if name == "u2net" and not (CONFIGS / "u2net.yaml").is_file():
        pytest.skip("configs/u2net.yaml is not there yet")
    files, overrides = NETWORKS[name]
    configs = ["configs/inference.yaml", *(f"configs/{f}" for f in files)]
    root = trained_bundle if name == "unet" else request.getfixturevalue("u2net_bundle")
    ckpt = root / "models" / "model.pt"
    network = _eager(configs, overrides, ckpt)
    shape = [1, 1, 16, 16, 16]
    x = torch.rand(*shape)
    with torch.no_grad():
        expected = network(x)

    _export("ckpt_export", configs, ckpt, tmp_path / "model.ts", overrides)
    scripted = torch.jit.load(str(tmp_path / "model.ts"), map_location="cpu").eval()
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), expected, **TOL)

    if name == "u2net":
        return  # U2-Net's ONNX export takes ~100 s here; tests/networks/test_export.py::test_bundle_onnx_export runs it
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    _export("onnx_export", configs, ckpt, tmp_path / "model.onnx", overrides, "--input_shape", json.dumps(shape))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), expected, **TOL)
