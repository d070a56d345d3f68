"""End-to-end ``predict`` per stage, against MONAI's plain pipeline on the same file with the same weights.

    .venv/bin/python -m benchmarks.bench_end_to_end [--weights W] [--config PLAN.yaml] [--image IMG] [--out PATH]

- ours: ``python -m monai_unet_bundle predict IMAGE --model W`` (configs/inference.yaml, plus ``--config`` files
  such as a dataset's plan.yaml) in a subprocess; its end-of-run summary gives the seconds per stage (each
  transform, the windows, the stitching, the inversion with its argmax, the writing). Run twice: uncropped and with
  ``crop_foreground`` (the nnU-Net-style nonzero crop), whose voxel agreement with the uncropped labels decides
  whether the crop may be on by default (>= 99.9%).
- baseline: MONAI's plain pipeline in a subprocess: ``LoadImaged + EnsureChannelFirstd + Orientationd + Spacingd``,
  the config's own intensity scaling, ``sliding_window_inference`` (fp32, the config's roi / overlap /
  sw_batch_size, Gaussian), ``Activationsd(softmax) + Invertd + AsDiscreted(argmax) + SaveImaged``; each timed.
- nnU-Net v2's ``nnUNetPredictor`` (issue 15's third side): HOOK ONLY. It runs only when ``import nnunetv2`` works
  (the optional ``peers`` extra) and then says that the comparison is not implemented yet; otherwise it is skipped
  and says so.

Times compared are the pipelines' own (the sum of their stages: model loading and interpreter start-up excluded,
as they are paid once per run, not per volume). Default image: the held-out brain3d hemisphere; default weights:
models/model.pt (random weights otherwise: the timings hold, the agreement figures then say little).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NAME = "end_to_end"
STAGES = re.compile(r"time per stage \((\d+) volume\(s\), ([0-9.]+) s\): (.*)")


def _config(configs: list[str]):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config([str(REPO / "configs" / "inference.yaml"), *configs])
    return parser


def baseline_worker(image: str, weights: str, configs: list[str], out_dir: str) -> dict:
    """MONAI's plain pipeline on ``image``: seconds per stage (printed as JSON by ``--worker``)."""
    import torch
    from monai.inferers import sliding_window_inference
    from monai.transforms import (
        Activationsd,
        AsDiscreted,
        EnsureChannelFirstd,
        Invertd,
        LoadImaged,
        Orientationd,
        SaveImaged,
        Spacingd,
    )

    parser = _config(configs)
    network = parser.get_parsed_content("network_def", instantiate=True)
    network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    network.eval()
    roi, overlap, batch = (parser.get_parsed_content(k) for k in ("roi_size", "overlap", "sw_batch_size"))
    pre = [
        ("LoadImaged", LoadImaged("image", image_only=True)),
        ("EnsureChannelFirstd", EnsureChannelFirstd("image")),
        ("Orientationd", Orientationd("image", axcodes="RAS")),
        ("Spacingd", Spacingd("image", pixdim=parser.get_parsed_content("pixdim"), mode="bilinear")),
        ("scaling", parser.get_parsed_content("scale_intensity", instantiate=True)),
    ]
    times: dict[str, float] = {}
    data = {"image": image}
    for name, transform in pre:
        start = time.perf_counter()
        data = transform(data)
        times[name] = time.perf_counter() - start
    start = time.perf_counter()
    with torch.no_grad():
        data["pred"] = sliding_window_inference(data["image"][None].float(), roi, batch, network, overlap, "gaussian")[
            0
        ]
    times["sliding_window_inference"] = time.perf_counter() - start
    from monai.transforms import Compose

    post = [
        ("Activationsd(softmax)", Activationsd("pred", softmax=True)),
        ("Invertd", Invertd("pred", Compose([t for _, t in pre[:4]]), orig_keys="image", nearest_interp=False)),
        ("AsDiscreted(argmax)", AsDiscreted("pred", argmax=True)),
        (
            "SaveImaged",
            SaveImaged("pred", output_dir=out_dir, output_postfix="seg", separate_folder=False, dtype=np.uint8),
        ),
    ]
    for name, transform in post:
        start = time.perf_counter()
        data = transform(data)
        times[name] = time.perf_counter() - start
    return times


