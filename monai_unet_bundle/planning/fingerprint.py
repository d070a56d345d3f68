"""Dataset fingerprint: what a plan is made from, read from every training case once.

Per case: the spacing and shape (in RAS axis order, the order ``Orientationd(axcodes="RAS")`` gives the bundle),
the shape of the image's non-zero bounding box, the class voxel counts of the label, and a sample of the
foreground intensities (image voxels under a label > 0). Headers are read first for every case (a wrong grid or
dimensionality is found before any voxel is loaded); then each case's voxels are read once.

Refused, naming the case: labels with values that dataset.json does not list, an image and label on different
grids, a case whose label has no foreground, images with several channels.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK
from tqdm import tqdm

from ..data import DatasetError, case_name, training_datalist

__all__ = ["CaseHeader", "DatasetFingerprint", "PlanningError", "fingerprint_dataset", "read_header"]

#: foreground intensities kept per case (nnU-Net samples 10,000); the pooled sample gives the percentiles
SAMPLES_PER_CASE = 10_000


class PlanningError(DatasetError):
    """A dataset that cannot be planned; the message names the case and the problem."""


@dataclass
class CaseHeader:
    """Grid of one file in RAS axis order: ``shape`` (spatial), ``spacing`` (mm), ``affine`` (4x4, RAS)."""

    path: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    affine: np.ndarray
    channels: int = 1


def _ras_affine_from_sitk(image: SimpleITK.Image) -> np.ndarray:
    dims = image.GetDimension()
    direction = np.asarray(image.GetDirection()).reshape(dims, dims)
    affine = np.eye(dims + 1)
    affine[:dims, :dims] = direction * np.asarray(image.GetSpacing())
    affine[:dims, dims] = image.GetOrigin()
    flip = np.diag([-1.0, -1.0] + [1.0] * (dims - 1))  # LPS -> RAS on x and y
    return flip @ affine


def read_header(path: str | Path) -> CaseHeader:
    """The grid of ``path`` (NIfTI through nibabel, .nrrd / .mha / .mhd through SimpleITK) without its voxels."""
    path = str(path)
    try:
        if path.endswith((".nii", ".nii.gz")):
            image = nib.load(path)
            shape, affine = tuple(int(s) for s in image.shape), np.asarray(image.affine, dtype=np.float64)
            spatial = min(len(shape), 3) if len(shape) != 2 else 2
            channels = int(np.prod(shape[3:])) if len(shape) > 3 else 1
            shape = shape[:spatial]
            if spatial == 2:  # a 2D NIfTI: its affine is still 4x4; the in-plane part is the 2D grid
                affine = np.delete(np.delete(affine, 2, axis=0), 2, axis=1)
        else:
            reader = SimpleITK.ImageFileReader()
            reader.SetFileName(path)
            reader.ReadImageInformation()
            image = SimpleITK.Image([1] * reader.GetDimension(), SimpleITK.sitkUInt8)
            image.SetSpacing(reader.GetSpacing())
            image.SetOrigin(reader.GetOrigin())
            image.SetDirection(reader.GetDirection())
            shape, affine = tuple(int(s) for s in reader.GetSize()), _ras_affine_from_sitk(image)
            channels = reader.GetNumberOfComponents()
    except Exception as error:  # nibabel / ITK raise many types for unreadable files
        raise PlanningError(f"{path}: cannot read the image header ({error})") from error
    ornt = nib.orientations.io_orientation(affine)
    order = [int(axis) for axis in ornt[:, 0]]
    # voxel axis i becomes RAS axis ornt[i, 0]: reorder shape and spacing like Orientationd does
    ras_shape = [0] * len(shape)
    ras_spacing = [0.0] * len(shape)
    zooms = np.sqrt((affine[:-1, :-1] ** 2).sum(axis=0))
    for voxel_axis, ras_axis in enumerate(order):
        ras_shape[ras_axis] = shape[voxel_axis]
        ras_spacing[ras_axis] = float(zooms[voxel_axis])
    ras_affine = affine @ nib.orientations.inv_ornt_aff(ornt, shape)
    return CaseHeader(path, tuple(ras_shape), tuple(ras_spacing), ras_affine, channels)


def _read_ras(path: str, header: CaseHeader) -> np.ndarray:
    """Voxels of ``path`` reordered to RAS axes like ``Orientationd`` (shape ``header.shape``)."""
    if path.endswith((".nii", ".nii.gz")):
        image = nib.load(path)
        data = np.asanyarray(image.dataobj)
        affine = image.affine if data.ndim != 2 else np.delete(np.delete(image.affine, 2, 0), 2, 1)
    else:
        image = SimpleITK.ReadImage(path)
        data = SimpleITK.GetArrayFromImage(image).transpose()  # ITK arrays are (z, y, x)
        affine = _ras_affine_from_sitk(image)
    return nib.orientations.apply_orientation(data, nib.orientations.io_orientation(affine))


def _nonzero_box_shape(image: np.ndarray) -> tuple[int, ...]:
    """Side lengths of the bounding box of ``image != 0`` (the whole shape when nothing is non-zero)."""
    nonzero = np.nonzero(image)
    if not nonzero[0].size:
        return tuple(int(s) for s in image.shape)
    return tuple(int(axis.max() - axis.min() + 1) for axis in nonzero)


@dataclass
class DatasetFingerprint:
    """The facts a plan uses; every list has one entry per training case (in datalist order)."""

    dataset_dir: str
    modality: str
    labels: dict[str, str]
    cases: list[str] = field(default_factory=list)
    spatial_dims: int = 3
    spacings: list[list[float]] = field(default_factory=list)
    shapes: list[list[int]] = field(default_factory=list)
    cropped_shapes: list[list[int]] = field(default_factory=list)
    class_voxels: list[int] = field(default_factory=list)  # summed over cases, index = class
    foreground_intensity: dict[str, float] = field(default_factory=dict)
    validation_shapes: list[list[int]] = field(default_factory=list)
    validation_spacings: list[list[float]] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    @property
    def class_fractions(self) -> list[float]:
        total = float(sum(self.class_voxels)) or 1.0
        return [v / total for v in self.class_voxels]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, content: dict) -> DatasetFingerprint:
        return cls(**content)

    def save(self, path: str | Path) -> Path:
        """Write the fingerprint as JSON atomically (a temporary file in the same folder, then a rename)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as stream:
                json.dump(self.to_json(), stream, indent=2)
                stream.write("\n")
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def _dataset_json(dataset_dir: Path) -> dict:
    manifest = dataset_dir / "dataset.json"
    if not manifest.is_file():
        raise PlanningError(f"{dataset_dir}: no dataset.json (planning needs its 'labels' and 'modality')")
    content = json.loads(manifest.read_text())
    if not isinstance(content.get("labels"), dict) or "0" not in {str(k) for k in content["labels"]}:
        raise PlanningError(f"{manifest}: 'labels' must map every class value to a name, starting at \"0\"")
    return content


