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
- nnU-Net v2's ``nnUNetPredictor`` (issue 15's third side; the optional ``peers`` extra, skipped with a ``#``
  line where ``import nnunetv2`` fails) in a subprocess, given OUR network and weights (``manual_initialization``)
  and plans written here (:func:`nnunet_plans`): patch = roi_size, spacing = pixdim, its arrays transposed back to
  our (R, A, S) axis order, its default resampling, its Gaussian windows at step 1 - overlap (one per forward
  pass, summed in float16), no mirroring, on the CPU with our thread count. Its normalisation is the nearest to the
  config's scaling (:func:`nnunet_normalization`: a percentile / fixed range is its CTNormalization with the same
  numbers). Timed: read + crop to nonzero + normalise + resample, windows, resample back + argmax + write. Its
  label agreement with ours (uncropped) is information, not a bar.

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


def run_worker(flag: str, image: str, weights: str, configs: list[str], out_dir: Path) -> dict:
    """This module run as ``flag`` (``--worker``: MONAI's plain pipeline, ``--nnunet-worker``) in a subprocess, so
    each side's memory and threads are its own; its last stdout line, JSON."""
    command = [sys.executable, "-m", "benchmarks.bench_end_to_end", flag, image, weights, str(out_dir), *configs]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ})
    if result.returncode != 0:
        raise RuntimeError(f"{flag} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def agreement(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Share of voxels with equal labels (NaN when the grids differ)."""
    return float((ours == theirs).mean()) if ours.shape == theirs.shape else float("nan")


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


#: nnU-Net's configuration name in the plans written here (one configuration: ours)
NNUNET_CONFIGURATION = "3d_fullres"


def nnunet_normalization(scaling, image: np.ndarray) -> dict:
    """nnU-Net's normalisation nearest to our ``scaling`` transform (the config's ``scale_intensity``) on ``image``
    (the raw volume): scheme, use_mask_for_norm, its intensity properties, and how close it is (``note``).

    A fixed or percentile range (ScaleIntensityRanged / ScaleIntensityRangePercentilesd, clipped) is nnU-Net's
    CTNormalization with the range as its clip bounds and mean / std chosen so that it maps the range onto
    [b_min, b_max]: the same numbers (the percentiles are this image's, as ours computes them per image, not the
    training set's as nnU-Net would). NormalizeIntensityd is ZScoreNormalization (nonzero: use_mask_for_norm, whose
    mask is nnU-Net's hole-filled nonzero mask); anything else falls back to plain ZScoreNormalization."""
    from monai.transforms import NormalizeIntensityd, ScaleIntensityRanged, ScaleIntensityRangePercentilesd

    if isinstance(scaling, (ScaleIntensityRanged, ScaleIntensityRangePercentilesd)):
        scaler = scaling.scaler
        if isinstance(scaling, ScaleIntensityRanged):
            low, high, source = scaler.a_min, scaler.a_max, f"the fixed range [{scaler.a_min}, {scaler.a_max}]"
        else:
            low, high = (float(v) for v in np.percentile(image, [scaler.lower, scaler.upper]))
            source = f"this image's percentiles {scaler.lower} / {scaler.upper}"
        width = (high - low) / (scaler.b_max - scaler.b_min)
        properties = {"percentile_00_5": min(low, high), "percentile_99_5": max(low, high)}
        properties |= {"mean": low - scaler.b_min * width, "std": width}
        # nnU-Net's CT scheme always clips: the same as ours only where ours clips too
        exact = "the same mapping" if scaler.clip else "ours does not clip, nnU-Net's CTNormalization does"
        note = f"CTNormalization on {source} onto [{scaler.b_min}, {scaler.b_max}]: {exact}"
        return {"scheme": "CTNormalization", "use_mask_for_norm": False, "properties": properties, "note": note}
    if isinstance(scaling, NormalizeIntensityd):
        nonzero = bool(scaling.normalizer.nonzero)
        note = f"ZScoreNormalization, use_mask_for_norm {nonzero} (NormalizeIntensityd(nonzero={nonzero}))"
        return {"scheme": "ZScoreNormalization", "use_mask_for_norm": nonzero, "properties": {}, "note": note}
    note = f"ZScoreNormalization: no nnU-Net counterpart of {type(scaling).__name__} (different inputs)"
    return {"scheme": "ZScoreNormalization", "use_mask_for_norm": False, "properties": {}, "note": note}


def nnunet_plans(roi_size, pixdim, num_classes: int, normalization: dict) -> tuple[dict, dict]:
    """nnU-Net plans and dataset.json for our network: one 3D configuration read by NibabelIOWithReorient.

    That reader turns the image to RAS (as our Orientationd), then reverses its axes to SimpleITK's (S, A, R) order;
    our network was trained on (R, A, S) arrays (its kernels are not symmetric in the axes), so the plans transpose
    them back ([2, 1, 0] both ways) and the configuration's spacing and patch, given in the transposed order, are
    our ``pixdim`` and ``roi_size`` as they are. Resampling: nnU-Net's defaults (data order 3, segmentation and
    probabilities 1)."""
    if len(roi_size) != 3 or len(pixdim) != 3:
        raise ValueError(f"the nnU-Net side covers 3D configs only (roi_size {roi_size}, pixdim {pixdim})")

    def resampling(order: int, is_seg: bool) -> dict:
        return {"is_seg": is_seg, "order": order, "order_z": 0, "force_separate_z": None}

    configuration = {
        "data_identifier": "monai_unet_bundle",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 1,
        "patch_size": [int(v) for v in roi_size],
        "median_image_size_in_voxels": [int(v) for v in roi_size],
        "spacing": [float(v) for v in pixdim],
        "normalization_schemes": [normalization["scheme"]],
        "use_mask_for_norm": [normalization["use_mask_for_norm"]],
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": resampling(3, False),
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_seg_kwargs": resampling(1, True),
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": resampling(1, False),
        "batch_dice": False,
        # only described: the network is handed to the predictor, nnU-Net never builds it
        "architecture": {
            "network_class_name": "monai_unet_bundle.networks.UNet",
            "arch_kwargs": {},
            "_kw_requires_import": [],
        },
    }
    plans = {
        "dataset_name": "Dataset999_monai_unet_bundle",
        "plans_name": "monai_unet_bundle",
        "original_median_spacing_after_transp": configuration["spacing"],
        "original_median_shape_after_transp": configuration["patch_size"],
        "image_reader_writer": "NibabelIOWithReorient",
        "transpose_forward": [2, 1, 0],
        "transpose_backward": [2, 1, 0],
        "configurations": {NNUNET_CONFIGURATION: configuration},
        "experiment_planner_used": "none (written by benchmarks.bench_end_to_end)",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {"0": normalization["properties"]},
    }
    labels = {"background": 0} | {f"class_{c}": c for c in range(1, num_classes)}
    dataset_json = {"channel_names": {"0": "image"}, "labels": labels, "numTraining": 0, "file_ending": ".nii.gz"}
    return plans, dataset_json


def nnunet_worker(image: str, weights: str, configs: list[str], out_dir: str) -> dict:
    """nnU-Net v2's ``nnUNetPredictor`` with our network and weights on ``image``: seconds per stage and the
    normalisation used (printed as JSON by ``--nnunet-worker``); writes ``<out_dir>/<case>.nii.gz``.

    The stages are the three calls its ``predict_from_files_sequential`` makes per case (read + transpose + crop to
    nonzero + normalise + resample; Gaussian sliding window; resample back + argmax + uncrop + write)."""
    import nibabel as nib
    import torch

    # nnU-Net sets torch's thread count to nnUNet_def_n_proc (default 8) for its windows and export: the same
    # threads as ours instead (read when nnunetv2 is imported)
    os.environ.setdefault("nnUNet_def_n_proc", str(torch.get_num_threads()))
    from nnunetv2.inference.export_prediction import export_prediction_from_logits
    from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager

    parser = _config(configs)
    network = parser.get_parsed_content("network_def", instantiate=True)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    network.eval()
    normalization = nnunet_normalization(
        parser.get_parsed_content("scale_intensity", instantiate=True), np.asarray(nib.load(image).dataobj)
    )
    roi, pixdim, overlap = (parser.get_parsed_content(k) for k in ("roi_size", "pixdim", "overlap"))
    plans, dataset_json = nnunet_plans(roi, pixdim, parser.get_parsed_content("num_classes"), normalization)
    plans_manager = PlansManager(plans)
    configuration = plans_manager.get_configuration(NNUNET_CONFIGURATION)
    # no mirroring (ours does not mirror by default), nnU-Net's Gaussian, our window overlap as its step
    predictor = nnUNetPredictor(
        tile_step_size=1 - overlap,
        use_gaussian=True,
        use_mirroring=False,
        perform_everything_on_device=False,  # what it falls back to on a CPU anyway
        device=torch.device("cpu"),
        verbose=False,
        allow_tqdm=False,
    )
    predictor.manual_initialization(network, plans_manager, configuration, [state], dataset_json, "ours", None)
    preprocessor = configuration.preprocessor_class(verbose=False)
    case = re.sub(r"\.nii(\.gz)?$", "", Path(image).name)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}
    start = time.perf_counter()
    data, _, properties = preprocessor.run_case([image], None, plans_manager, configuration, dataset_json)
    times["preprocessing"] = time.perf_counter() - start
    start = time.perf_counter()
    logits = predictor.predict_logits_from_preprocessed_data(torch.from_numpy(data)).cpu()
    times["sliding window"] = time.perf_counter() - start
    start = time.perf_counter()
    export_prediction_from_logits(
        logits, properties, configuration, plans_manager, dataset_json, str(Path(out_dir) / case), False
    )
    times["export"] = time.perf_counter() - start
    return {"stages": times, "normalization": normalization["note"], "preprocessed_shape": list(data.shape[1:])}


