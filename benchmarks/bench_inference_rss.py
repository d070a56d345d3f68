"""Memory over a long batch: does the resident set grow from volume to volume in one inference process?

    .venv/bin/python -m benchmarks.bench_inference_rss [--volumes 50] [--weights models/model.pt]

A leak (a reference kept to each volume, a growing cache, a per-call allocation never freed) shows as a peak RSS
that rises with every volume, until a long batch is killed. Each side predicts the same ``--volumes`` small NIfTI
files (about 48x64x56 voxels at 2 mm, shapes varying a little, as real scans do) in ONE process:

- ours: ``python -m monai_unet_bundle predict`` (configs/inference.yaml: batch dataset, SegmentationInferer,
  slab-wise inversion, atomic writer), called once for the whole folder;
- baseline: a plain MONAI loop (LoadImaged, EnsureChannelFirstd, Orientationd, Spacingd,
  ScaleIntensityRangePercentilesd, ``sliding_window_inference``, argmax, ``SaveImage``), the same network, roi and
  overlap.

A thread samples the process's RSS (/proc/self/statm) every 5 ms and counts the outputs written, so each sample
belongs to the volume in progress; the peak per volume is printed for every volume. The measure is the growth of
the per-volume peak after warm-up: max over the last 10 volumes minus max over volumes 6-15 (allocator and
library warm-up settle within the first few). This is a benchmark, not a timed test: it prints the numbers and
writes benchmarks/results/inference_rss.json; "no growth" means a growth within noise (a few MiB), not a hard bound.

Output: ``name: ours X, baseline Y, ratio Z`` lines.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ROI = [48, 64, 64]
FEATURES = [16, 32, 64, 128]
MIB = 1024**2


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RssSampler(threading.Thread):
    """Peak RSS per volume: samples are attributed to the volume whose output has not appeared yet."""

    def __init__(self, out_dir: Path, total: int) -> None:
        super().__init__(daemon=True)
        self.out_dir, self.total = out_dir, total
        self.peaks = [0] * total
        self.running = True

    def run(self) -> None:
        while self.running:
            done = len(list(self.out_dir.glob("*_seg.nii.gz"))) if self.out_dir.is_dir() else 0
            if done < self.total:
                self.peaks[done] = max(self.peaks[done], _rss_bytes())
            time.sleep(0.005)


def make_inputs(folder: Path, count: int) -> None:
    """``count`` noisy volumes with a bright ball, 2 mm voxels, shapes 46..50 x 62..66 x 54..58."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        shape = (46 + index % 5, 62 + index % 5, 54 + index % 5)
        grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
        ball = np.linalg.norm(grid - np.array(shape) / 2, axis=-1) < 12
        volume = (ball * 100 + rng.normal(0, 10, shape)).astype(np.float32)
        nib.save(nib.Nifti1Image(volume, np.diag([2.0, 2.0, 2.0, 1.0])), str(folder / f"case{index:03d}.nii.gz"))


def _network(weights: str | None):
    import torch
    from monai_unet_bundle.networks import UNet

    torch.manual_seed(0)
    network = UNet(3, 1, 4, features=FEATURES)
    if weights:
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return network.eval()


def run_ours(inputs: Path, out_dir: Path, weights: str) -> None:
    from monai_unet_bundle.__main__ import main

    status = main(
        [
            "predict",
            str(inputs),
            "--output-dir",
            str(out_dir),
            "--model",
            weights,
            "--no-progress",
            "--roi-size",
            *map(str, ROI),
            "--set",
            f"network_def#features={FEATURES}",
        ]
    )
    if status != 0:
        raise SystemExit(f"predict failed with status {status}")


