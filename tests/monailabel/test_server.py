"""docs/monailabel.md against a real ``monailabel start_server``: the monaibundle app shipped in the monailabel wheel,
this bundle in its model folder, a local datastore of small NIfTI volumes; GET /info/, POST /infer, POST /train.

Needs the ``label`` extra and a torchvision built for the installed torch; skipped, with the reason, without them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigParser
from tests.monailabel.conftest import make_bundle
from tests.monailabel.test_deepedit_contract import deepedit_bundle

MODEL = "unet_bundle"
START_TIMEOUT_S = 240
INFER_TIMEOUT_S = 300
TRAIN_TIMEOUT_S = 900
#: BatchNorm num_batches_tracked written into the starting models/model.pt (see make_bundle)
START_BATCHES = 1000


def require_monailabel() -> Path:
    """The ``monailabel`` command beside this interpreter; skips without monailabel or a matching torchvision."""
    pytest.importorskip(
        "monailabel",
        reason="no monailabel 0.8.5 in this environment: install it in a separate one with a matching torch and"
        " torchvision, in two steps as docs/monailabel.md section 1 shows (pip finds no solution for '.[label]')",
    )
    try:
        import torchvision

        torchvision.ops.nms(torch.zeros(1, 4), torch.ones(1), 0.5)
    except (ImportError, RuntimeError, OSError) as error:  # a build for another torch fails at import with RuntimeError
        pytest.skip(f"no torchvision built for torch {torch.__version__} (monailabel needs one): {error}")
    command = Path(sys.executable).parent / "monailabel"
    if not command.is_file():
        pytest.skip(f"monailabel is importable but its command is not beside {sys.executable}")
    return command


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, method: str = "GET", body: dict | None = None, timeout: float = 60) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def post_form(url: str, fields: dict[str, str], timeout: float) -> bytes:
    """POST ``fields`` as multipart/form-data (MONAI Label's /infer takes its ``params`` JSON that way)."""
    boundary = uuid.uuid4().hex
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    request = urllib.request.Request(url, data=body + f"--{boundary}--\r\n".encode(), method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.read()


def batches_tracked(model_file: Path) -> set[int]:
    state = torch.load(model_file, map_location="cpu", weights_only=True)
    return {int(v) for k, v in state.items() if k.endswith("num_batches_tracked")}


def shipped_app() -> Path:
    """The monaibundle app among the wheel's data files, where ``monailabel apps`` looks; skips when absent."""
    import monailabel

    places = [
        Path(monailabel.__file__).resolve().parents[1],
        Path(sys.prefix) / "monailabel",
        Path(sys.prefix) / "local" / "monailabel",
        Path.home() / ".local" / "monailabel",
    ]
    for place in places:
        if (place / "sample-apps" / "monaibundle" / "main.py").is_file():
            return place / "sample-apps" / "monaibundle"
    pytest.skip(f"the monailabel install ships no sample-apps/monaibundle (looked in {', '.join(map(str, places))})")


def copy_shipped_app(command: Path, apps: Path, env: dict) -> Path:
    """``monailabel apps --download --name monaibundle``: copies the app from the wheel's data files, offline."""
    shipped_app()
    result = subprocess.run(
        [str(command), "apps", "--download", "--name", "monaibundle", "--output", str(apps)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, f"monailabel apps failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert (apps / "monaibundle" / "main.py").is_file(), result.stdout[-2000:]
    return apps / "monaibundle"


def datastore(folder: Path, cases: dict[str, dict[str, str]]) -> Path:
    """MONAI Label's local datastore layout: <id>.nii.gz images, labels/final/<id>.nii.gz finished labels."""
    (folder / "labels" / "final").mkdir(parents=True)
    for name, case in cases.items():
        shutil.copy2(case["image"], folder / f"{name}.nii.gz")
        shutil.copy2(case["label"], folder / "labels" / "final" / f"{name}.nii.gz")
    return folder


def start_server(command: Path, app: Path, studies: Path, conf: dict[str, str], log: Path, env: dict):
    """``monailabel start_server`` on 127.0.0.1 (a free port) with ``--conf`` items; waits for GET /info/ (bounded).

    Returns (process, base URL, /info/ answer). The process runs in its own session: :func:`stop_server` ends it.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server_command = [str(command), "start_server", "--app", str(app), "--studies", str(studies)]
    for key, value in {"zoo_source": "github", "sam2": "false", **conf}.items():
        server_command += ["--conf", key, value]
    server_command += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            server_command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            assert server.poll() is None, f"the server exited ({server.returncode}):\n{log.read_text()[-4000:]}"
            assert time.monotonic() < deadline, f"no answer in {START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}"
            try:
                return server, base, json.loads(call(f"{base}/info/", timeout=10))
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(1)
    except BaseException:
        stop_server(server, log)
        raise


def stop_server(server: subprocess.Popen, log: Path) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
    print(f"server log {log}:\n{log.read_text()[-3000:]}")


def serve_and_check(command: Path, tmp_path: Path, cases: dict[str, dict[str, str]]) -> None:
    """Start the server, check /info/, /infer and /train as docs/monailabel.md describes, always stop it."""
    # the monailabel command is a shell script running `python` from PATH unless MONAILABEL_PYEXE names one
    env = {**os.environ, "MONAILABEL_PYEXE": sys.executable}
    app = copy_shipped_app(command, tmp_path / "apps", env)
    bundle = make_bundle(app / "model" / MODEL, batches_tracked=START_BATCHES, network={})
    studies = datastore(tmp_path / "studies", cases)
    log = tmp_path / "server.log"
    server, base, info = start_server(command, app, studies, {"models": MODEL}, log, env)
    try:
        model = info["models"][MODEL]
        assert model["labels"] == {"csf": 1, "gray_matter": 2, "white_matter": 3}
        assert model["dimension"] == 3 and model["type"] == "segmentation"
        assert MODEL in info["trainers"]

        answer = call(f"{base}/infer/{MODEL}?image=lps&output=image", method="POST", timeout=INFER_TIMEOUT_S)
        (tmp_path / "lps_seg.nii.gz").write_bytes(answer)
        written, source = nib.load(tmp_path / "lps_seg.nii.gz"), nib.load(cases["lps"]["image"])
        assert written.shape == source.shape
        assert np.allclose(written.affine, source.affine, atol=1e-3)
        assert set(np.unique(np.asarray(written.dataobj)).tolist()) <= {0, 1, 2, 3}

        model_file = bundle / "models" / "model.pt"
        before = model_file.stat().st_mtime_ns
        call(
            f"{base}/train/{MODEL}?run_sync=true",
            method="POST",
            timeout=TRAIN_TIMEOUT_S,
            body={"max_epochs": 1, "val_split": 0.2, "device": "cpu", "multi_gpu": False},
        )
        assert model_file.stat().st_mtime_ns != before, f"models/model.pt not rewritten:\n{log.read_text()[-4000:]}"
        # started from models/model.pt, then one epoch of the config's epoch_length iterations
        epoch_length = ConfigParser.load_config_file(str(bundle / "configs" / "train.yaml"))["epoch_length"]
        assert batches_tracked(model_file) == {START_BATCHES + epoch_length}
    finally:
        stop_server(server, log)


@pytest.mark.slow
def test_monailabel_serves_infers_and_trains_the_bundle(tmp_path, monailabel_cases):
    command = require_monailabel()
    serve_and_check(command, tmp_path, monailabel_cases)


DEEPEDIT_MODEL = "unet_deepedit"


def infer_labels(base: str, model: str, clicks: dict | None, out: Path) -> np.ndarray:
    url = f"{base}/infer/{model}?image=lps&output=image"
    answer = post_form(url, {"params": json.dumps(clicks or {})}, timeout=INFER_TIMEOUT_S)
    out.write_bytes(answer)
    return np.asarray(nib.load(out).dataobj)


@pytest.mark.slow
def test_monailabel_serves_the_click_model_and_scores_with_dropout(tmp_path, monailabel_cases):
    """A bundle folder named *deepedit* (configs/deepedit/ merged): both models in /info/, /infer with and without
    clicks, bad clicks answered without stopping the server, /train for one epoch, epistemic scoring."""
    command = require_monailabel()
    env = {**os.environ, "MONAILABEL_PYEXE": sys.executable}
    app = copy_shipped_app(command, tmp_path / "apps", env)
    bundle = deepedit_bundle(app / "model" / DEEPEDIT_MODEL, overrides={})
    # an untrained network barely reacts to a click: weight its guidance inputs up, so a click that reaches the
    # network where it was placed visibly changes the labels there (the plumbing under test, not the training)
    model_file = bundle / "models" / "model.pt"
    state = torch.load(model_file, weights_only=True)
    first = next(k for k, v in state.items() if k.endswith("weight") and v.ndim == 5 and v.shape[1] == 5)
    state[first][:, 1:] *= 100.0
    torch.save(state, model_file)
    studies = datastore(tmp_path / "studies", monailabel_cases)
    shutil.copy2(monailabel_cases["case_0"]["image"], studies / "unlabelled.nii.gz")  # for the scoring
    log = tmp_path / "server.log"
    conf = {"models": DEEPEDIT_MODEL, "epistemic_model": DEEPEDIT_MODEL, "epistemic_simulation_size": "2"}
    server, base, info = start_server(command, app, studies, conf, log, env)
    try:
        clicks_model, automatic = info["models"][DEEPEDIT_MODEL], info["models"][f"{DEEPEDIT_MODEL}_seg"]
        assert clicks_model["type"] == "deepedit" and automatic["type"] == "segmentation"
        assert clicks_model["labels"] == {"background": 0, "csf": 1, "gray_matter": 2, "white_matter": 3}
        assert automatic["labels"] == {"csf": 1, "gray_matter": 2, "white_matter": 3}

        source = nib.load(monailabel_cases["lps"]["image"])
        auto = infer_labels(base, f"{DEEPEDIT_MODEL}_seg", None, tmp_path / "auto.nii.gz")
        plain = infer_labels(base, DEEPEDIT_MODEL, None, tmp_path / "plain.nii.gz")
        click = [11, 9, 7]
        clicked = infer_labels(base, DEEPEDIT_MODEL, {"white_matter": [click]}, tmp_path / "clicked.nii.gz")
        assert auto.shape == plain.shape == clicked.shape == source.shape
        np.testing.assert_array_equal(auto, plain)  # no clicks: the automatic segmentation
        near = tuple(slice(max(c - 3, 0), c + 4) for c in click)
        assert (clicked[near] != plain[near]).any(), "a click must change the prediction around it"

        # bad clicks: ignored with a warning, or a failed request; the server keeps serving
        ignored = infer_labels(
            base, DEEPEDIT_MODEL, {"tumour": [[1, 2, 3]], "csf": [[999, 0, 0]]}, tmp_path / "ignored.nii.gz"
        )
        np.testing.assert_array_equal(ignored, plain)
        with pytest.raises(urllib.error.HTTPError):
            infer_labels(base, DEEPEDIT_MODEL, {"csf": [[1, 2]]}, tmp_path / "bad.nii.gz")
        assert json.loads(call(f"{base}/info/", timeout=30))["models"]

        # MONAI Label may already be scoring on its own (after start or a new model): 429 until that run ends
        deadline = time.monotonic() + INFER_TIMEOUT_S
        while True:
            try:
                call(f"{base}/scoring/{DEEPEDIT_MODEL}?run_sync=true", method="POST", timeout=INFER_TIMEOUT_S)
                break
            except urllib.error.HTTPError as error:
                assert error.code == 429 and time.monotonic() < deadline, f"scoring failed: {error}"
                time.sleep(5)
        objects = json.loads(call(f"{base}/datastore/?output=all", timeout=30))
        assert "epistemic_entropy" in json.dumps(objects), "the scoring wrote no epistemic_entropy"

        before = model_file.stat().st_mtime_ns
        call(
            f"{base}/train/{DEEPEDIT_MODEL}?run_sync=true",
            method="POST",
            timeout=TRAIN_TIMEOUT_S,
            body={"max_epochs": 1, "val_split": 0.2, "device": "cpu", "multi_gpu": False},
        )
        assert model_file.stat().st_mtime_ns != before, f"models/model.pt not rewritten:\n{log.read_text()[-4000:]}"
    finally:
        stop_server(server, log)
