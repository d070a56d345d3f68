"""Training-step throughput: this bundle's 3D UNet and U2-Net-lite vs MONAI BasicUNet of similar size, same run.

    .venv/bin/python -m benchmarks.bench_train_step [--steps 8] [--patch 48 64 64] [--batch 4] [--quick]

One training step is what ``configs/train.yaml`` does per iteration: forward, DiceCELoss (U2-Net: MONAI's
DeepSupervisionLoss over its seven outputs, as configs/u2net.yaml), backward, AdamW step. Every network sees the
same random batch (default: 4 patches of 48 x 64 x 64, the config's ``num_samples`` x ``roi_size``), in the same
precision: bf16 autocast where the CPU has native bf16 (the bundle's ``amp: true``), else fp32. Baselines are MONAI
``BasicUNet`` with BatchNorm (as ours; its default is InstanceNorm) and the feature widths whose parameter count
is closest to each of ours:

- UNet (16-32-64-128, same padding, BatchNorm; 1.40 M parameters) vs BasicUNet (16, 16, 32, 64, 128, 16; 1.44 M);
- U2-Net lite (3.40 M) vs BasicUNet (16, 32, 64, 128, 128, 16; 3.47 M).

The sides alternate step by step (ours, baseline, ours, ...) after warm-up, so load from other processes on a shared
machine falls on both alike; the median step time of each is reported. Output: ``name: ours X, baseline Y, ratio Z``
in patches per second (ratio = ours / baseline, higher is better for ours) and benchmarks/results/train_step.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch
from monai.losses import DeepSupervisionLoss, DiceCELoss
from monai.networks.nets import BasicUNet

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monai_unet_bundle.cpu_capability import cpu_has_fast_bf16  # noqa: E402
from monai_unet_bundle.networks import U2Net, UNet  # noqa: E402
from results.machine import machine_info  # noqa: E402
from results.publish import save_json  # noqa: E402

NAME = "train_step"
NUM_CLASSES = 4


def pairs() -> dict[str, tuple[torch.nn.Module, torch.nn.Module, str]]:
    """name -> (ours, MONAI baseline of similar parameter count, baseline description)."""
    torch.manual_seed(0)
    return {
        "train_step_unet3d": (
            UNet(3, 1, NUM_CLASSES, features=(16, 32, 64, 128), padding="same", norm="batch"),
            BasicUNet(3, 1, NUM_CLASSES, features=(16, 16, 32, 64, 128, 16), norm="batch"),
            "monai BasicUNet(features=(16, 16, 32, 64, 128, 16), norm=batch)",
        ),
        "train_step_u2net_lite3d": (
            U2Net(3, 1, NUM_CLASSES, variant="lite"),
            BasicUNet(3, 1, NUM_CLASSES, features=(16, 32, 64, 128, 128, 16), norm="batch"),
            "monai BasicUNet(features=(16, 32, 64, 128, 128, 16), norm=batch)",
        ),
    }


class Step:
    """One training step of ``network`` on a fixed batch: forward, loss, backward, AdamW."""

    def __init__(self, network: torch.nn.Module, image: torch.Tensor, label: torch.Tensor, bf16: bool) -> None:
        self.network = network.train()
        self.image, self.label = image, label
        # U2-Net returns [fused, side_1..side_6] in training mode; a single tensor passes straight through
        self.loss = DeepSupervisionLoss(DiceCELoss(to_onehot_y=True, softmax=True), weight_mode="same")
        self.optimizer = torch.optim.AdamW(network.parameters(), lr=3e-3, weight_decay=1e-5)
        self.bf16 = bf16

    def __call__(self) -> float:
        start = time.perf_counter()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16 else nullcontext():
            loss = self.loss(self.network(self.image), self.label)
        loss.backward()
        self.optimizer.step()
        return time.perf_counter() - start


def measure(ours: Step, baseline: Step, steps: int, warmup: int) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        ours()
        baseline()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(steps):
        times[0].append(ours())
        times[1].append(baseline())
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="measured steps per network")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--patch", type=int, nargs=3, default=[48, 64, 64])
    parser.add_argument("--batch", type=int, default=4, help="patches per step")
    parser.add_argument("--fp32", action="store_true", help="fp32 even where the CPU has native bf16")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 2 patches of 32^3, 1 step")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / f"{NAME}.json"))
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.patch, args.batch = 1, 1, [32, 32, 32], 2
    bf16 = cpu_has_fast_bf16() and not args.fp32
    g = torch.Generator().manual_seed(0)
    image = torch.rand(args.batch, 1, *args.patch, generator=g)
    label = torch.randint(0, NUM_CLASSES, (args.batch, 1, *args.patch), generator=g)
    results: dict = {
        "name": NAME,
        "patch": args.patch,
        "batch": args.batch,
        "steps": args.steps,
        "precision": "bf16 autocast" if bf16 else "fp32",
        "machine": machine_info(),
        "networks": {},
    }
    for name, (ours_net, base_net, base_desc) in pairs().items():
        ours_t, base_t = measure(
            Step(ours_net, image, label, bf16), Step(base_net, image, label, bf16), args.steps, args.warmup
        )
        ours_s, base_s = statistics.median(ours_t), statistics.median(base_t)
        ours_rate, base_rate = args.batch / ours_s, args.batch / base_s
        results["networks"][name] = {
            "ours": type(ours_net).__name__,
            "baseline": base_desc,
            "ours_parameters": sum(p.numel() for p in ours_net.parameters()),
            "baseline_parameters": sum(p.numel() for p in base_net.parameters()),
            "ours_step_s": ours_t,
            "baseline_step_s": base_t,
            "ours_patches_per_s": ours_rate,
            "baseline_patches_per_s": base_rate,
            "ratio": ours_rate / base_rate,
        }
        print(
            f"{name}: ours {ours_rate:.3g} patches/s, baseline {base_rate:.3g} patches/s, "
            f"ratio {ours_rate / base_rate:.2f}",
            flush=True,
        )
    save_json(args.out, results)
    return results


if __name__ == "__main__":
    main()
