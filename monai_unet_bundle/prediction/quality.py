"""A quality-control report per prediction, so that a batch can be triaged: what was found, and how sure it was.

Next to each output, ``<case>_qc.json`` records per foreground class the voxel count, the volume in mL and the mean
and 5th-percentile maximum softmax probability inside the class; the share of foreground voxels whose maximum
probability is below ``uncertain_below``; and what produced it: SHA-256 of the input (a DICOM series: of its files
in slice order), of the model file and of the config files, the package versions, and the input's geometry. The
case's ``confidence`` is the lowest per-class mean maximum probability (1.0 when nothing was found); the batch
summary lists the cases below ``qc_threshold`` first, least confident first. With ``uncertainty_map`` it also
writes ``<case>_uncertainty.nii.gz``: the entropy of the (test-time-augmentation mean) softmax, normalised to [0, 1]
by log(C), in the input's geometry (uint16 with scale 1/65535: nibabel writes no float16 NIfTI). Example::

    postprocessing:
      - _target_: monai_unet_bundle.prediction.InvertToInputd   # with prob_key: prob
      - _target_: monai_unet_bundle.prediction.QualityReportd
        output_dir: "@output_dir"
        output: "@prediction_output"
        class_names: "@class_names"
        num_classes: "@num_classes"
        model_path: "@ckpt_path"
        config_files: ["$@bundle_root + '/configs/inference.yaml'"]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Hashable, Mapping, Sequence
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.utils import to_affine_nd
from monai.transforms import MapTransform, SaveImaged
from monai_unet_bundle.atomic_write import atomic_write
from monai_unet_bundle.data.datalist import case_name
from monai_unet_bundle.prediction.output import PredictionOutput, source_path

__all__ = ["QualityReportd", "file_sha256", "input_sha256"]

_PACKAGES = ("monai-unet-bundle", "monai", "torch", "numpy", "nibabel", "SimpleITK", "highdicom")


@cache
def file_sha256(path: str) -> str:
    """SHA-256 of a file's bytes (cached: the model and config files are hashed once per process)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def input_sha256(source: str) -> str:
    """SHA-256 of an input file, or of a DICOM series' files in slice order (``<folder>[::<uid>]``)."""
    if "::" in source or Path(source).is_dir():
        from monai_unet_bundle.dicom import series_info

        digest = hashlib.sha256()
        for path in series_info(source).files:
            digest.update(bytes.fromhex(file_sha256(str(path))))
        return digest.hexdigest()
    return file_sha256(source)


def _versions() -> dict[str, str]:
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