def _modality(content: dict) -> str:
    modality = content.get("modality") or content.get("channel_names") or {"0": "unknown"}
    if isinstance(modality, dict):
        if len(modality) > 1:
            raise PlanningError(
                f"dataset.json lists {len(modality)} modalities {sorted(modality.values())}: the planner handles "
                "single-channel images only"
            )
        modality = next(iter(modality.values()))
    return str(modality)


def _labels(content: dict) -> dict[str, str]:
    """dataset.json labels as {value: name}; nnU-Net v2's {name: value} form is turned around."""
    labels = content["labels"]
    if all(isinstance(v, int) for v in labels.values()):  # nnU-Net v2: {"background": 0, ...}
        labels = {str(v): k for k, v in labels.items()}
    labels = {str(k): str(v) for k, v in labels.items()}
    values = sorted(int(k) for k in labels)
    if values != list(range(len(values))):
        raise PlanningError(f"dataset.json labels must be 0..N-1 without gaps, got the values {values}")
    return {str(k): labels[str(k)] for k in values}


def _check_pair(name: str, image: CaseHeader, label: CaseHeader) -> None:
    if image.channels != 1:
        raise PlanningError(
            f"case '{name}': {image.path} has {image.channels} channels; the planner handles single-channel images"
        )
    if image.shape != label.shape or not np.allclose(image.affine, label.affine, atol=1e-3):
        raise PlanningError(
            f"case '{name}': image and label are on different grids: {image.path} has shape {image.shape}, "
            f"spacing {tuple(round(s, 4) for s in image.spacing)}, label {label.path} has shape {label.shape}, "
            f"spacing {tuple(round(s, 4) for s in label.spacing)} (or a different origin / direction); resample "
            "the label onto the image grid"
        )


