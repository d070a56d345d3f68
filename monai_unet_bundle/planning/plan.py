"""From a dataset fingerprint to a plan: the bundle ids a training run on that dataset should use, with reasons.

The rules follow what nnU-Net v2 learned, sized for the machine the plan is made on:

- target spacing: the per-axis median; where the coarsest axis is more than 3x the finest (thick slices), that
  axis takes the 10th percentile of its spacings instead (not below the other axes'), as nnU-Net does.
- pooling: per level, only the axes whose current spacing is at most twice the finest current spacing and whose
  feature map is still >= 8 voxels are pooled, so thick-slice volumes pool in-plane first (``pool_sizes``).
- patch: the median non-zero-cropped shape at the target spacing, shrunk along the axis that is largest relative
  to that shape until it fits the memory budget and enough training steps fit the time budget (a timing probe
  measures voxels per second), and in 3D to at most a quarter of that shape's voxels (:data:`REGION_SHARE`); each
  side a multiple of its axis's total pooling (2**depth when it pools at every level); depth and features per level
  follow from the patch.
- intensity: CT clips to the foreground 0.5-99.5 percentiles and z-scores with the foreground mean / std of the
  whole dataset (one linear map, MONAI's ScaleIntensityRanged); other modalities z-score each image over its
  non-zero voxels (MONAI's NormalizeIntensityd).
- schedule: a second probe times the planned network's training step; epochs x epoch_length fill the time budget
  after the validations' estimated cost.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from .fingerprint import DatasetFingerprint, PlanningError, median_axis_values

__all__ = ["NETWORKS", "Plan", "make_plan", "pool_plan"]

NETWORKS = ("unet", "u2net_lite", "u2net")
ANISOTROPY_RATIO = 3.0
MIN_FEATURE_MAP = 4  # voxels per axis at the coarsest level (nnU-Net's 4)
MAX_POOLINGS = {2: 6, 3: 5}
MAX_FEATURES = {2: 512, 3: 320}
U2NET_POOLINGS = 5
TRAIN_SHARE = 0.85  # of the time budget for training steps and validations; the rest: start-up, caching, data
MIN_STEPS = {"cpu": 300, "cuda": 1000}  # the patch shrinks until at least this many steps fit the budget
PROBE_VOXELS = {2: 128**2, 3: 48**3}  # the first (throughput) probe's patch is at most this large
MIN_PATCH_VOXELS = {2: 64**2, 3: 32**3}  # a slow machine shrinks the patch no further; it gets fewer steps
# 3D: a patch is at most this share of the median region, so that the class-balanced patch centres still choose
# what a patch sees (brain3d on a fast CPU: a whole-region 40x96x80 patch gave mean Dice 0.842, CSF 0.615; capped at
# a quarter, 24x48x48, 0.922, CSF 0.839, same 7 minutes). 2D keeps nnU-Net's whole-slice patches (not measured).
REGION_SHARE = {3: 0.25}
BYTES_PER_VOXEL_PER_FEATURE = 48  # training activations (forward + backward, mixed precision), per patch voxel

#: (network kwargs, patch, num_samples) -> seconds per training step; the CLI's runs timing.seconds_per_step
StepTimer = Callable[[dict, Sequence[int], int], float]


@dataclass
class Plan:
    """The planned ids (``overrides()`` is plan.yaml) and, per choice, a line that says why."""

    dataset_dir: str
    spatial_dims: int
    num_classes: int
    class_names: list[str]
    pixdim: list[float]
    roi_size: list[int]
    pool_sizes: list[list[int]]
    features: list[int]
    network: str
    num_samples: int
    class_ratios: list[float]
    scale_intensity: dict
    max_epochs: int
    epoch_length: int
    val_interval: int
    seconds_per_step: float
    device: str
    time_budget_min: float | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    def network_def(self) -> dict:
        if self.network == "unet":
            return {
                "_target_": "monai_unet_bundle.networks.UNet",
                "spatial_dims": "@spatial_dims",
                "in_channels": "@in_channels",
                "out_channels": "@num_classes",
                "features": list(self.features),
                "padding": "same",
                "norm": "batch",
                "pool_sizes": [list(p) for p in self.pool_sizes],
            }
        return {
            "_target_": "monai_unet_bundle.networks.U2Net",
            "spatial_dims": "@spatial_dims",
            "in_channels": "@in_channels",
            "out_channels": "@num_classes",
            "variant": "lite" if self.network == "u2net_lite" else "full",
        }

    def overrides(self) -> dict:
        """The bundle ids of plan.yaml (merged after train.yaml, evaluate.yaml or inference.yaml)."""
        content = {
            "dataset_dir": self.dataset_dir,
            "spatial_dims": self.spatial_dims,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "pixdim": [round(float(p), 4) for p in self.pixdim],
            "roi_size": list(self.roi_size),
            "num_samples": self.num_samples,
            "class_ratios": list(self.class_ratios),
            "max_epochs": self.max_epochs,
            "epoch_length": self.epoch_length,
            "val_interval": self.val_interval,
            # the trainer keeps to it when the machine turns out slower than the probe (handlers/time_budget.py)
            "time_budget_min": self.time_budget_min,
            "scale_intensity": dict(self.scale_intensity),
            "network_def": self.network_def(),
        }
        if self.network != "unet":
            # U2-Net trains all seven outputs (configs/u2net.yaml's loss); the key is unused by inference
            content["loss"] = {
                "_target_": "DeepSupervisionLoss",
                "weight_mode": "same",
                "loss": {"_target_": "DiceCELoss", "to_onehot_y": True, "softmax": True},
            }
        return content


# ------------------------------------------------------------------------------------------------ spacing
def target_spacing(fingerprint: DatasetFingerprint) -> tuple[list[float], str]:
    """Median spacing; thick slices (coarsest > 3x finest) keep the coarse axis at its 10th percentile."""
    spacings = np.asarray(fingerprint.spacings, dtype=np.float64)
    target = [float(v) for v in np.median(spacings, axis=0)]
    why = f"median spacing of {len(spacings)} case(s)"
    worst = int(np.argmax(target))
    others = [t for a, t in enumerate(target) if a != worst]
    if others and target[worst] > ANISOTROPY_RATIO * min(others):
        coarse = max(float(np.percentile(spacings[:, worst], 10)), max(others))
        why += (
            f"; axis {worst} is {target[worst] / min(others):.1f}x coarser than the finest (> {ANISOTROPY_RATIO:g}): "
            f"it takes the 10th percentile of its spacings, {coarse:.3g} mm, so thin-slice cases are not thrown away"
        )
        target[worst] = coarse
    return target, why


# ------------------------------------------------------------------------------------------------ pooling
def pool_plan(patch: Sequence[int], spacing: Sequence[float], max_poolings: int) -> list[list[int]]:
    """Per-level pooling sizes (nnU-Net's rule): an axis pools while its spacing is at most twice the finest
    current spacing among the poolable axes and its feature map stays >= ``2 * MIN_FEATURE_MAP``."""
    current, sizes, levels = [float(s) for s in spacing], [int(p) for p in patch], []
    for _ in range(max_poolings):
        poolable = [a for a in range(len(sizes)) if sizes[a] >= 2 * MIN_FEATURE_MAP]
        if not poolable:
            break
        finest = min(current[a] for a in poolable)
        level = [2 if a in poolable and current[a] <= 2 * finest else 1 for a in range(len(sizes))]
        levels.append(level)
        for a, p in enumerate(level):
            current[a] *= p
            sizes[a] //= p
    return levels


def _axis_factors(levels: Sequence[Sequence[int]], dims: int) -> list[int]:
    return [int(np.prod([level[a] for level in levels])) if levels else 1 for a in range(dims)]


def _fit_patch(
    median_shape: Sequence[float], spacing: Sequence[float], network: str, max_voxels: float
) -> tuple[list[int], list[list[int]]]:
    """Largest patch <= ``max_voxels`` grown from the median shape (shrunk along the axis largest relative to it)."""
    dims = len(median_shape)
    patch = [max(int(math.ceil(s)), 2 * MIN_FEATURE_MAP) for s in median_shape]
    while True:
        if network == "unet":
            levels = pool_plan(patch, spacing, MAX_POOLINGS[dims])
        else:
            levels = [[2] * dims] * U2NET_POOLINGS
        factors = _axis_factors(levels, dims)
        rounded = [int(math.ceil(p / f)) * f for p, f in zip(patch, factors)]
        if np.prod(rounded) <= max_voxels:
            return rounded, levels
        ratios = [p / m for p, m in zip(rounded, median_shape)]
        shrinkable = [a for a in range(dims) if rounded[a] - factors[a] >= max(factors[a], 2 * MIN_FEATURE_MAP)]
        if not shrinkable:
            return rounded, levels
        axis = max(shrinkable, key=lambda a: ratios[a])
        patch = list(rounded)
        patch[axis] = rounded[axis] - factors[axis]


def _features(depth: int, base: int, dims: int) -> list[int]:
    return [min(base * 2**level, MAX_FEATURES[dims]) for level in range(depth + 1)]


def _windows(shape: Sequence[float], roi: Sequence[int], overlap: float = 0.25) -> int:
    count = 1
    for s, r in zip(shape, roi):
        step = max(1, int(r * (1 - overlap)))
        count *= 1 if s <= r else int(math.ceil((s - r) / step)) + 1
    return count


def available_memory_gb(device: str) -> float:
    """Half the free memory of the device (CUDA: the GPU's; CPU: the machine's), the default budget."""
    if device == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        return 0.8 * free / 2**30
    try:
        with open("/proc/meminfo") as stream:
            fields = dict(line.split(":", 1) for line in stream)
        return 0.5 * int(fields["MemAvailable"].split()[0]) / 2**20
    except (OSError, KeyError, ValueError):
        return 0.5 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


# ------------------------------------------------------------------------------------------------ the plan
def make_plan(
    fingerprint: DatasetFingerprint,
    time_step: StepTimer,
    device: str = "cpu",
    memory_gb: float | None = None,
    time_budget_min: float = 10.0,
    network: str = "unet",
) -> Plan:
    """Plan the bundle ids for ``fingerprint``.

    Args:
        time_step: ``(network_def_kwargs, patch, num_samples) -> seconds`` for one training step; the CLI passes
            a probe that runs real steps (:func:`monai_unet_bundle.planning.timing.seconds_per_step`).
        device: "cpu" or "cuda": the machine the run will train on (features and step counts differ).
        memory_gb: memory budget of one training step (None: :func:`available_memory_gb`).
        time_budget_min: wall-clock minutes the whole training run may take.
        network: "unet", "u2net_lite" or "u2net".
    """
    if network not in NETWORKS:
        raise PlanningError(f"network must be one of {NETWORKS}, got '{network}'")
    if device not in ("cpu", "cuda"):
        raise PlanningError(f"device must be 'cpu' or 'cuda', got '{device}'")
    dims = fingerprint.spatial_dims
    reasons: dict[str, str] = {}
    spacing, reasons["pixdim"] = target_spacing(fingerprint)

    cropped = np.asarray(fingerprint.cropped_shapes, dtype=np.float64)
    native = np.asarray(fingerprint.spacings, dtype=np.float64)
    median_shape = median_axis_values(cropped * native / np.asarray(spacing))
    if min(median_shape) < 2 * MIN_FEATURE_MAP:
        raise PlanningError(
            f"{fingerprint.dataset_dir}: the median non-zero region is {[round(s) for s in median_shape]} voxels at "
            f"the target spacing: too small for one pooling (each side needs >= {2 * MIN_FEATURE_MAP})"
        )
    num_samples = 2 if dims == 3 else 4
    base = 32 if device == "cuda" else 16
    memory_gb = available_memory_gb(device) if memory_gb is None else float(memory_gb)
    memory_voxels = memory_gb * 2**30 / (BYTES_PER_VOXEL_PER_FEATURE * base * num_samples)

    def network_kwargs(levels: Sequence[Sequence[int]]) -> dict:
        if network == "unet":
            return {"network": "unet", "features": _features(len(levels), base, dims), "pool_sizes": levels}
        return {"network": network}

    # throughput probe on a patch of at most PROBE_VOXELS (same shape rule), then the time cap on the patch
    probe_patch, probe_levels = _fit_patch(median_shape, spacing, network, min(memory_voxels, PROBE_VOXELS[dims]))
    probe_seconds = time_step(network_kwargs(probe_levels), probe_patch, num_samples)
    voxels_per_second = num_samples * float(np.prod(probe_patch)) / probe_seconds
    budget_s = 60.0 * float(time_budget_min)
    time_voxels = voxels_per_second * TRAIN_SHARE * budget_s / (MIN_STEPS[device] * num_samples)
    time_voxels = max(time_voxels, MIN_PATCH_VOXELS[dims])
    share = REGION_SHARE.get(dims)
    region_voxels = max(share * float(np.prod(median_shape)), MIN_PATCH_VOXELS[dims]) if share else math.inf
    roi, levels = _fit_patch(median_shape, spacing, network, min(memory_voxels, time_voxels, region_voxels))
    limit = "memory" if memory_voxels < time_voxels else "time"
    region_note = (
        f"; capped at {share:.0%} of the region ({region_voxels:,.0f} voxels) so that class-balanced "
        "patch centres still choose what a patch sees"
        if region_voxels < min(memory_voxels, time_voxels)
        else ""
    )
    shape_text = "x".join(str(round(s)) for s in median_shape)
    reasons["roi_size"] = (
        f"median non-zero region {shape_text} at the target spacing; the {limit} budget allows "
        f"{min(memory_voxels, time_voxels):,.0f} voxels per patch ({memory_gb:.1f} GB; "
        f"{voxels_per_second:,.0f} voxels/s measured here, >= {MIN_STEPS[device]} steps in {time_budget_min:g} min)"
        f"{region_note}; each side a multiple of its axis's pooling"
    )
    kwargs = network_kwargs(levels)
    features = kwargs.get("features", [])
    if network == "unet":
        in_plane = sum(1 for level in levels if min(level) == 1)
        reasons["network"] = (
            f"UNet, {len(levels)} poolings (down to >= {MIN_FEATURE_MAP} voxels per axis), features {features} "
            f"({base} at full resolution on {device}, doubling per level up to {MAX_FEATURES[dims]})"
            + (
                f"; {in_plane} level(s) leave an axis unpooled (a coarse axis waits for the finer ones to catch "
                "up, or the axis is down to its minimum)"
                if in_plane
                else ""
            )
        )
    else:
        reasons["network"] = f"U2-Net ({network}), 5 poolings on every axis: patch sides multiples of 32"
    reasons["num_samples"] = (
        f"{num_samples} patches per step (nnU-Net's 3D batch of 2)"
        if dims == 3
        else f"{num_samples} patches per step (2D steps are cheap: the hand-tuned 2D default)"
    )

    # class count, names and patch-centre ratios
    names = [fingerprint.labels[str(c)] for c in range(fingerprint.num_classes)]
    fractions = fingerprint.class_fractions
    ratios = [1 if f > 0 else 0 for f in fractions]
    rarest = min(range(1, len(fractions)), key=lambda c: fractions[c])
    reasons["class_ratios"] = (
        f"{len(names)} classes from dataset.json ({', '.join(names)}); voxel fractions "
        + ", ".join(f"{n} {f:.3f}" for n, f in zip(names, fractions))
        + f": every class present is a patch centre equally often, so the rarest ({names[rarest]}, "
        f"{fractions[rarest]:.1%} of voxels) centres {1 / max(1, sum(ratios)):.0%} of the patches"
    )

    # intensity scaling by modality
    stats = fingerprint.foreground_intensity
    if fingerprint.modality.strip().upper().startswith("CT"):
        low, high, mean, std = (
            stats["percentile_00_5"],
            stats["percentile_99_5"],
            stats["mean"],
            max(stats["std"], 1e-8),
        )
        scale = {
            "_target_": "ScaleIntensityRanged",
            "keys": "image",
            "a_min": round(low, 4),
            "a_max": round(high, 4),
            "b_min": round((low - mean) / std, 6),
            "b_max": round((high - mean) / std, 6),
            "clip": True,
        }
        reasons["scale_intensity"] = (
            f"CT: clip to the foreground 0.5-99.5 percentiles [{low:.1f}, {high:.1f}] and z-score with the foreground "
            f"mean {mean:.1f} / std {std:.1f} (one linear map)"
        )
    else:
        scale = {"_target_": "NormalizeIntensityd", "keys": "image", "nonzero": True}
        reasons["scale_intensity"] = (
            f"{fingerprint.modality}: z-score each image over its non-zero voxels (intensities are not calibrated)"
        )

    # schedule from a probe of the planned network at the planned patch
    step_seconds = time_step(kwargs, roi, num_samples)
    val_shapes = np.asarray(fingerprint.validation_shapes or fingerprint.shapes, dtype=np.float64)
    val_native = np.asarray(fingerprint.validation_spacings or fingerprint.spacings, dtype=np.float64)
    windows = sum(_windows(s, roi) for s in val_shapes * val_native / np.asarray(spacing))
    # a window's forward pass costs about a third of a patch's training step; 4 windows per batch
    validation_seconds = 1.0 + windows * step_seconds / (3.0 * num_samples)
    # up to 8 validations, taking at most a fifth of the budget
    validations = int(np.clip(0.2 * TRAIN_SHARE * budget_s / validation_seconds, 1, 8))
    train_seconds = TRAIN_SHARE * budget_s - validations * validation_seconds
    steps = max(10, int(train_seconds / step_seconds))
    epoch_length = int(min(250, max(5, steps // 40)))
    max_epochs = max(1, steps // epoch_length)
    val_interval = max(1, max_epochs // validations)
    reasons["max_epochs"] = (
        f"a training step takes {step_seconds:.2f} s here (probe of the planned network); {validations} validations "
        f"~{validation_seconds:.0f} s each ({windows} windows); {TRAIN_SHARE:.0%} of {time_budget_min:g} min -> "
        f"{max_epochs} epochs x {epoch_length} steps, validation every {val_interval} epochs; the trainer "
        f"shortens the run (and its LR decay) if the epochs turn out slower than that"
    )
    if steps < MIN_STEPS[device]:
        reasons["max_epochs"] += (
            f". WARNING: fewer than {MIN_STEPS[device]} steps fit: expect an undertrained network; raise "
            "--time_budget_min or plan on a less loaded / faster machine"
        )
    return Plan(
        dataset_dir=fingerprint.dataset_dir,
        spatial_dims=dims,
        num_classes=len(names),
        class_names=names[1:],
        pixdim=spacing,
        roi_size=roi,
        pool_sizes=levels,
        features=features,
        network=network,
        num_samples=num_samples,
        class_ratios=ratios,
        scale_intensity=scale,
        max_epochs=max_epochs,
        epoch_length=epoch_length,
        val_interval=val_interval,
        seconds_per_step=step_seconds,
        device=device,
        time_budget_min=float(time_budget_min),
        reasons=reasons,
    )
