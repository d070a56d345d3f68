"""TorchScript and ONNX export of UNet and U2Net: exported outputs equal eager ones (1e-4), also at other sizes.

The in-process tests use the converters that ``python -m monai.bundle ckpt_export`` / ``onnx_export`` call
(``monai.networks.utils.convert_to_torchscript`` / ``convert_to_onnx`` with ``use_trace=False``); the slow tests
run those commands on the bundle's own configs in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.bundle import ConfigParser
from monai.networks.utils import convert_to_onnx, convert_to_torchscript
from monai_unet_bundle.networks import U2Net, UNet

ROOT = Path(__file__).resolve().parents[2]
TOL = {"rtol": 1e-4, "atol": 1e-4}


def _nets():
    torch.manual_seed(0)
    return {
        # (network, example input size, another input size the export must handle)
        "unet_same_3d": (
            UNet(3, 1, 3, features=(4, 8, 16), attention=True, deep_supervision=True),
            (16, 16, 16),
            (20, 13, 9),
        ),
        "unet_valid_interp_2d": (
            UNet(2, 2, 2, features=(4, 8, 16), padding="valid", norm="instance", upsample="interp", dropout=0.3),
            (48, 48),
            (52, 60),
        ),
        # torch.export specialises axes of length 1; 64 keeps U2-Net's 1/32 maps at 2 voxels
        "u2net_lite_2d": (U2Net(2, 1, 2, "lite"), (64, 64), (45, 37)),
    }


def _warm_batch_norm(net: torch.nn.Module, size: tuple[int, ...]) -> None:
    """Give batch-norm layers non-trivial running statistics, as a trained network has."""
    net.train()
    with torch.no_grad():
        for _ in range(2):
            net(torch.randn(2, net.in_channels, *size) * 2 + 0.5)
    net.eval()


@pytest.mark.parametrize("name", list(_nets()))
def test_torchscript_matches_eager(name, tmp_path):
    net, size, other = _nets()[name]
    _warm_batch_norm(net, size)
    x = torch.rand(1, net.in_channels, *size)
    path = tmp_path / "net.ts"
    convert_to_torchscript(net, filename_or_obj=str(path), verify=True, inputs=[x], rtol=1e-4, atol=1e-4)
    loaded = torch.jit.load(str(path), map_location="cpu").eval()
    for shape in (size, other):
        y = torch.rand(2, net.in_channels, *shape)
        with torch.no_grad():
            torch.testing.assert_close(loaded(y), net(y), **TOL)


def test_torchscript_keeps_the_train_mode_contract():
    scripted = torch.jit.script(UNet(2, 1, 2, features=(4, 8, 16), deep_supervision=True))
    x = torch.rand(2, 1, 32, 32)
    assert isinstance(scripted.train()(x), list) and len(scripted(x)) == 2
    assert isinstance(scripted.eval()(x), torch.Tensor)
    u2 = torch.jit.script(U2Net(3, 1, 2, "lite"))
    assert len(u2.train()(torch.rand(2, 1, 9, 10, 11))) == 7
    assert u2.eval()(torch.rand(1, 1, 9, 10, 11)).shape == (1, 2, 9, 10, 11)


@pytest.mark.parametrize("name", list(_nets()))
def test_onnx_matches_eager_with_dynamic_axes(name, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    net, size, other = _nets()[name]
    _warm_batch_norm(net, size)
    nd = len(size)
    axes = {
        "image": {0: "batch", **{2 + i: f"in_{i}" for i in range(nd)}},
        "pred": {0: "batch", **{2 + i: f"out_{i}" for i in range(nd)}},
    }
    path = tmp_path / "net.onnx"
    convert_to_onnx(
        net,
        inputs=[torch.rand(1, net.in_channels, *size)],
        input_names=["image"],
        output_names=["pred"],
        dynamic_axes=axes,
        filename=str(path),
        use_trace=False,  # what onnx_export passes by default
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch, shape in ((1, size), (2, other)):
        y = torch.rand(batch, net.in_channels, *shape)
        with torch.no_grad():
            expected = net(y)
        (got,) = session.run(None, {"image": y.numpy()})
        torch.testing.assert_close(torch.from_numpy(got), expected, **TOL)


# ----------------------------------------------------------------------------- bundle commands (subprocess, slow)
def _bundle(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "monai.bundle", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"monai.bundle {args[0]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _configs(override: str | None) -> list[str]:
    files = [str(ROOT / "configs" / "inference.yaml")]
    return files + [str(ROOT / "configs" / override)] if override else files


def _checkpoint(configs: list[str], tmp_path: Path) -> tuple[torch.nn.Module, Path]:
    """A network built from the bundle config, with non-trivial batch-norm statistics, saved as a checkpoint."""
    parser = ConfigParser()
    parser.read_config(configs)
    torch.manual_seed(0)
    net = parser.get_parsed_content("network_def")
    _warm_batch_norm(net, net.valid_input_size(16) * 3 if hasattr(net, "valid_input_size") else (32, 32, 32))
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)  # what CheckpointSaver writes for a single-entry save_dict
    return net, path


def _export_args(command: str, out: Path, ckpt: Path, configs: list[str]) -> list[str]:
    meta = str(ROOT / "configs" / "metadata.json")
    return [command, "--net_id", "network_def", "--filepath", str(out), "--ckpt_file", str(ckpt),
            "--meta_file", meta, "--config_file", json.dumps(configs)]  # fmt: skip


needs_bundle_files = pytest.mark.skipif(
    not (ROOT / "configs" / "inference.yaml").is_file() or not (ROOT / "configs" / "metadata.json").is_file(),
    reason="needs configs/inference.yaml and configs/metadata.json",
)


@pytest.mark.slow
@needs_bundle_files
@pytest.mark.parametrize("override", [None, "u2net.yaml", "unet_valid.yaml"])
def test_bundle_ckpt_export(override, tmp_path):
    configs = _configs(override)
    net, ckpt = _checkpoint(configs, tmp_path)
    out = tmp_path / "model.ts"
    _bundle(*_export_args("ckpt_export", out, ckpt, configs))
    extra = {"metadata.json": "", "inference.json": ""}
    loaded = torch.jit.load(str(out), map_location="cpu", _extra_files=extra).eval()
    assert json.loads(extra["metadata.json"])["network_data_format"]
    size = net.valid_input_size(12) * 3 if getattr(net, "valid", False) else (24, 21, 19)
    x = torch.rand(1, 1, *size)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), **TOL)


@pytest.mark.slow
@needs_bundle_files
@pytest.mark.parametrize("override, shape, other", [(None, (32, 32, 32), (40, 27, 19)), ("u2net.yaml", None, None)])
def test_bundle_onnx_export(override, shape, other, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    configs = _configs(override)
    net, ckpt = _checkpoint(configs, tmp_path)
    out = tmp_path / "model.onnx"
    args = _export_args("onnx_export", out, ckpt, configs)
    if shape is not None:
        # dynamic spatial axes: the example must not shrink any axis to length 1 inside the network
        axes = {"image": [0, 2, 3, 4], "pred": [0, 2, 3, 4]}  # lists: JSON would turn int keys into strings
        kwargs = {"input_names": ["image"], "output_names": ["pred"], "dynamic_axes": axes}
        args += ["--input_shape", json.dumps([1, 1, *shape]), "--converter_kwargs", json.dumps(kwargs)]
    _bundle(*args)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    sizes = [shape, other] if shape is not None else [tuple(session.get_inputs()[0].shape[2:])]
    for size in sizes:
        x = torch.rand(1, 1, *size)
        with torch.no_grad():
            expected = net(x)
        (got,) = session.run(None, {name: x.numpy()})
        torch.testing.assert_close(torch.from_numpy(got), expected, **TOL)


@pytest.mark.slow
@needs_bundle_files
@pytest.mark.parametrize(
    "override, meta_shape",
    [
        (None, None),
        ("u2net.yaml", None),
        # the valid UNet of unet_valid.yaml (2 poolings) takes inputs 4*n+40 only: say so in the metadata override
        ("unet_valid.yaml", ["4*n+40"] * 3),
    ],
)
def test_bundle_verify_net_in_out(override, meta_shape):
    extra = (
        []
        if meta_shape is None
        else ["--_meta_#network_data_format#inputs#image#spatial_shape", json.dumps(meta_shape)]
    )
    _bundle(
        "verify_net_in_out",
        *extra,
        "--net_id", "network_def",
        "--meta_file", str(ROOT / "configs" / "metadata.json"),
        "--config_file", json.dumps(_configs(override)),
    )  # fmt: skip
