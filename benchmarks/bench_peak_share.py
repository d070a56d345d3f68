"""The machine's own peak and the share of it the bundle reaches, measured in one run: inference and training.

    .venv/bin/python -m benchmarks.bench_peak_share [--quick] [--repeats 2] [--out PATH]

Peak: a 4096^2 matmul (``torch.mm``, the best case for the CPU's vector / matrix units) in fp32 and, where the CPU
multiplies bf16 natively (AMX or AVX512-BF16, :mod:`monai_unet_bundle.cpu_capability`), in bf16; measured at the
start and at the end of the run, the higher of the two kept (other jobs on a shared machine lower both alike).
Without native bf16 the bf16 rows are skipped: emulated bf16 runs at a small fraction of fp32 (0.1 vs 20-29
GFLOP/s for a 2048^2 matmul on an AVX2-only AMD EPYC) and the bundle does not use it there.

Achieved: GFLOP/s of the convolutions (:mod:`benchmarks.conv_flops`; a training step counts 3 x the forward) for

- inference: one batch of windows through ``SegmentationInferer``'s window predictor (BatchNorm folded, autocast
  as the bundle chooses it), channels-last or not;
- training: one step as ``configs/train.yaml`` runs it: ``AutocastInferer`` forward, DiceCE loss in fp32 (U2-Net:
  over its seven outputs), backward, AdamW; channels-last (network and batch) or not;

for the default 3D UNet (16-32-64-128, 4 windows / patches of 48x64x64) and U2-Net-lite 2D (4 x 320^2). Each line
reads ``name: ours <achieved> GFLOP/s ..., baseline <peak> GFLOP/s (<precision> matmul peak), ratio <share>`` with
the load average beside it; benchmarks/results/peak_share.json keeps every time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from monai.losses import DeepSupervisionLoss, DiceCELoss

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.conv_flops import TRAINING_STEP_FACTOR, conv_flops  # noqa: E402
from monai_unet_bundle.cpu_capability import cpu_has_fast_bf16, cpu_line  # noqa: E402
from monai_unet_bundle.engines import AutocastInferer  # noqa: E402
from monai_unet_bundle.networks import U2Net, UNet  # noqa: E402
from monai_unet_bundle.prediction import SegmentationInferer  # noqa: E402
from results.machine import machine_info  # noqa: E402
from results.publish import save_json  # noqa: E402

NAME = "peak_share"


def load() -> float:
    return round(os.getloadavg()[0], 2)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def matmul_gflops(dtype: torch.dtype, size: int, repeats: int) -> float:
    """GFLOP/s of a ``size``^2 matmul in ``dtype`` (median of ``repeats``)."""
    g = torch.Generator().manual_seed(0)
    a, b = (torch.rand(size, size, generator=g).to(dtype) for _ in range(2))
    return 2 * size**3 / statistics.median(timed(lambda: torch.mm(a, b), repeats)) / 1e9


def networks(
    quick: bool, batch: int = 4, u2net_size: int = 320
) -> dict[str, tuple[Callable[[], torch.nn.Module], tuple[int, ...], int]]:
    """name -> (network factory, batch shape ``(B, C_in, *spatial)``, classes)."""
    unet = (batch, 1, 48, 64, 64) if not quick else (2, 1, 32, 32, 32)
    u2net = (batch, 1, u2net_size, u2net_size) if not quick else (2, 1, 64, 64)
    return {
        "unet3d": (lambda: UNet(3, 1, 4, features=(16, 32, 64, 128), padding="same", norm="batch"), unet, 4),
        "u2net_lite2d": (lambda: U2Net(2, 1, 2, variant="lite"), u2net, 2),
    }


def memory_format(spatial_dims: int) -> torch.memory_format:
    return torch.channels_last if spatial_dims == 2 else torch.channels_last_3d


def inference_seconds(net: torch.nn.Module, image: torch.Tensor, bf16: bool, cl: bool, repeats: int) -> list[float]:
    """Seconds per batch of windows through the bundle's window predictor (BatchNorm folded)."""
    inferer = SegmentationInferer(image.shape[2:], sw_batch_size=image.shape[0], amp=bf16, channels_last=cl)
    predictor = inferer.predictor(net.eval(), image)
    return timed(lambda: predictor(image), repeats)


def training_seconds(
    net: torch.nn.Module, image: torch.Tensor, label: torch.Tensor, bf16: bool, cl: bool, repeats: int
) -> list[float]:
    """Seconds per training step as configs/train.yaml runs it (channels-last network and batch when ``cl``)."""
    net = net.train()
    if cl:
        fmt = memory_format(image.dim() - 2)
        net, image = net.to(memory_format=fmt), image.contiguous(memory_format=fmt)
    forward = AutocastInferer("cpu", amp=bf16, dtype=torch.bfloat16 if bf16 else None)
    loss_fn = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True), weight_mode="same")
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-5)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss_fn(forward(image, net), label).backward()
        optimizer.step()

    return timed(step, repeats)