def fingerprint_dataset(dataset_dir: str | Path, progress: bool = True, seed: int = 0) -> DatasetFingerprint:
    """Read every training case of ``dataset_dir`` (an MSD folder with dataset.json) into a fingerprint.

    Training cases are those of ``training_datalist(dataset_dir, "training")``; the validation cases' headers are
    read too (for the validation cost in the schedule). Raises :class:`PlanningError` naming the case.
    """
    dataset_dir = Path(dataset_dir)
    items = training_datalist(dataset_dir, "training")  # builds an embedded dataset when the folder is empty
    validation = training_datalist(dataset_dir, "validation")
    content = _dataset_json(dataset_dir)
    labels = _labels(content)
    fingerprint = DatasetFingerprint(str(dataset_dir.resolve()), _modality(content), labels)

    headers = []
    for item in items:
        name = case_name(item["image"])
        image, label = read_header(item["image"]), read_header(item["label"])
        _check_pair(name, image, label)
        headers.append((name, item, image))
    dims = {len(h.shape) for _, _, h in headers}
    if len(dims) > 1:
        raise PlanningError(f"{dataset_dir}: the cases mix 2D and 3D images ({sorted(dims)}); plan them apart")
    fingerprint.spatial_dims = dims.pop()
    for item in validation:
        header = read_header(item["image"])
        fingerprint.validation_shapes.append(list(header.shape))
        fingerprint.validation_spacings.append(list(header.spacing))

    rng = np.random.default_rng(seed)
    class_voxels = np.zeros(len(labels), dtype=np.int64)
    samples = []
    for name, item, header in tqdm(headers, desc="fingerprint", unit="case", disable=not progress):
        image = _read_ras(item["image"], header).astype(np.float32)
        label = _read_ras(item["label"], read_header(item["label"]))
        values = np.unique(label)
        unknown = sorted(set(values.tolist()) - set(range(len(labels))))
        if unknown:
            raise PlanningError(
                f"case '{name}': {item['label']} has the label values {unknown}, which dataset.json does not list "
                f"(it lists {', '.join(f'{k} {v}' for k, v in labels.items())})"
            )
        counts = np.bincount(label.astype(np.int64).ravel(), minlength=len(labels))
        if counts[1:].sum() == 0:
            raise PlanningError(
                f"case '{name}': {item['label']} has no foreground (only background 0); a plan needs labelled "
                "cases: remove it from the dataset or label it"
            )
        class_voxels += counts
        foreground = image[label > 0]
        samples.append(rng.choice(foreground, size=min(SAMPLES_PER_CASE, foreground.size), replace=False))
        fingerprint.cases.append(name)
        fingerprint.spacings.append([round(s, 6) for s in header.spacing])
        fingerprint.shapes.append(list(header.shape))
        fingerprint.cropped_shapes.append(list(_nonzero_box_shape(image)))
    pooled = np.concatenate(samples).astype(np.float64)
    low, median, high = np.percentile(pooled, [0.5, 50.0, 99.5])
    fingerprint.class_voxels = [int(v) for v in class_voxels]
    fingerprint.foreground_intensity = {
        "mean": float(pooled.mean()),
        "std": float(pooled.std()),
        "median": float(median),
        "percentile_00_5": float(low),
        "percentile_99_5": float(high),
        "min": float(pooled.min()),
        "max": float(pooled.max()),
    }
    return fingerprint


def median_axis_values(rows: Sequence[Sequence[float]]) -> list[float]:
    """Per-axis median of a list of per-case rows."""
    return [float(v) for v in np.median(np.asarray(rows, dtype=np.float64), axis=0)]
