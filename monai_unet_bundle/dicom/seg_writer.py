"""Write a label map as a DICOM Segmentation (DICOM-SEG) that references its source image series.

One segment per foreground class, labelled with the class name and coded with SNOMED CT where the name is known
(:data:`CLASS_CODES`; other names get the generic "Tissue" code and keep their own label). The file is written to a
temporary name and renamed, like the NIfTI writer, so a SEG under its final name is always whole. Example::

    >>> series = find_series("study/CT_0001")[0]
    >>> write_dicom_seg(labels_zyx, series.files, ["background", "soft_tissue", "bone"], "out/CT_0001_seg.dcm")
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import highdicom
import numpy as np
import pydicom
import SimpleITK
import torch
from monai_unet_bundle.atomic_write import atomic_write
from monai_unet_bundle.dicom.series_reader import is_series_path, series_info
from monai_unet_bundle.dicom.series_writer import write_series
from monai_unet_bundle.prediction.output import SegmentationWriter, source_path
from pydicom.sr.codedict import codes

__all__ = ["CLASS_CODES", "DicomSegWriter", "segment_code", "write_dicom_seg"]

#: class name (lower case, spaces / hyphens as underscores) -> (category, property type) SNOMED CT codes
CLASS_CODES = {
    "csf": (codes.SCT.Tissue, codes.SCT.CerebrospinalFluid),
    "cerebrospinal_fluid": (codes.SCT.Tissue, codes.SCT.CerebrospinalFluid),
    "gray_matter": (codes.SCT.Tissue, codes.SCT.GrayMatter),
    "grey_matter": (codes.SCT.Tissue, codes.SCT.GrayMatter),
    "gm": (codes.SCT.Tissue, codes.SCT.GrayMatter),
    "white_matter": (codes.SCT.Tissue, codes.SCT.WhiteMatter),
    "wm": (codes.SCT.Tissue, codes.SCT.WhiteMatter),
    "bone": (codes.SCT.Tissue, codes.SCT.Bone),
    "brain": (codes.SCT.Tissue, codes.SCT.Brain),
}


def segment_code(name: str) -> tuple[pydicom.sr.coding.Code, pydicom.sr.coding.Code]:
    """(category, type) codes of a class name; "Tissue" / "Tissue" where the name has no known code."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    return CLASS_CODES.get(key, (codes.SCT.Tissue, codes.SCT.Tissue))


def write_dicom_seg(
    labels: np.ndarray,
    source_files: Sequence[str | Path],
    class_names: Sequence[str],
    path: str | Path,
    *,
    algorithm_name: str = "monai-unet-bundle",
    algorithm_version: str = "0",
) -> Path:
    """Write ``labels`` as a DICOM-SEG at ``path`` and return it.

    Args:
        labels: ``(slices, rows, columns)`` integer labels, slice ``i`` on ``source_files[i]`` (the series order
            that :func:`~monai_unet_bundle.dicom.find_series` gives, along the slice normal).
        source_files: the image series the labels were predicted on, one file per slice.
        class_names: names of classes 0..C-1; class 0 is background and gets no segment.
        path: the .dcm file to write (its folder is created).
        algorithm_name, algorithm_version: recorded in each segment's algorithm identification.
    """
    sources = [pydicom.dcmread(str(f)) for f in source_files]
    if labels.ndim != 3 or labels.shape[0] != len(sources):
        raise ValueError(f"write_dicom_seg: labels {labels.shape} do not match {len(sources)} source slices")
    if labels.shape[1:] != (int(sources[0].Rows), int(sources[0].Columns)):
        raise ValueError(
            f"write_dicom_seg: labels {labels.shape[1:]} vs source matrix {sources[0].Rows}x{sources[0].Columns}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"write_dicom_seg: labels outside 0..{len(class_names) - 1}")
    algorithm = highdicom.AlgorithmIdentificationSequence(
        name=algorithm_name, version=algorithm_version, family=codes.cid7162.ArtificialIntelligence
    )
    descriptions = []
    for number, name in enumerate(class_names[1:], start=1):
        category, kind = segment_code(name)
        descriptions.append(
            highdicom.seg.SegmentDescription(
                segment_number=number,
                segment_label=name,
                segmented_property_category=category,
                segmented_property_type=kind,
                algorithm_type=highdicom.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
                algorithm_identification=algorithm,
            )
        )
    seg = highdicom.seg.Segmentation(
        source_images=sources,
        pixel_array=labels.astype(np.uint8 if len(class_names) <= 256 else np.uint16),
        segmentation_type=highdicom.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=highdicom.UID(),
        series_number=int(sources[0].get("SeriesNumber", 1) or 1) + 1000,
        sop_instance_uid=highdicom.UID(),
        instance_number=1,
        manufacturer="monai-unet-bundle",
        manufacturer_model_name=algorithm_name,
        software_versions=algorithm_version,
        device_serial_number="0",
        omit_empty_frames=False,
    )
    path = Path(path)
    with atomic_write(path) as partial:
        seg.save_as(partial)
    os.chmod(path, 0o644)
    return path


class DicomSegWriter(SegmentationWriter):
    """The DICOM-SEG output format (``--output-format dicom-seg``): ``<case>_seg.dcm`` referencing its source.

    A DICOM series input is referenced as it is. Any other input (NIfTI, NRRD, ...) is first written as a DICOM
    series beside the SEG (``<case>_seg_image/``, one file per slice, ``modality``), since a SEG must reference
    the images it segments.

    Args:
        modality: of the series written for non-DICOM inputs: "MR" or "CT".
    """

    extension = ".dcm"

    def __init__(self, modality: str = "MR") -> None:
        self.modality = modality

    def write(self, labels: torch.Tensor, meta: Mapping, class_names: Sequence[str], path: Path) -> list[Path]:
        source = source_path(meta)
        if source is None:
            raise ValueError("DicomSegWriter: the prediction does not say which input it came from")
        # (1, x, y, z) in the input's voxel grid -> (slices, rows, columns) of the source series
        zyx = np.ascontiguousarray(np.asarray(labels[0].detach().cpu()).transpose(2, 1, 0))
        written = []
        if is_series_path(source):
            files = series_info(source).files
        else:
            image_folder = path.with_name(path.name[: -len(self.extension)] + "_image")
            files = write_series(SimpleITK.ReadImage(source), image_folder, modality=self.modality)
            written.append(image_folder)
        return [write_dicom_seg(zyx, files, ["background", *class_names], path), *written]
