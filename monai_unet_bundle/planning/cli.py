"""``python -m monai_unet_bundle plan --dataset_dir D``: fingerprint D, plan, write D/plan.yaml and D/fingerprint.json.

plan.yaml is a bundle override merged after the base configs::

    python -m monai.bundle run --config_file "['configs/train.yaml','D/plan.yaml']"
    python -m monai.bundle run --config_file "['configs/train.yaml','configs/evaluate.yaml','D/plan.yaml']"
    python -m monai.bundle run --config_file "['configs/inference.yaml','D/plan.yaml']" --dataset_dir IN
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
import yaml

from .fingerprint import PlanningError, fingerprint_dataset
from .plan import NETWORKS, Plan, make_plan
from .timing import seconds_per_step

__all__ = ["main", "real_step_timer", "write_plan"]


def real_step_timer(spatial_dims: int, num_classes: int, device: str):
    """A :data:`~monai_unet_bundle.planning.plan.StepTimer` that runs real training steps of the network."""
    from ..networks import U2Net, UNet

    def timer(kwargs: dict, patch: Sequence[int], num_samples: int) -> float:
        torch.manual_seed(0)
        if kwargs["network"] == "unet":
            net = UNet(spatial_dims, 1, num_classes, features=kwargs["features"], pool_sizes=kwargs["pool_sizes"])
        else:
            net = U2Net(spatial_dims, 1, num_classes, "lite" if kwargs["network"] == "u2net_lite" else "full")
        return seconds_per_step(net, patch, num_samples, device=device, steps=3, warmup=1)

    return timer


def _summary(plan: Plan) -> str:
    rows = [
        ("spacing (pixdim)", f"{[round(p, 3) for p in plan.pixdim]} mm", plan.reasons["pixdim"]),
        ("patch (roi_size)", str(plan.roi_size), plan.reasons["roi_size"]),
        ("network", f"{plan.network}, pool_sizes {plan.pool_sizes}" if plan.network == "unet" else plan.network,
         plan.reasons["network"]),
        ("patches per step", str(plan.num_samples), plan.reasons["num_samples"]),
        ("classes", f"{plan.num_classes}: ratios {plan.class_ratios}", plan.reasons["class_ratios"]),
        ("intensity", plan.scale_intensity["_target_"], plan.reasons["scale_intensity"]),
        ("schedule", f"{plan.max_epochs} x {plan.epoch_length}, val every {plan.val_interval}",
         plan.reasons["max_epochs"]),
    ]  # fmt: skip
    return "\n".join(f"  {name:17s} {value}\n  {'':17s}   why: {why}" for name, value, why in rows)


def write_plan(plan: Plan, path: str | Path) -> Path:
    """Write ``plan.overrides()`` as YAML with the reasons as comments, atomically."""
    path = Path(path)
    header = [
        "# Planned by `python -m monai_unet_bundle plan` from this dataset's fingerprint (fingerprint.json).",
        "# Merge after train.yaml, evaluate.yaml or inference.yaml:",
        f"#   python -m monai.bundle run --config_file \"['configs/train.yaml','{path}']\"",
        "# Why:",
    ] + [f"#   {key}: {why}" for key, why in plan.reasons.items()]
    text = "\n".join(header) + "\n" + yaml.safe_dump(plan.overrides(), sort_keys=False, default_flow_style=None)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as stream:
            stream.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monai_unet_bundle plan", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--dataset_dir", "--dataset-dir", required=True, help="MSD folder (dataset.json)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    parser.add_argument("--memory_gb", "--memory-gb", type=float, default=None, help="default: half the free memory")
    parser.add_argument("--time_budget_min", "--time-budget-min", type=float, default=10.0,
                        help="wall-clock minutes for the training run (default 10)")  # fmt: skip
    parser.add_argument("--network", choices=NETWORKS, default="unet")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no CUDA device here; the timing probe needs the machine that will train", file=sys.stderr)
        return 2
    dataset_dir = Path(args.dataset_dir)
    try:
        fingerprint = fingerprint_dataset(dataset_dir, progress=not args.no_progress)
        fingerprint_path = fingerprint.save(dataset_dir / "fingerprint.json")
        timer = real_step_timer(fingerprint.spatial_dims, fingerprint.num_classes, device)
        plan = make_plan(fingerprint, timer, device, args.memory_gb, args.time_budget_min, args.network)
    except PlanningError as error:
        print(f"plan: {error}", file=sys.stderr)
        return 1
    plan_path = write_plan(plan, dataset_dir / "plan.yaml")
    print(f"Plan for {dataset_dir} ({len(fingerprint.cases)} training case(s), {fingerprint.modality}, "
          f"{plan.spatial_dims}D, {device}, {args.time_budget_min:g} min):")  # fmt: skip
    print(_summary(plan))
    print(f"wrote {plan_path} and {fingerprint_path}")
    print(f"train: python -m monai.bundle run --config_file \"['configs/train.yaml','{plan_path}']\"")
    return 0
