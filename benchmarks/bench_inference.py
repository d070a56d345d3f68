"""Inference speed and memory: this bundle's SegmentationInferer vs MONAI's default sliding window, same run.

    .venv/bin/python -m benchmarks.bench_inference [--weights models/model.pt] [--sizes 160,160,160 300,370,320]

Both sides run the same network (the config's 3D UNet, features 16-32-64-128, 4 classes) with the same weights on
the same volume, with the same roi and overlap (configs/inference.yaml's, or --roi / --overlap) and Gaussian blending:

- baseline: ``monai.inferers.sliding_window_inference`` in fp32 under ``torch.no_grad`` with sw_batch_size 1;
- ours: ``SegmentationInferer`` (bf16 autocast where the CPU has native bf16, channels-last, BatchNorm folded,
  inference mode, the config's sw_batch_size).

Each side runs in its own subprocess, so its peak RSS (``ru_maxrss``) is its own. The volume is the MNI152 T1
template at 2 mm (nilearn's file, as the brain3d data uses it), scaled to [0, 1] by its percentiles and mirrored
out to the requested size, so a trained model sees brain texture at its training scale everywhere. Reported per
size: time and throughput (voxels/s), the throughput ratio, argmax voxel agreement, and peak RSS of each side.

``--e2e`` adds the whole pipeline on a 300x370x320 NIfTI at 2 mm (network grid = file grid = 35.5 M voxels, the
worst case): ``python -m monai_unet_bundle predict`` in a subprocess, its peak RSS against the 3 GiB bound.

Output: one line per measure, ``name: ours X, baseline Y, ratio Z``, and benchmarks/results/inference.json.
Without a trained model (``--weights``; by default models/model.pt of ``make demo``, else the final UNet of the
brain3d result run, whichever exists and is this UNet: a planned ``make demo`` network may not be) the weights are
random: an untrained network's classes are near ties everywhere, so its
agreement figure says little (the timings do not depend on the weights).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FEATURES = (16, 32, 64, 128)
GIB = 1024**3


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def brain_volume(size: tuple[int, ...]) -> np.ndarray:
    """The MNI152 T1 at 2 mm, scaled to [0, 1] by its 0.5 / 99.5 percentiles, mirrored out to ``size``."""
    import nibabel as nib
    from monai_unet_bundle.data.brain3d import _TEMPLATE, _block_mean
    from monai_unet_bundle.data.sources import package_file

    t1 = np.asarray(nib.load(package_file("nilearn", _TEMPLATE.format("t1"))).dataobj, dtype=np.float32)
    t1 = _block_mean(t1, 2)
    low, high = np.percentile(t1, [0.5, 99.5])
    t1 = np.clip((t1 - low) / (high - low), 0.0, 1.0).astype(np.float32)
    pad = [(0, max(0, s - n)) for s, n in zip(size, t1.shape)]
    t1 = np.pad(t1, pad, mode="symmetric")
    return np.ascontiguousarray(t1[tuple(slice(0, s) for s in size)])


def _inference_config() -> dict:
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(REPO / "configs" / "inference.yaml"))
    return {key: parser.get_parsed_content(key) for key in ("roi_size", "overlap", "sw_batch_size")}


#: trained UNets of this bundle's configuration, in the order they are looked for
TRAINED = (REPO / "models" / "model.pt", REPO / "outputs" / "results" / "brain3d" / "unet" / "final" / "model.pt")


def fits(weights: Path) -> bool:
    """Whether ``weights`` is a state_dict of this benchmark's UNet (``make demo`` trains a planned network, whose
    layers can differ: in-plane-only pooling, other widths)."""
    import torch

    try:
        make_network(None).load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except RuntimeError:
        return False
    return True


def default_weights() -> str | None:
    """The first trained model of :data:`TRAINED` that exists and fits the benchmark's UNet (``make demo``, then the
    brain3d result run); None: random weights."""
    return next((str(path) for path in TRAINED if path.is_file() and fits(path)), None)


def make_network(weights: str | None):
    import torch
    from monai_unet_bundle.networks import UNet

    torch.manual_seed(0)
    net = UNet(3, 1, 4, features=FEATURES, padding="same", norm="batch")
    if weights:
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net.eval()


def worker(args: argparse.Namespace) -> None:
    """One side of one comparison, in its own process: prints a JSON line with time, RSS; saves the argmax."""
    import torch
    from monai.inferers import sliding_window_inference
    from monai_unet_bundle.prediction import SegmentationInferer

    size = tuple(int(s) for s in args.size.split(","))
    roi = tuple(int(r) for r in args.roi.split(","))
    net = make_network(args.weights or None)
    x = torch.from_numpy(brain_volume(size))[None, None]
    rss_before = _peak_rss_bytes()
    inferer = SegmentationInferer(
        roi, sw_batch_size=args.sw_batch_size, overlap=args.overlap, mode="gaussian", amp=not args.no_amp
    )

    def infer(volume):
        if args.worker != "baseline":
            return inferer(volume, net)
        with torch.no_grad():
            return sliding_window_inference(volume, roi, 1, net, args.overlap, "gaussian")

    # warm-up on one window-sized corner: oneDNN generates its kernels per tensor shape on first use (seconds for
    # bf16 / AMX), once per process; both sides then run one batch shape only (ours pads its last batch)
    infer(x[(..., *(slice(0, min(n, r)) for n, r in zip(size, roi)))])
    start = time.perf_counter()
    logits = infer(x)
    seconds = time.perf_counter() - start
    labels = logits.argmax(1)[0].to(torch.uint8).numpy()
    np.save(args.argmax_out, labels)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "voxels": int(np.prod(size)),
                "peak_rss": _peak_rss_bytes(),
                "rss_before_inference": rss_before,
                "threads": torch.get_num_threads(),
            }
        )
    )


def _run_worker(side: str, size: str, weights: str | None, args: argparse.Namespace, out: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--size",
        size,
        "--argmax-out",
        str(out),
        "--sw-batch-size",
        str(args.sw_batch_size),
        "--roi",
        args.roi,
        "--overlap",
        str(args.overlap),
    ]
    if weights:
        command += ["--weights", weights]
    if args.no_amp:
        command.append("--no-amp")
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"{side} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _line(name: str, ours: float, baseline: float, unit: str = "", higher_is_better: bool = True) -> str:
    ratio = ours / baseline if higher_is_better else baseline / ours
    return f"{name}: ours {ours:.4g}{unit}, baseline {baseline:.4g}{unit}, ratio {ratio:.2f}"


def end_to_end(weights: str | None, scratch: Path) -> dict:
    """``predict`` on a 300x370x320 NIfTI at 2 mm in a subprocess; its peak RSS and time."""
    import nibabel as nib
    import torch

    size = (300, 370, 320)
    image = (brain_volume(size) * 1000).astype(np.int16)
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])  # LAS: the orientation step has work to do too
    nib.save(nib.Nifti1Image(image, affine), str(scratch / "big.nii.gz"))
    del image
    model = scratch / "model.pt"
    torch.save(make_network(weights).state_dict(), model)
    command = [
        sys.executable,
        "-m",
        "monai_unet_bundle",
        "predict",
        str(scratch / "big.nii.gz"),
        "--output-dir",
        str(scratch / "out"),
        "--model",
        str(model),
        "--no-progress",
    ]
    start = time.perf_counter()
    with open(scratch / "predict.log", "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        # wait4: the resource usage of this child alone (RUSAGE_CHILDREN would include the workers run before)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"predict failed:\n{(scratch / 'predict.log').read_text()[-3000:]}")
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
    peak = usage.ru_maxrss * 1024
    written = nib.load(scratch / "out" / "big_seg.nii.gz")
    assert written.shape == size and np.allclose(written.affine, affine)
    return {"seconds": seconds, "peak_rss": peak, "voxels": int(np.prod(size)), "bound": 3 * GIB}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=None, help="a state_dict (default: models/model.pt if present)")
    parser.add_argument("--sizes", nargs="*", default=["160,160,160", "300,370,320"])
    parser.add_argument("--roi", help="window size X,Y,Z (default: configs/inference.yaml's roi_size)")
    parser.add_argument("--overlap", type=float, help="window overlap (default: the config's)")
    parser.add_argument("--sw-batch-size", type=int, help="ours (default: the config's; the baseline uses 1)")
    parser.add_argument("--no-amp", action="store_true", help="ours in fp32 too")
    parser.add_argument("--e2e", action="store_true", help="also the whole predict pipeline on a 35 M-voxel file")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "inference.json"))
    parser.add_argument("--worker", choices=["baseline", "ours"], help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--argmax-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    config = _inference_config()
    args.roi = args.roi or ",".join(str(int(r)) for r in config["roi_size"])
    args.overlap = config["overlap"] if args.overlap is None else args.overlap
    args.sw_batch_size = args.sw_batch_size or int(config["sw_batch_size"])

    weights = default_weights() if args.weights is None else args.weights
    weights = weights if weights and Path(weights).is_file() else None
    load = os.getloadavg()[0]
    print(
        f"weights: {weights or 'random (no trained model found)'}; cpu: {platform.processor() or platform.machine()}"
        f", {os.cpu_count()} cores, load average {load:.1f} at start"
    )
    print(f"roi {args.roi}, overlap {args.overlap}, sw_batch_size ours {args.sw_batch_size} / baseline 1")
    results: dict = {
        "weights": weights,
        "roi": args.roi,
        "overlap": args.overlap,
        "features": FEATURES,
        "sw_batch_size": {"ours": args.sw_batch_size, "baseline": 1},
        "amp": not args.no_amp,
        "load_average_at_start": load,
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        scratch = Path(tmp)
        for size in args.sizes:
            label = "x".join(size.split(","))
            sides = {}
            for side in ("baseline", "ours"):
                sides[side] = _run_worker(side, size, weights, args, scratch / f"{side}.npy")
            a, b = np.load(scratch / "ours.npy"), np.load(scratch / "baseline.npy")
            agreement = float(np.mean(a == b))
            ours, base = sides["ours"], sides["baseline"]
            throughput = {k: v["voxels"] / v["seconds"] for k, v in sides.items()}
            print(_line(f"{label} throughput (voxels/s)", throughput["ours"], throughput["baseline"]))
            print(_line(f"{label} time (s)", ours["seconds"], base["seconds"], higher_is_better=False))
            kind = "trained" if weights else "random"
            print(
                f"{label} argmax agreement ({kind} weights): ours {agreement:.3%} of voxels equal to the baseline's, "
                f"baseline 100%, ratio {agreement:.4f}"
            )
            print(
                _line(f"{label} peak RSS (GiB)", ours["peak_rss"] / GIB, base["peak_rss"] / GIB, higher_is_better=False)
            )
            results["sizes"][label] = {
                "baseline": base,
                "ours": ours,
                "throughput_ratio": throughput["ours"] / throughput["baseline"],
                "agreement": agreement,
            }
        if args.e2e:
            e2e = end_to_end(weights, scratch)
            verdict = "ok" if e2e["peak_rss"] <= 3 * GIB else "EXCEEDED"
            print(
                f"end-to-end predict 300x370x320 @ 2 mm: {e2e['seconds']:.0f} s, peak RSS "
                f"{e2e['peak_rss'] / GIB:.2f} GiB (bound 3 GiB: {verdict})"
            )
            results["end_to_end"] = e2e
    results["load_average_at_end"] = os.getloadavg()[0]
    from results.publish import save_json  # here: the baseline worker must not import the package

    print(f"results: {save_json(args.out, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
