"""Datalists for the bundle configs: from an MSD folder for training, from files / folders / JSON for inference.

The default training run points ``dataset_dir`` at ``data/brain3d``: a folder named after an embedded dataset
(brain3d, headct, nuclei2d, synthetic) that holds nothing is built on first use. Any other folder must hold data, and a
folder without images is an error that says which patterns were searched where.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from monai.data import load_decathlon_datalist

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")
#: nnU-Net names single-channel images ``case_0000.nii.gz``; the label is ``case.nii.gz``.
_CHANNEL_SUFFIX = re.compile(r"_\d{4}$")


class DatasetError(ValueError):
    """A dataset folder or datalist that cannot be used; the message names the path and what was expected."""


def embedded_builders() -> dict[str, Callable[[Path], Path]]:
    """The embedded datasets by name: each builder writes its MSD folder and returns its dataset.json."""
    from . import brain3d, headct, nuclei2d, synthetic

    return {"brain3d": brain3d.build, "headct": headct.build, "nuclei2d": nuclei2d.build, "synthetic": synthetic.build}


def case_name(path: str | Path) -> str:
    """File name without the image suffix (``a/b/case.nii.gz`` -> ``case``); a DICOM series: its folder's name
    (``<folder>::<uid>``: plus the UID's last digits)."""
    if "::" in str(path) or Path(path).is_dir():
        from monai_unet_bundle.dicom import series_case_name

        return series_case_name(path)
    name = Path(path).name
    for suffix in IMAGE_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def image_files(folder: Path) -> list[Path]:
    """Image files directly inside ``folder`` (sorted), by the suffixes in ``IMAGE_SUFFIXES``."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith(IMAGE_SUFFIXES) and not p.name.startswith(".")
    )


def ensure_dataset(dataset_dir: str | Path) -> Path:
    """Build the embedded dataset named like ``dataset_dir`` when that folder is missing or empty; return it."""
    dataset_dir = Path(dataset_dir)
    empty = not dataset_dir.exists() or not any(dataset_dir.iterdir())
    builders = embedded_builders()
    if empty and dataset_dir.name in builders:
        logger.info("building the embedded '%s' dataset in %s", dataset_dir.name, dataset_dir)
        builders[dataset_dir.name](dataset_dir)
    elif not dataset_dir.is_dir():
        raise DatasetError(
            f"dataset_dir '{dataset_dir}' does not exist (embedded datasets are built only in a "
            f"folder named {', '.join(sorted(builders))})"
        )
    return dataset_dir


def _pair_by_name(dataset_dir: Path) -> list[dict[str, str]]:
    images, labels = image_files(dataset_dir / "imagesTr"), image_files(dataset_dir / "labelsTr")
    if not images:
        raise DatasetError(
            f"no training images in '{dataset_dir}': searched dataset.json and imagesTr/*{{{','.join(IMAGE_SUFFIXES)}}}"
        )
    by_name = {case_name(p): p for p in labels}
    items, unmatched = [], []
    for image in images:
        label = by_name.pop(_CHANNEL_SUFFIX.sub("", case_name(image)), None)
        if label is None:
            unmatched.append(image.name)
        else:
            items.append({"image": str(image), "label": str(label)})
    if unmatched or by_name:
        raise DatasetError(
            f"image / label files in '{dataset_dir}' do not match by name: images without a label "
            f"{sorted(unmatched)}, labels without an image {sorted(p.name for p in by_name.values())}"
        )
    return items


def _check_exists(items: Sequence[dict], source: Path) -> None:
    for item in items:
        for key in ("image", "label"):
            if key in item and not Path(item[key]).exists():
                raise DatasetError(f"{source}: the {key} file '{item[key]}' listed there does not exist")


def training_datalist(dataset_dir: str | Path, split: str = "training") -> list[dict[str, str]]:
    """Items ``{"image": path, "label": path, ...}`` of ``split`` ("training" or "validation") in ``dataset_dir``.

    ``dataset.json`` (MSD) is used when present; without a "validation" list the last fifth of "training" (at
    least one case) validates. Without dataset.json, ``imagesTr/`` and ``labelsTr/`` are paired by file name.
    """
    if split not in ("training", "validation"):
        raise ValueError(f"split must be 'training' or 'validation', got '{split}'")
    dataset_dir = ensure_dataset(dataset_dir)
    manifest = dataset_dir / "dataset.json"
    if manifest.is_file():
        content = json.loads(manifest.read_text())
        if "validation" in content:
            items = load_decathlon_datalist(str(manifest), True, split, base_dir=str(dataset_dir))
            _check_exists(items, manifest)
            return items
        everything = load_decathlon_datalist(str(manifest), True, "training", base_dir=str(dataset_dir))
        _check_exists(everything, manifest)
    else:
        everything = _pair_by_name(dataset_dir)
    if len(everything) == 1:
        logger.warning("%s has one labelled case: it is used for training and for validation", dataset_dir)
        return everything
    num_val = max(1, len(everything) // 5)
    return everything[-num_val:] if split == "validation" else everything[:-num_val]


def inference_datalist(dataset_dir: str | Path, datalist: str | Path | Sequence | None = None) -> list[dict[str, str]]:
    """Items ``{"image": path}`` to segment.

    ``datalist`` (a JSON file: a list of items or paths, or an MSD dataset.json whose "test" / "testing" list is
    used; or a Python list of paths / items) wins; otherwise every image directly in ``dataset_dir``, else in its
    ``imagesTs/``, else in its ``imagesTr/``.
    """
    if datalist:
        return _explicit_datalist(datalist)
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise DatasetError(f"dataset_dir '{dataset_dir}' does not exist")
    for folder in (dataset_dir, dataset_dir / "imagesTs", dataset_dir / "imagesTr"):
        files = [str(p) for p in image_files(folder)] + dicom_series_inputs(folder)
        if files:
            return [{"image": p} for p in files]
    patterns = "*{" + ",".join(IMAGE_SUFFIXES) + "}"
    raise DatasetError(f"no images found in '{dataset_dir}': searched {patterns} there and in imagesTs/, imagesTr/")


def dicom_series_inputs(folder: str | Path) -> list[str]:
    """The DICOM series in ``folder`` itself or in its direct sub-folders, as inputs (see
    :func:`monai_unet_bundle.dicom.series_inputs`); a refused series is listed too, so that reading it reports why."""
    from monai_unet_bundle.dicom import DicomSeriesError, holds_dicom, series_inputs

    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = [folder] if holds_dicom(folder) else sorted(p for p in folder.iterdir() if holds_dicom(p))
    inputs = []
    for candidate in candidates:
        try:
            inputs += [path for path, _ in series_inputs(candidate)]
        except DicomSeriesError:
            inputs.append(str(candidate))  # unreadable as a whole: its read will say why
    return inputs


def _explicit_datalist(datalist: str | Path | Sequence) -> list[dict[str, str]]:
    if isinstance(datalist, (str, Path)):
        source = Path(datalist)
        if not source.is_file():
            raise DatasetError(f"datalist '{source}' does not exist")
        content = json.loads(source.read_text())
        if isinstance(content, dict):
            key = next((k for k in ("test", "testing", "validation", "training") if k in content), None)
            if key is None:
                raise DatasetError(f"datalist '{source}' has none of the lists test, testing, validation, training")
            content = content[key]
        base = source.parent
    else:
        content, base, source = list(datalist), Path.cwd(), Path("<datalist>")
    items = []
    for entry in content:
        item = {"image": entry} if isinstance(entry, str) else dict(entry)
        if "image" not in item:
            raise DatasetError(f"{source}: the entry {entry!r} has no 'image'")
        image = Path(item["image"])
        item["image"] = str(image if image.is_absolute() else (base / image).resolve())
        items.append(item)
    return items