def run_baseline(inputs: Path, out_dir: Path, weights: str) -> None:
    import torch
    from monai.inferers import sliding_window_inference
    from monai.transforms import (
        Compose,
        EnsureChannelFirstd,
        LoadImaged,
        Orientationd,
        SaveImage,
        ScaleIntensityRangePercentilesd,
        Spacingd,
    )

    network = _network(weights)
    preprocessing = Compose(
        [
            LoadImaged("image", image_only=True),
            EnsureChannelFirstd("image"),
            Orientationd("image", axcodes="RAS"),
            Spacingd("image", pixdim=(2.0, 2.0, 2.0), mode="bilinear"),
            ScaleIntensityRangePercentilesd("image", lower=0.5, upper=99.5, b_min=0.0, b_max=1.0, clip=True),
        ]
    )
    save = SaveImage(
        output_dir=str(out_dir),
        output_postfix="seg",
        output_dtype=np.uint8,
        resample=False,
        separate_folder=False,
        print_log=False,
    )
    for path in sorted(inputs.glob("*.nii.gz")):
        image = preprocessing({"image": str(path)})["image"]
        with torch.no_grad():
            logits = sliding_window_inference(image[None], ROI, 2, network, overlap=0.25, mode="gaussian")
        save(logits[0].argmax(0, keepdim=True).to(torch.uint8), meta_data=image.meta)


def worker(args: argparse.Namespace) -> None:
    inputs, out_dir = Path(args.inputs), Path(args.out_dir)
    total = len(list(inputs.glob("*.nii.gz")))
    sampler = RssSampler(out_dir, total)
    sampler.start()
    started = time.perf_counter()
    (run_ours if args.worker == "ours" else run_baseline)(inputs, out_dir, args.weights)
    seconds = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    print(json.dumps({"peaks": sampler.peaks, "seconds": seconds}))


def _side(side: str, inputs: Path, scratch: Path, weights: str) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--inputs",
        str(inputs),
        "--out-dir",
        str(scratch / f"out_{side}"),
        "--weights",
        weights,
    ]
    result = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"}
    )
    if result.returncode != 0:
        raise SystemExit(f"{side} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def growth(peaks: list[int]) -> float:
    """MiB: max over the last 10 volumes minus max over volumes 6-15."""
    return (max(peaks[-10:]) - max(peaks[5:15])) / MIB


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volumes", type=int, default=50)
    parser.add_argument("--weights", default=None, help="a state_dict of the config's UNet (default: random)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "inference_rss.json"))
    parser.add_argument("--worker", choices=["ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--inputs", help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    if args.volumes < 20:
        parser.error("--volumes must be at least 20 (warm-up 5, reference 6-15, last 10)")
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as scratch:
        scratch = Path(scratch)
        make_inputs(scratch / "in", args.volumes)
        weights = args.weights
        if weights is None:
            import torch

            weights = str(scratch / "random.pt")
            torch.save(_network(None).state_dict(), weights)
        sides = {side: _side(side, scratch / "in", scratch, weights) for side in ("baseline", "ours")}
    results: dict = {
        "volumes": args.volumes,
        "roi": ROI,
        "features": FEATURES,
        "weights": args.weights,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }
    for side, measured in sides.items():
        peaks_mib = [round(p / MIB, 1) for p in measured["peaks"]]
        print(f"{side} peak RSS per volume (MiB): {' '.join(f'{p:.0f}' for p in peaks_mib)}")
        results[side] = {
            "peak_rss_mib_per_volume": peaks_mib,
            "seconds": measured["seconds"],
            "growth_after_warmup_mib": growth(measured["peaks"]),
            "peak_rss_mib": max(peaks_mib),
        }
    ours, base = results["ours"], results["baseline"]
    # a growth within a few MiB is noise, and a ratio of two noises says nothing
    ratio = (
        f"{ours['growth_after_warmup_mib'] / base['growth_after_warmup_mib']:.2f}"
        if abs(base["growth_after_warmup_mib"]) >= 1.0
        else "n/a (baseline within 1 MiB)"
    )
    print(
        f"rss_growth_after_warmup_mib: ours {ours['growth_after_warmup_mib']:.1f}, baseline "
        f"{base['growth_after_warmup_mib']:.1f}, ratio {ratio}"
    )
    print(
        f"peak_rss_mib: ours {ours['peak_rss_mib']:.0f}, baseline {base['peak_rss_mib']:.0f}, ratio "
        f"{ours['peak_rss_mib'] / base['peak_rss_mib']:.2f}"
    )
    print(
        f"seconds_for_{args.volumes}_volumes: ours {ours['seconds']:.1f}, baseline {base['seconds']:.1f}, ratio "
        f"{ours['seconds'] / base['seconds']:.2f}"
    )
    from results.publish import save_json  # here: the baseline worker must not import the package

    print(f"results: {save_json(args.out, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