def bundle_speedup(cases: dict, precisions: dict) -> dict[str, dict]:
    """Per network: the training step as the bundle runs it (bf16 + channels-last where the CPU has native bf16,
    ``channels_last: auto``; else fp32 default layout) against the fp32 default-layout step, the way the reference
    implementations (U-2-Net's, the UNet paper's) train; same network, same batch, medians of the timed steps."""
    out = {}
    ours_case = "training_bf16_cl" if "bf16" in precisions else "training_fp32"
    for name in sorted({case["network"] for case in cases.values()}):
        ours, baseline = cases.get(f"{name}_{ours_case}"), cases.get(f"{name}_training_fp32")
        if ours is None or baseline is None:
            continue
        ours_s, baseline_s = statistics.median(ours["seconds"]), statistics.median(baseline["seconds"])
        out[name] = {
            "ours": ours_case.removeprefix("training_").replace("_cl", " + channels-last"),
            "ours_s": ours_s,
            "baseline_s": baseline_s,
            "ratio": baseline_s / ours_s,
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per case (after one warm-up)")
    parser.add_argument("--matmul", type=int, default=4096, help="peak matmul size")
    parser.add_argument("--batch", type=int, default=4, help="windows / patches per batch (the issue's: 4)")
    parser.add_argument("--u2net-size", type=int, default=320, help="U2-Net-lite 2D image side (the issue's: 320)")
    parser.add_argument("--quick", action="store_true", help="smoke mode: small batches, 1024^2 matmul, 1 repeat")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / f"{NAME}.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.matmul = 1, 1024
    precisions = {"fp32": torch.float32, **({"bf16": torch.bfloat16} if cpu_has_fast_bf16() else {})}
    print(f"# {NAME}: CPU {cpu_line()}; load average {load()}", flush=True)
    if "bf16" not in precisions:
        print("# bf16 rows skipped: this CPU has no native bf16 (bf16 would be emulated; the bundle runs fp32)")
    peak_start = {p: matmul_gflops(dtype, args.matmul, max(args.repeats, 2)) for p, dtype in precisions.items()}
    results: dict = {
        "name": NAME,
        "cpu": cpu_line(),
        "machine": machine_info(),
        "convention": "FLOPs = 2 x multiply-adds of the convolutions; training step = 3 x forward",
        "matmul_size": args.matmul,
        "cases": {},
    }
    for net_name, (factory, shape, classes) in networks(args.quick, args.batch, args.u2net_size).items():
        g = torch.Generator().manual_seed(0)
        image = torch.rand(*shape, generator=g)
        label = torch.randint(0, classes, (shape[0], 1, *shape[2:]), generator=g)
        torch.manual_seed(0)
        flops = conv_flops(factory().eval(), image)
        for precision in precisions:
            for cl in (False, True):
                for kind in ("inference", "training"):
                    torch.manual_seed(0)
                    net, bf16 = factory(), precision == "bf16"
                    if kind == "inference":
                        seconds, work = inference_seconds(net, image, bf16, cl, args.repeats), flops
                    else:
                        seconds = training_seconds(net, image, label, bf16, cl, args.repeats)
                        work = TRAINING_STEP_FACTOR * flops
                    results["cases"][f"{net_name}_{kind}_{precision}{'_cl' if cl else ''}"] = {
                        "network": net_name,
                        "kind": kind,
                        "precision": precision,
                        "channels_last": cl,
                        "batch_shape": list(shape),
                        "gflop": work / 1e9,
                        "seconds": seconds,
                        "gflops": work / statistics.median(seconds) / 1e9,
                        "load_average_1min": load(),
                    }
    peak_end = {p: matmul_gflops(dtype, args.matmul, max(args.repeats, 2)) for p, dtype in precisions.items()}
    peak = {p: max(peak_start[p], peak_end[p]) for p in precisions}
    results["peak_gflops"] = {"start": peak_start, "end": peak_end, "used": peak}
    for p in precisions:
        print(
            f"matmul_peak_{p}: ours {peak[p]:.1f} GFLOP/s ({args.matmul}^2; start {peak_start[p]:.1f}, end "
            f"{peak_end[p]:.1f}), baseline -, ratio -",
            flush=True,
        )
    for name, case in results["cases"].items():
        case["share_of_peak"] = case["gflops"] / peak[case["precision"]]
        print(
            f"{name}: ours {case['gflops']:.1f} GFLOP/s ({case['gflop']:.1f} GFLOP in "
            f"{statistics.median(case['seconds']):.2f} s, load {case['load_average_1min']}), baseline "
            f"{peak[case['precision']]:.1f} GFLOP/s ({case['precision']} matmul peak), "
            f"ratio {case['share_of_peak']:.2f}",
            flush=True,
        )
    results["bundle_speedup"] = bundle_speedup(results["cases"], precisions)
    for net_name, speedup in results["bundle_speedup"].items():
        print(
            f"{net_name}_training_step_speedup: ours {speedup['ours_s']:.2f} s ({speedup['ours']}), baseline "
            f"{speedup['baseline_s']:.2f} s (fp32, default layout: the reference implementation's way), "
            f"ratio {speedup['ratio']:.2f}",
            flush=True,
        )
    print(f"# load average at the end {load()}")
    save_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
