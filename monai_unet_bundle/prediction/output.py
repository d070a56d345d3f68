"""The output contract: what a case's prediction is called, how it is written, and when a case counts as done.

One :class:`PredictionOutput` is read by the batch runner (skipping finished cases), the writing transform
:class:`SavePredictiond` (the end of inference, evaluation and validation), ``predict`` and the demo. The format is
its :class:`SegmentationWriter`: a new one (e.g. DICOM-SEG) is one new writer class, chosen in the config's
``prediction_output: {_target_: ...PredictionOutput, writer: {_target_: ...}}``. A writer gets the label map in the
input file's geometry (``(1, *input_grid)``, ``affine`` the input's), the source image's metadata
(``filename_or_obj``: its path) and the class names, writes whole or not at all, and returns the written paths.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import torch
from monai.config import KeysCollection
from monai.data.utils import to_affine_nd
from monai.transforms import MapTransform, SaveImaged
from monai_unet_bundle.atomic_write import atomic_write, remove_abandoned_temporaries
from monai_unet_bundle.data.datalist import case_name

__all__ = ["MultiWriter", "NiftiWriter", "PredictionOutput", "SavePredictiond", "SegmentationWriter", "source_path"]


def source_path(item: Any) -> str | None:
    """The input file of a sample: ``filename_or_obj`` of a MetaTensor's or a meta dict (a batch's first)."""
    source = (item if isinstance(item, Mapping) else getattr(item, "meta", {})).get("filename_or_obj")
    if isinstance(source, (list, tuple)):
        source = source[0] if source else None
    return str(source) if source else None


class SegmentationWriter:
    """A file format for label maps. Subclasses set ``extension`` and implement :meth:`write`."""

    extension: str = ""

    def label_dtype(self, num_classes: int) -> np.dtype:
        """The stored integer type: uint8 for up to 256 classes, else uint16."""
        return np.dtype(np.uint8 if num_classes <= 256 else np.uint16)

    def write(self, labels: torch.Tensor, meta: Mapping, class_names: Sequence[str], path: Path) -> list[Path]:
        """Write ``labels`` ``(1, *input_grid)`` (class indices; ``labels.affine`` is the input's) to ``path``."""
        raise NotImplementedError

    def write_probabilities(self, probabilities: torch.Tensor, meta: Mapping, path: Path) -> list[Path]:
        """Write uint8 probabilities ``(C, *input_grid)`` (value / 255) to ``path``."""
        raise NotImplementedError(f"{type(self).__name__} does not write probability maps")


class NiftiWriter(SegmentationWriter):
    """``.nii.gz`` with the input's affine as sform and qform (code 1); probabilities as uint8 with slope 1/255.

    The input's own ``scl_slope`` / ``scl_inter`` are never copied: the header is built from scratch.
    """

    extension = ".nii.gz"

    def _save(self, data: np.ndarray, affine: Any, path: Path, slope: float | None = None) -> list[Path]:
        affine = to_affine_nd(3, np.asarray(torch.as_tensor(affine).cpu(), dtype=np.float64))
        image = nib.Nifti1Image(data, affine)
        image.set_sform(affine, code=1)
        image.set_qform(affine, code=1)
        if slope is not None:
            image.header.set_slope_inter(slope, 0.0)
        with atomic_write(path) as partial:
            nib.save(image, str(partial))
        return [path]

    def write(self, labels: torch.Tensor, meta: Mapping, class_names: Sequence[str], path: Path) -> list[Path]:
        data = np.asarray(labels[0].detach().cpu()).astype(self.label_dtype(len(class_names) + 1))
        return self._save(data, labels.affine, path)

    def write_probabilities(self, probabilities: torch.Tensor, meta: Mapping, path: Path) -> list[Path]:
        data = np.moveaxis(np.asarray(probabilities.detach().cpu(), dtype=np.uint8), 0, -1)  # channels last in NIfTI
        return self._save(data, probabilities.affine, path, slope=1.0 / 255.0)


class MultiWriter(SegmentationWriter):
    """Several formats of each prediction (``--output-format both``): ``writers[0]`` names the output and decides
    what counts as done, so it is written last, after the others succeeded; probabilities go to the first writer
    that writes them.
    """

    def __init__(self, writers: Sequence[SegmentationWriter]) -> None:
        if not writers:
            raise ValueError("MultiWriter needs at least one writer")
        self.writers = list(writers)
        self.extension = self.writers[0].extension

    def _path(self, writer: SegmentationWriter, path: Path) -> Path:
        return path.with_name(path.name[: -len(self.extension)] + writer.extension)

    def write(self, labels: torch.Tensor, meta: Mapping, class_names: Sequence[str], path: Path) -> list[Path]:
        written: list[Path] = []
        for writer in self.writers[::-1]:
            written = writer.write(labels, meta, class_names, self._path(writer, path)) + written
        return written

    def write_probabilities(self, probabilities: torch.Tensor, meta: Mapping, path: Path) -> list[Path]:
        for writer in self.writers:
            try:
                return writer.write_probabilities(probabilities, meta, self._path(writer, path))
            except NotImplementedError:
                continue
        raise NotImplementedError("none of the formats writes probability maps")


@dataclass
class PredictionOutput:
    """Names and format of the outputs: ``<output_dir>/<case>_<postfix><writer.extension>``.

    Args:
        writer: the file format (NIfTI by default).
        postfix: appended to the input's case name (``case.nii.gz`` -> ``case_seg.nii.gz``).
        probability_postfix: of the optional probability file.
    """

    writer: SegmentationWriter = field(default_factory=NiftiWriter)
    postfix: str = "seg"
    probability_postfix: str = "prob"

    def path(self, source: str | Path, output_dir: str | Path, postfix: str | None = None) -> Path:
        """Where the prediction (or, with ``postfix``, another output) of input ``source`` goes."""
        return Path(output_dir) / f"{case_name(source)}_{postfix or self.postfix}{self.writer.extension}"

    def done(self, source: str | Path, output_dir: str | Path) -> bool:
        """Whether input ``source`` has its prediction in ``output_dir`` (whole: every write is atomic)."""
        return self.path(source, output_dir).is_file()


class SavePredictiond(SaveImaged):
    """Write ``d[keys]`` (labels ``(1, *input_grid)`` from ``InvertToInputd``) through a :class:`PredictionOutput`.

    A ``SaveImaged`` by type only: MONAI Label drops ``SaveImaged`` from a bundle's postprocessing. Args:
        keys: the label map.
        output_dir: the folder; ``None`` writes nothing (validation during training).
        num_classes: classes including background (for the stored dtype and default class names).
        class_names: foreground class names (default ``class_1`` ...), passed to the writer.
        output: the contract (default: NIfTI ``<case>_seg.nii.gz``).
        prob_key: uint8 probabilities to write beside the labels, when present.
        report: told about each written and failed case (a failed write is then recorded, not raised).
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        output_dir: str | Path | None = None,
        num_classes: int = 2,
        class_names: Sequence[str] | None = None,
        output: PredictionOutput | None = None,
        prob_key: str | None = "prob",
        report: Any = None,
    ) -> None:
        MapTransform.__init__(self, keys)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.class_names = list(class_names or [f"class_{c}" for c in range(1, num_classes)])
        self.output = output or PredictionOutput()
        self.prob_key = prob_key
        self.report = report
        if self.output_dir is not None:
            remove_abandoned_temporaries(self.output_dir)

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        if self.output_dir is None:
            return d
        for key in self.key_iterator(d):
            meta = dict(getattr(d[key], "meta", {}))
            source = source_path(meta) or "<unknown input>"
            try:
                self.output.writer.write(d[key], meta, self.class_names, self.output.path(source, self.output_dir))
                if self.prob_key is not None and d.get(self.prob_key) is not None:
                    path = self.output.path(source, self.output_dir, self.output.probability_postfix)
                    self.output.writer.write_probabilities(d[self.prob_key], meta, path)
            except Exception as error:
                if self.report is None:
                    raise
                self.report.add_failed(source, error)
            else:
                if self.report is not None:
                    self.report.add_done(source)
        return d