def run_baseline(image: str, weights: str, configs: list[str], out_dir: Path) -> dict:
    command = [sys.executable, "-m", "benchmarks.bench_end_to_end", "--worker", image, weights, str(out_dir), *configs]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ})
    if result.returncode != 0:
        raise RuntimeError(f"baseline worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_ours(image: str, weights: str, configs: list[str], out_dir: Path, crop: bool) -> dict:
    """``predict`` in a subprocess; its stage seconds from the end-of-run summary."""
    command = [sys.executable, "-m", "monai_unet_bundle", "predict", image, "--output-dir", str(out_dir)]
    command += ["--model", weights, "--no-progress", "--set", f"crop_foreground={crop}"]
    for config in configs:
        command += ["--config", config]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    match = STAGES.search(result.stdout)
    if result.returncode != 0 or not match:
        raise RuntimeError(f"predict failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    stages = {}
    for part in match.group(3).split(", "):
        name, seconds = re.match(r"(.+) ([0-9.]+) s \(\d+%\)", part).groups()
        stages[name] = float(seconds)
    return stages


#: the issue's stages, each the transforms / parts that make it up on either side (anything else is scaling)
GROUPS = {
    "read": ("MemoryCheckedLoadImaged", "LoadImaged", "EnsureChannelFirstd", "CheckImaged"),
    "orientation + resampling": ("Orientationd", "Lambdad(Spacing)", "Spacingd"),
    "windows + stitching": ("windows", "stitching", "sliding_window_inference"),
    "inversion + argmax": ("InvertToInputd", "Activationsd(softmax)", "Invertd", "AsDiscreted(argmax)"),
    "write": ("QualityReportd", "SavePredictiond", "SaveImaged"),
}


def grouped(stages: dict[str, float]) -> dict[str, float]:
    """Seconds per stage of :data:`GROUPS` (plus ``scaling``), in pipeline order."""
    out = dict.fromkeys(["read", "orientation + resampling", "scaling", *list(GROUPS)[2:]], 0.0)
    for name, seconds in stages.items():
        group = next((g for g, names in GROUPS.items() if name in names), "scaling")
        out[group] += seconds
    return out


def matching_configs(weights: str, configs: list[str]) -> list[str] | None:
    """``configs`` when given; else the first of (none, data/brain3d/plan.yaml: `make demo`'s plan) whose network
    takes ``weights`` as its state_dict; None when no file or none fits (then random weights are used)."""
    import torch

    if configs or not Path(weights).is_file():
        return configs if Path(weights).is_file() else None
    state = torch.load(weights, map_location="cpu", weights_only=True)
    plan = REPO / "data" / "brain3d" / "plan.yaml"
    for candidate in ([], [str(plan)] if plan.is_file() else None):
        if candidate is None:
            continue
        try:
            _config(candidate).get_parsed_content("network_def", instantiate=True).load_state_dict(state)
        except RuntimeError:  # another network's weights
            continue
        return candidate
    return None


def labels(folder: Path) -> np.ndarray:
    import nibabel as nib

    (path,) = sorted(folder.glob("*.nii*"))
    return np.asarray(nib.load(path).dataobj).astype(np.int64).squeeze()


def nnunet_hook() -> str:
    """HOOK for nnU-Net v2's predictor (issue 15): runs only where ``import nnunetv2`` works."""
    try:
        import nnunetv2  # noqa: F401
    except ImportError:
        return "skipped: nnunetv2 is not installed (the optional peers extra)"
    return "nnunetv2 is installed, but the nnUNetPredictor comparison is not implemented yet"


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        image, weights, out_dir, *configs = argv[1:]
        print(json.dumps(baseline_worker(image, weights, configs, out_dir)))
        return {}
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(REPO / "models" / "model.pt"))
    parser.add_argument("--config", action="append", default=[], help="merged after inference.yaml (a plan.yaml)")
    parser.add_argument("--image", default=None, help="default: the held-out brain3d hemisphere")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / f"{NAME}.json"))
    args = parser.parse_args(argv)
    import torch
    from monai_unet_bundle.cpu_capability import cpu_line
    from monai_unet_bundle.data import training_datalist
    from results.machine import machine_info
    from results.publish import save_json

    image = args.image or training_datalist(REPO / "data" / "brain3d", "validation")[0]["image"]
    print(f"# {NAME}: CPU {cpu_line()}; load average {os.getloadavg()[0]:.2f}; image {image}", flush=True)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        weights, configs = args.weights, matching_configs(args.weights, args.config)
        if configs is None:  # random weights of the config's network: timings only
            print(f"# no weights that fit the configs at {args.weights}: random weights (timings only)")
            torch.manual_seed(0)
            weights, configs = str(scratch / "random.pt"), args.config
            torch.save(_config(configs).get_parsed_content("network_def", instantiate=True).state_dict(), weights)
        args.config = configs
        ours = run_ours(image, weights, args.config, scratch / "ours", crop=False)
        cropped = run_ours(image, weights, args.config, scratch / "cropped", crop=True)
        baseline = run_baseline(image, weights, args.config, scratch / "monai")
        plain, crop_labels, monai_labels = (
            labels(scratch / "ours"),
            labels(scratch / "cropped"),
            labels(scratch / "monai"),
        )
    crop_agreement = float((plain == crop_labels).mean())
    monai_agreement = float((plain == monai_labels).mean()) if plain.shape == monai_labels.shape else float("nan")
    total = {"ours": sum(ours.values()), "cropped": sum(cropped.values()), "monai": sum(baseline.values())}
    result = {
        "name": NAME,
        "image": image,
        "weights": args.weights if weights == args.weights else "random",
        "configs": args.config,
        "machine": machine_info(),
        "stages": {"ours": ours, "ours_cropped": cropped, "monai": baseline},
        "seconds": total,
        "crop_agreement": crop_agreement,
        "monai_agreement": monai_agreement,
        "nnunet": nnunet_hook(),
    }
    for side, stages in result["stages"].items():
        print(f"# {side} stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    load = f"load {os.getloadavg()[0]:.2f}"
    ours_groups, monai_groups = grouped(ours), grouped(baseline)
    result["stage_groups"] = {"ours": ours_groups, "monai": monai_groups}
    for group, seconds in ours_groups.items():
        theirs = monai_groups[group]
        ratio = f"{theirs / seconds:.2f}" if seconds > 0 else "-"
        print(f"end_to_end stage {group}: ours {seconds:.2f} s, baseline {theirs:.2f} s (MONAI), ratio {ratio}")
    print(f"end_to_end predict: ours {total['ours']:.2f} s, baseline {total['monai']:.2f} s (MONAI plain pipeline), "
          f"ratio {total['monai'] / total['ours']:.2f} ({load})")  # fmt: skip
    print(f"end_to_end predict, nonzero crop: ours {total['cropped']:.2f} s, baseline {total['ours']:.2f} s "
          f"(uncropped), ratio {total['ours'] / total['cropped']:.2f} ({load})")  # fmt: skip
    # an untrained network's labels say little: its agreement figures are marked as such
    weights_note = "" if result["weights"] != "random" else " (random weights)"
    print(f"nonzero crop voxel agreement{weights_note}: ours {100 * crop_agreement:.3f}%, baseline 99.9% "
          f"(the bar for on by default), ratio {crop_agreement / 0.999:.4f}")  # fmt: skip
    print(f"labels equal to MONAI's plain pipeline{weights_note}: ours {100 * monai_agreement:.3f}%, baseline 100%, "
          f"ratio {monai_agreement:.4f}")  # fmt: skip
    print(f"# nnU-Net v2 predictor: {result['nnunet']}")
    save_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