def nnunet_skip_reason() -> str | None:
    """Why the nnU-Net side cannot run here (None: it can)."""
    try:
        import nnunetv2  # noqa: F401
    except ImportError as error:
        return f"nnunetv2 is not importable ({error}); install the optional peers extra"
    return None


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        image, weights, out_dir, *configs = argv[1:]
        print(json.dumps(baseline_worker(image, weights, configs, out_dir)))
        return {}
    if argv and argv[0] == "--nnunet-worker":
        image, weights, out_dir, *configs = argv[1:]
        print(json.dumps(nnunet_worker(image, weights, configs, out_dir)))
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
        baseline = run_worker("--worker", image, weights, args.config, scratch / "monai")
        skip = nnunet_skip_reason()
        nnunet = None if skip else run_worker("--nnunet-worker", image, weights, args.config, scratch / "nnunet")
        plain, crop_labels, monai_labels = (
            labels(scratch / "ours"),
            labels(scratch / "cropped"),
            labels(scratch / "monai"),
        )
        nnunet_labels = None if skip else labels(scratch / "nnunet")
    # the crop never changes the grid: compared as is (a different shape is an error, not NaN)
    crop_agreement = float((plain == crop_labels).mean())
    monai_agreement = agreement(plain, monai_labels)
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
    }
    if skip:
        result["nnunet"] = {"skipped": skip}
    else:
        nnunet_agreement = agreement(plain, nnunet_labels)
        total["nnunet"] = sum(nnunet["stages"].values())
        result["stages"]["nnunet"] = nnunet["stages"]
        result["nnunet"] = {**nnunet, "seconds": total["nnunet"], "agreement": nnunet_agreement}
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
    if skip:
        print(f"# nnU-Net v2 predictor skipped: {skip}")
    else:
        print(f"# nnU-Net v2 predictor: normalisation {nnunet['normalization']}; one window per forward pass")
        print(f"end_to_end predict vs nnU-Net: ours {total['ours']:.2f} s, baseline {total['nnunet']:.2f} s "
              f"(nnUNetPredictor), ratio {total['nnunet'] / total['ours']:.2f} ({load})")  # fmt: skip
        speedup = total["nnunet"] / total["cropped"]
        print(f"end_to_end predict, nonzero crop, vs nnU-Net: ours {total['cropped']:.2f} s, baseline "
              f"{total['nnunet']:.2f} s (nnUNetPredictor), ratio {speedup:.2f} ({load})")  # fmt: skip
        print(f"labels equal to nnU-Net's predictor{weights_note}: ours {100 * nnunet_agreement:.3f}%, "
              f"baseline 100%, ratio {nnunet_agreement:.4f}")  # fmt: skip
    save_json(args.out, result)
    return result


if __name__ == "__main__":
    main()
