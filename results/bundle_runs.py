"""The bundle commands a result run is made of: train, take the final network, predict. Each is printed, then run.

The result modules do what a user would type (``python -m monai.bundle run ...``) in subprocesses, so the numbers
they publish come from the bundle itself, not from a re-implementation of it.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from monai_unet_bundle.atomic_write import atomic_torch_save

BUNDLE_RUN = [sys.executable, "-m", "monai.bundle", "run"]
REPO = Path(__file__).resolve().parents[1]


def result_arguments(task: str, doc: str) -> argparse.ArgumentParser:
    """The options every result run has: data, run folders (one bundle_root per run), docs folder, smoke mode."""
    parser = argparse.ArgumentParser(prog=f"python -m results.{task}", description=doc)
    parser.add_argument("--dataset-dir", default=str(REPO / "data" / task), help="built from pip files if missing")
    parser.add_argument(
        "--runs-dir",
        default=str(REPO / "outputs" / "results" / task),
        help="one bundle_root per run: models, TensorBoard logs, predictions",
    )
    parser.add_argument("--docs-dir", default=str(REPO / "docs"), help="results/ and images/ are written here")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 iterations per run, numbers meaningless")
    parser.add_argument("--skip-training", action="store_true", help="evaluate the runs already in --runs-dir")
    parser.add_argument(
        "--no-publish",
        dest="publish",
        action="store_false",
        help="leave README.md and docs/results.md alone (--quick always does)",
    )
    return parser


def shown(command: Sequence[str]) -> str:
    """The command as it would be typed in a shell (``python`` instead of the full interpreter path)."""
    parts = ["python" if part == sys.executable else part for part in command]
    return " ".join(_quote(part) for part in parts)


def _quote(part: str) -> str:
    # "['a.yaml','b.yaml']" reads better than shlex's '['"'"'a.yaml'"'"...; "$" must stay in single quotes
    if shlex.quote(part) != part and "'" in part and not set('"$`\\') & set(part):
        return f'"{part}"'
    return shlex.quote(part)


def run_logged(command: Sequence[str], log_path: str | Path, cwd: str | Path) -> float:
    """Run ``command`` with its output in ``log_path``; return the wall-clock seconds. Raises with the log's tail."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"$ {shown(command)}\n  (log: {log_path})", flush=True)
    started = time.perf_counter()
    with open(log_path, "w") as log:
        status = subprocess.run(list(command), cwd=cwd, stdout=log, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - started
    if status != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"command failed with exit status {status} (log {log_path}):\n{tail}")
    return seconds


def clear_run(run_dir: str | Path) -> None:
    """Remove what an earlier run left in ``run_dir`` (checkpoints, logs, predictions), before training again.

    A stale ``checkpoint_epoch_0040.pt`` from a longer earlier run would otherwise be taken as the new run's last
    epoch. Only the run's own sub-folders go; ``run_dir`` is a folder of the result runs, never the bundle's root.
    """
    for name in ("models", "eval", "predictions", "final"):
        shutil.rmtree(Path(run_dir) / name, ignore_errors=True)
    (Path(run_dir) / "final_model.pt").unlink(missing_ok=True)


def final_network(ckpt_dir: str | Path, out_path: str | Path) -> tuple[Path, int]:
    """Write the network of the newest full-state checkpoint in ``ckpt_dir`` as a flat state_dict.

    Returns the path and the checkpoint's epoch. The result runs report this network, not models/model.pt: the
    latter is the best validation epoch, chosen on the very cases the results are measured on.
    """
    checkpoints = sorted(Path(ckpt_dir).glob("checkpoint_epoch_*.pt"))
    if not checkpoints:
        raise FileNotFoundError(f"no checkpoint_epoch_*.pt in {ckpt_dir}: did training run?")
    newest = checkpoints[-1]
    state = torch.load(newest, map_location="cpu", weights_only=True)
    if "network" not in state:
        raise KeyError(f"{newest} has no 'network' entry (keys: {sorted(state)})")
    out_path = Path(out_path)
    atomic_torch_save(state["network"], out_path)
    return out_path, int(newest.stem.rsplit("_", 1)[1])


def write_datalist(images: Sequence[str | Path], path: str | Path) -> Path:
    """A JSON list of absolute image paths, the inference config's ``datalist``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([str(Path(image).resolve()) for image in images], indent=1) + "\n")
    return path


def logged_training_seconds(log_path: str | Path) -> float | None:
    """The trainer's own "Engine run finished. Time taken: HH:MM:SS" from a training log (None if absent)."""
    path = Path(log_path)
    if not path.is_file():
        return None
    found = re.findall(
        r"SupervisedTrainer - INFO - Engine run finished\. Time taken: (\d+):(\d+):([\d.]+)",
        path.read_text(errors="replace"),
    )
    if not found:
        return None
    hours, minutes, seconds = found[-1]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def train_or_reuse(command: list[str], run_dir: Path, reuse: bool) -> float:
    """Train with ``command`` in a cleared ``run_dir`` (log: ``train.log``), or, with ``reuse``
    (``--skip-training``), print it and take the earlier run; returns the training's seconds."""
    if reuse:
        print(f"(skipping training; reusing {run_dir})\n  {shown(command)}")
        return logged_training_seconds(run_dir / "train.log")
    clear_run(run_dir)
    return run_logged(command, run_dir / "train.log", REPO)