class QualityReportd(SaveImaged):
    """Write ``<case>_qc.json`` (and optionally the uncertainty map) for each prediction; see the module docstring.

    A ``SaveImaged`` by type only, like the writers: MONAI Label drops it (its requests write nothing to the bundle).

    Args:
        keys: the label map ``(1, *input_grid)`` (``InvertToInputd``'s output; its ``affine`` is the input's).
        prob_key: the class probabilities ``(C, *input_grid)`` as uint8 (value / 255), from ``InvertToInputd``.
        output_dir: the predictions' folder; ``None`` writes nothing.
        output: the output contract (names the case); default NIfTI.
        class_names: foreground class names (default ``class_1`` ...).
        num_classes: classes including background.
        model_path / config_files: hashed into the report.
        uncertain_below: a foreground voxel whose maximum probability is below this counts as uncertain.
        uncertainty_map: also write ``<case>_uncertainty.nii.gz``.
        report: a :class:`~monai_unet_bundle.prediction.BatchReport` told each case's confidence.
        temperature_key: the softmax temperature applied (``TemperatureScaled``), recorded when present.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        prob_key: str = "prob",
        output_dir: str | Path | None = None,
        output: PredictionOutput | None = None,
        class_names: Sequence[str] | None = None,
        num_classes: int = 2,
        model_path: str | None = None,
        config_files: Sequence[str] = (),
        uncertain_below: float = 0.5,
        uncertainty_map: bool = False,
        report: Any = None,
        temperature_key: str = "temperature",
    ) -> None:
        MapTransform.__init__(self, keys)
        self.temperature_key = temperature_key
        self.prob_key = prob_key
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.output = output or PredictionOutput()
        self.class_names = list(class_names or [f"class_{c}" for c in range(1, num_classes)])
        self.model_path = model_path
        self.config_files = [str(f) for f in config_files]
        self.uncertain_below = float(uncertain_below)
        self.uncertainty_map = uncertainty_map
        self.report = report

    def _path(self, source: str, postfix: str, extension: str) -> Path:
        return self.output_dir / f"{case_name(source)}_{postfix}{extension}"

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.output_dir is None:
            return d
        if d.get(self.prob_key) is None:
            raise KeyError(f"QualityReportd needs the probabilities '{self.prob_key}' (InvertToInputd's prob_key)")
        for key in self.key_iterator(d):
            labels = d[key]
            source = source_path(dict(getattr(labels, "meta", {}))) or "<unknown input>"
            if self.report is not None and hasattr(self.report, "has_failed") and self.report.has_failed(source):
                continue  # its prediction was not written: no report of it
            try:
                record = self.record(labels, d[self.prob_key], source, d.get(self.temperature_key))
                with atomic_write(self._path(source, "qc", ".json")) as partial:
                    partial.write_text(json.dumps(record, indent=4) + "\n")
                if self.uncertainty_map:
                    self.write_uncertainty(d[self.prob_key], labels, self._path(source, "uncertainty", ".nii.gz"))
            except Exception as error:
                if self.report is None:
                    raise
                self.report.add_failed(source, error)
                continue
            if self.report is not None and hasattr(self.report, "add_quality"):
                self.report.add_quality(source, record["confidence"])
        return d

    def record(
        self, labels: torch.Tensor, probabilities: torch.Tensor, source: str, temperature: float | None = None
    ) -> dict[str, Any]:
        """The report of one case (see the module docstring); ``temperature``: the softmax temperature applied."""
        label_map = np.asarray(labels[0].detach().cpu())
        max_probability = np.asarray(probabilities.detach().cpu()).max(axis=0).astype(np.float32) / 255.0
        affine = to_affine_nd(3, np.asarray(torch.as_tensor(labels.affine).cpu(), dtype=np.float64))
        spacing = np.linalg.norm(affine[:3, :3], axis=0)
        voxel_ml = float(np.prod(spacing)) / 1000.0
        classes = {}
        for index, name in enumerate(self.class_names, start=1):
            inside = max_probability[label_map == index]
            classes[name] = {
                "voxels": int(inside.size),
                "volume_ml": round(inside.size * voxel_ml, 3),
                "mean_max_probability": round(float(inside.mean()), 4) if inside.size else None,
                "p5_max_probability": round(float(np.percentile(inside, 5)), 4) if inside.size else None,
            }
        foreground = max_probability[label_map > 0]
        found = [c["mean_max_probability"] for c in classes.values() if c["mean_max_probability"] is not None]
        uncertain = float((foreground < self.uncertain_below).mean()) if foreground.size else 0.0
        return {
            "case": case_name(source),
            "confidence": min(found) if found else 1.0,
            "classes": classes,
            "uncertain_fraction": round(uncertain, 4),
            "uncertain_below": self.uncertain_below,
            "softmax_temperature": None if temperature is None else float(temperature),
            "input": {
                "path": source,
                "sha256": input_sha256(source) if source != "<unknown input>" else None,
                "shape": list(label_map.shape),
                "spacing_mm": [round(float(s), 6) for s in spacing],
                "orientation": "".join(nib.aff2axcodes(affine)),
                "affine": np.round(affine, 6).tolist(),
            },
            "model": {"path": self.model_path, "sha256": file_sha256(self.model_path) if self.model_path else None},
            # a config file not where the bundle root says (--bundle_root pointing at a model folder): null
            "config": {f: file_sha256(f) if Path(f).is_file() else None for f in self.config_files},
            "versions": _versions(),
        }

    def write_uncertainty(self, probabilities: torch.Tensor, labels: torch.Tensor, path: Path) -> Path:
        """Normalised entropy of the class probabilities (uint16, scale 1/65535), with the labels' (the input's) affine."""
        p = np.asarray(probabilities.detach().cpu(), dtype=np.float32) / 255.0
        p = p / np.clip(p.sum(axis=0, keepdims=True), 1e-6, None)
        entropy = -(p * np.log(np.clip(p, 1e-6, 1.0))).sum(axis=0) / np.log(max(p.shape[0], 2))
        affine = to_affine_nd(3, np.asarray(torch.as_tensor(labels.affine).cpu(), dtype=np.float64))
        # nibabel writes no float16 NIfTI: uint16 with scale 1/65535, finer than float16 on [0, 1]
        stored = np.round(np.clip(entropy, 0.0, 1.0) * 65535.0).astype(np.uint16)
        image = nib.Nifti1Image(stored, affine)
        image.set_sform(affine, code=1)
        image.set_qform(affine, code=1)
        image.header.set_slope_inter(1.0 / 65535.0, 0.0)
        with atomic_write(path) as partial:
            nib.save(image, str(partial))
        return path
