"""Benchmark: RandCoarseElasticd vs MONAI Rand3DElasticd on a 1 x 128^3 image + label pair.

    python -m benchmarks.bench_elastic [results.json] [--device cuda]

Both deform an image (trilinear) and a label (nearest) with reflection padding, in this process, on the same data;
the median time per call over several calls (each a new random deformation) is reported. MONAI draws a
full-resolution random field and Gaussian-smooths it (sigma 5-8 voxels, magnitude 100-200); ours interpolates a
3 x 3 x 3 grid of Gaussian displacements (sigma 10 voxels) with tricubic weights and resamples both keys on one grid.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch
from monai.transforms import Rand3DElasticd
from monai_unet_bundle.transforms import RandCoarseElasticd
from results.publish import save_json

NAME = "elastic"


def median_seconds(transform, data: dict, repeats: int, device: torch.device) -> float:
    transform.set_random_state(seed=0)
    transform(data)  # warm-up
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        transform(data)
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(out_path: str | None = None, device_name: str = "cpu", repeats: int = 5) -> dict:
    device = torch.device(device_name)
    g = torch.Generator().manual_seed(0)
    data = {
        "image": torch.rand(1, 128, 128, 128, generator=g).to(device),
        "label": torch.randint(0, 4, (1, 128, 128, 128), generator=g).float().to(device),
    }
    keys, modes = ["image", "label"], ["bilinear", "nearest"]
    ours_t = RandCoarseElasticd(keys, prob=1.0, grid_size=3, sigma=10.0, mode=modes, padding_mode="reflection")
    monai_t = Rand3DElasticd(
        keys,
        sigma_range=(5, 8),
        magnitude_range=(100, 200),
        prob=1.0,
        mode=modes,
        padding_mode="reflection",
        device=device,
    )
    ours = median_seconds(ours_t, data, repeats, device)
    baseline = median_seconds(monai_t, data, repeats, device)
    result = {
        "name": NAME,
        "input": "image + label, 1 x 128^3 float32",
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "ours_s": ours,
        "baseline_s": baseline,
        "baseline": "monai.transforms.Rand3DElasticd(sigma_range=(5, 8), magnitude_range=(100, 200))",
        "ratio": baseline / ours,
        "target_ratio": 2.0,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    print(f"{NAME}: ours {ours * 1e3:.0f} ms, baseline {baseline * 1e3:.0f} ms, ratio {result['ratio']:.2f} ({device})")
    save_json(out_path or Path(__file__).parent / "results" / f"{NAME}.json", result)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=None, help="results JSON (default benchmarks/results/elastic.json)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    main(args.out, args.device, args.repeats)
