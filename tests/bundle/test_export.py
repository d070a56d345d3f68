"""The export commands of docs/training.md on a models/model.pt written by the training workflow itself (the flat,
DDP-free state_dict of the best-model saver): TorchScript and ONNX outputs equal the eager network's within 1e-4.
Outputs go to tmp folders, never to the repository's models/.

The same commands with configs/u2net.yaml and configs/unet_valid.yaml (on checkpoints of the config-built
networks) are in tests/networks/test_export.py; the checkpoint format checked here is the same for every network.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from monai.bundle import ConfigParser
from tests.conftest import REPO

TOL = {"rtol": 1e-4, "atol": 1e-4}
CONFIGS = ["configs/inference.yaml"]
OVERRIDES = {"network_def#features": [4, 8, 16, 32]}  # the trained_bundle fixture's tiny UNet


def _export(command: str, ckpt, out, *extra: str) -> None:
    args = [
        sys.executable,
        "-m",
        "monai.bundle",
        command,
        "--net_id",
        "network_def",
        "--filepath",
        str(out),
        "--ckpt_file",
        str(ckpt),
        "--meta_file",
        "configs/metadata.json",
        "--config_file",
        repr(CONFIGS),
        *extra,
    ]
    for key, value in OVERRIDES.items():
        args += [f"--{key}", json.dumps(value)]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def _eager(ckpt) -> torch.nn.Module:
    parser = ConfigParser()
    parser.read_config([str(REPO / c) for c in CONFIGS])
    for key, value in OVERRIDES.items():
        parser[key] = value
    network = parser.get_parsed_content("network_def")
    network.load_state_dict(torch.load(ckpt, weights_only=True))
    return network.eval()


@pytest.mark.slow
def test_exported_models_match_the_trained_network(tmp_path, trained_bundle):
    ckpt = trained_bundle / "models" / "model.pt"
    network = _eager(ckpt)
    shape = [1, 1, 16, 16, 16]
    x = torch.rand(*shape)
    with torch.no_grad():
        expected = network(x)

    _export("ckpt_export", ckpt, tmp_path / "model.ts")
    scripted = torch.jit.load(str(tmp_path / "model.ts"), map_location="cpu").eval()
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), expected, **TOL)

    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    _export("onnx_export", ckpt, tmp_path / "model.onnx", "--input_shape", json.dumps(shape))
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), expected, **TOL)
