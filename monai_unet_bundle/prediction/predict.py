"""``python -m monai_unet_bundle predict INPUT... --output-dir OUT``: the bundle's inference config, made handy.

No inference path of its own: the arguments become overrides of ``<bundle root>/configs/inference.yaml`` (plus any
``--config`` files merged after it) for ``monai.bundle.run``, the function behind ``python -m monai.bundle run``.
INPUTs: image files, folders (their images, else imagesTs/, else imagesTr/) and datalist JSON files. The bundle
root is the current folder or ``--bundle-root``. Exit status: 0 when every input was predicted or skipped, 1 when
any failed (each named with its reason), 2 for a usage error. Under ``torchrun`` each process takes its own share.
Example::

    python -m monai_unet_bundle predict scans/ extra/case7.nrrd --output-dir seg/ --model models/model.pt --tta
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from monai_unet_bundle.data.datalist import DatasetError, case_name, inference_datalist
from monai_unet_bundle.prediction.output import PredictionOutput

__all__ = ["collect_inputs", "main", "overrides_from_args"]


def collect_inputs(inputs: list[str]) -> list[dict[str, str]]:
    """Datalist items ``{"image": absolute path}`` for files, folders and datalist JSON files, in the order given.

    A path that does not exist is kept (as a file): the run reports it as failed and goes on with the others.
    """
    items: list[dict[str, str]] = []
    for entry in inputs:
        path = Path(entry)
        if path.is_dir():
            items += inference_datalist(path)
        elif path.suffix == ".json" and path.is_file():
            items += inference_datalist(path.parent, path)
        else:
            items.append({"image": str(path.resolve())})
    seen: dict[str, str] = {}
    unique = []
    for item in items:
        folder, marker, uid = item["image"].partition("::")
        item["image"] = str(Path(folder).resolve()) + marker + uid
        name = case_name(item["image"])
        if seen.get(name) == item["image"]:
            continue  # the same file named twice
        if name in seen:
            raise DatasetError(
                f"two inputs would write the same output '{PredictionOutput().path(name, '').name}': {seen[name]} "
                f"and {item['image']}; predict them into different --output-dir folders"
            )
        seen[name] = item["image"]
        unique.append(item)
    return unique


#: --output-format -> the output contract's writer (configs/inference.yaml ``prediction_output#writer``)
OUTPUT_FORMATS: dict[str, dict[str, Any]] = {
    "nifti": {"_target_": "monai_unet_bundle.prediction.NiftiWriter"},
    "dicom-seg": {"_target_": "monai_unet_bundle.dicom.DicomSegWriter"},
}
OUTPUT_FORMATS["both"] = {
    "_target_": "monai_unet_bundle.prediction.MultiWriter",
    "writers": [OUTPUT_FORMATS["nifti"], OUTPUT_FORMATS["dicom-seg"]],
}


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Config id -> value for ``monai.bundle.run`` from the parsed command line."""
    overrides: dict[str, Any] = {
        "bundle_root": str(args.bundle_root),
        "datalist": collect_inputs(args.inputs),
        "output_dir": str(Path(args.output_dir).resolve()),
        "overwrite": args.overwrite,
        "save_probabilities": args.save_probabilities,
        "uncertainty": args.uncertainty,
        "qc_report": not args.no_qc,
        "preview": args.preview,
        "amp": not args.no_amp,
        "tta": args.tta or args.tta_axes is not None,
        "progress": not args.no_progress,
    }
    if args.qc_threshold is not None:
        overrides["qc_threshold"] = args.qc_threshold
    if args.output_format != "nifti":
        overrides["prediction_output#writer"] = OUTPUT_FORMATS[args.output_format]
    if args.model is not None:
        overrides["ckpt_path"] = str(Path(args.model).resolve())
    if args.roi_size is not None:
        overrides["roi_size"] = list(args.roi_size)
    if args.tta_axes is not None:
        overrides["tta_axes"] = list(args.tta_axes)
    for key in ("overlap", "sw_batch_size", "device"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    for assignment in args.set or []:
        key, sep, value = assignment.partition("=")
        if not sep:
            raise SystemExit(f"--set needs KEY=VALUE, got '{assignment}'")
        overrides[key] = _literal(value)
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m monai_unet_bundle predict",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        help="image files (.nii, .nii.gz, .nrrd, .mha, .mhd), DICOM series folders, folders of either, datalist JSON",
    )
    parser.add_argument("--output-dir", required=True, help="where <name>_seg.nii.gz files go")
    parser.add_argument("--model", help="checkpoint (a state_dict; default: <bundle root>/models/model.pt)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        help="override file merged after configs/inference.yaml (repeatable), e.g. configs/u2net.yaml",
    )
    parser.add_argument(
        "--bundle-root",
        type=Path,
        default=Path("."),
        help="bundle root: the folder holding configs/inference.yaml and models/ (default: the current folder)",
    )
    parser.add_argument(
        "--output-format",
        choices=sorted(OUTPUT_FORMATS),
        default="nifti",
        help="<name>_seg.nii.gz, <name>_seg.dcm (DICOM-SEG referencing the input series; a non-DICOM input is "
        "written as a series beside it), or both",
    )
    parser.add_argument("--overwrite", action="store_true", help="predict again where the output exists")
    parser.add_argument(
        "--save-probabilities",
        action="store_true",
        help="also write <name>_prob.nii.gz (C channels, uint8 scaled by 1/255)",
    )
    parser.add_argument(
        "--uncertainty",
        action="store_true",
        help="also write <name>_uncertainty.nii.gz (normalised entropy of the softmax, of the TTA mean with --tta)",
    )
    parser.add_argument(
        "--no-qc",
        action="store_true",
        help="do not write <name>_qc.json (per-class volume and confidence, hashes, versions; written by default)",
    )
    parser.add_argument("--qc", action="store_true", help=argparse.SUPPRESS)  # the default now; kept for old scripts
    parser.add_argument("--qc-threshold", type=float, help="list the cases whose confidence is below this first (0.8)")
    parser.add_argument(
        "--preview",
        action="store_true",
        help="also write <name>_preview.png: three orthogonal slices through the labels' centre (one for 2D)",
    )
    parser.add_argument("--tta", action="store_true", help="mirror test-time augmentation (8x the work in 3D)")
    parser.add_argument(
        "--tta-axes",
        type=int,
        nargs="+",
        help="mirror only these spatial axes (implies --tta): those the network was trained flipped on (mirror_axes)",
    )
    parser.add_argument("--no-amp", action="store_true", help="full fp32 instead of bf16 (CPU) / fp16 (CUDA)")
    parser.add_argument("--roi-size", type=int, nargs="+", help="sliding-window size, one per spatial axis")
    parser.add_argument("--overlap", type=float, help="window overlap fraction")
    parser.add_argument("--sw-batch-size", type=int, help="windows per forward pass")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: the config's)")
    parser.add_argument("--no-progress", action="store_true", help="no per-volume progress bars")
    parser.add_argument(
        "--set",
        action="append",
        metavar="ID=VALUE",
        help="any other config override, e.g. --set 'network_def#features=[8,16,32,64]'",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the predict command; returns the exit status."""
    args = build_parser().parse_args(argv)
    args.bundle_root = args.bundle_root.resolve()
    configs_dir = args.bundle_root / "configs"
    config_files = [str(configs_dir / "inference.yaml")] + [str(Path(c).resolve()) for c in args.config]
    missing = [c for c in config_files if not Path(c).is_file()]
    if missing:
        root = "" if Path(config_files[0]).is_file() else f"; {args.bundle_root} is not a bundle root (--bundle-root)"
        print(f"predict: config file(s) not found: {', '.join(missing)}{root}", file=sys.stderr)
        return 2
    if args.no_qc and (args.uncertainty or args.qc_threshold is not None or args.qc):
        print(
            "predict: --no-qc contradicts --qc, --qc-threshold and --uncertainty (the QC step writes the map)",
            file=sys.stderr,
        )
        return 2
    try:
        overrides = overrides_from_args(args)
    except DatasetError as error:
        print(f"predict: {error}", file=sys.stderr)
        return 2
    if not overrides["datalist"]:
        print("predict: no input images found in " + ", ".join(args.inputs), file=sys.stderr)
        return 2
    meta = configs_dir / "metadata.json"
    logging_conf = configs_dir / "logging.conf"

    from monai.bundle import run

    with tempfile.TemporaryDirectory(prefix="predict-") as scratch:
        # a file rather than the list itself: monai.bundle.run prints its arguments
        datalist = Path(scratch) / "datalist.json"
        datalist.write_text(json.dumps(overrides["datalist"]))
        overrides["datalist"] = str(datalist)
        try:
            run(
                config_file=config_files,
                meta_file=str(meta) if meta.is_file() else None,
                logging_file=str(logging_conf) if logging_conf.is_file() else None,
                **overrides,
            )
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
