"""Benchmark: U-Net weight map, bounded per-object distance transforms vs the full-image reference.

    python -m benchmarks.bench_weight_map [results.json]

Input: the stardist 0.9.2 nuclei mask (512 x 512, 125 objects). Baseline: ``unet_weight_map_reference`` (one
full-image Euclidean distance transform per object, then the two smallest per pixel; MONAI has no weight map).
Both run in this process on the same input; the median of several runs is reported, and the maximum absolute
difference between the two outputs is recorded (it must stay below 1e-3).
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK
from monai_unet_bundle.data.sources import package_file
from monai_unet_bundle.transforms.weight_map import unet_weight_map, unet_weight_map_reference
from results.publish import save_json

NAME = "weight_map"


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(out_path: str | None = None) -> dict:
    mask = SimpleITK.GetArrayFromImage(SimpleITK.ReadImage(str(package_file("stardist", "data/images/mask2d.tif"))))
    ours = median_seconds(lambda: unet_weight_map(mask, w0=10.0, sigma=5.0), repeats=30)
    baseline = median_seconds(lambda: unet_weight_map_reference(mask, w0=10.0, sigma=5.0), repeats=5)
    max_abs_diff = float(np.abs(unet_weight_map(mask) - unet_weight_map_reference(mask)).max())
    result = {
        "name": NAME,
        "input": f"stardist mask2d.tif {mask.shape}, {len(np.unique(mask)) - 1} objects, w0=10, sigma=5",
        "ours_s": ours,
        "baseline_s": baseline,
        "baseline": "unet_weight_map_reference (full-image EDT per object)",
        "ratio": baseline / ours,
        "max_abs_diff": max_abs_diff,
        "target_ratio": 30.0,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(
        f"{NAME}: ours {ours * 1e3:.1f} ms, baseline {baseline * 1e3:.1f} ms, ratio {result['ratio']:.1f} "
        f"(max |diff| {max_abs_diff:.2e})"
    )
    save_json(out_path or Path(__file__).parent / "results" / f"{NAME}.json", result)
    return result


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
