"""An MSD dataset folder's training cases in nnU-Net v2's raw format (needs no nnunetv2).

    <raw_root>/Dataset<NNN>_<name>/imagesTr/<case>_0000.nii.gz   (one channel)
    <raw_root>/Dataset<NNN>_<name>/labelsTr/<case>.nii.gz
    <raw_root>/Dataset<NNN>_<name>/dataset.json                   (channel_names, labels, numTraining, file_ending)

Only the "training" cases go in: the held-out "validation" cases are what both sides predict afterwards. The label
files are checked against the dataset's label list, so a label value nnU-Net would reject (or silently mislearn) is
an error naming the file here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
from monai_unet_bundle.data import DatasetError, case_name, training_datalist

FILE_ENDING = ".nii.gz"


def nnunet_dataset_name(dataset_id: int, name: str) -> str:
    """``Dataset<NNN>_<name>``: nnU-Net's folder name (three-digit id)."""
    if not 1 <= dataset_id <= 999:
        raise ValueError(f"nnU-Net dataset ids have three digits (1..999), got {dataset_id}")
    return f"Dataset{dataset_id:03d}_{name}"


def nnunet_dataset_json(manifest: dict, num_training: int) -> dict:
    """nnU-Net v2's dataset.json from an MSD one: ``modality`` -> ``channel_names``, labels as ``{name: value}``.

    nnU-Net normalises a channel named "CT" with the dataset's foreground statistics and z-scores any other name.
    """
    modality = manifest.get("modality") or manifest.get("channel_names")
    if not modality:
        raise DatasetError(f"dataset '{manifest.get('name')}': dataset.json lists no modality / channel_names")
    labels = manifest.get("labels") or {}
    if all(str(key).isdigit() for key in labels):  # MSD: {"0": "background", ...}
        labels = {name: int(value) for value, name in labels.items()}
    labels = dict(sorted(((str(name), int(value)) for name, value in labels.items()), key=lambda kv: kv[1]))
    if labels.get("background") != 0 or list(labels.values()) != list(range(len(labels))):
        raise DatasetError(
            f"dataset '{manifest.get('name')}': nnU-Net needs labels 0..N-1 with 0 named 'background', got {labels}"
        )
    return {
        "channel_names": {str(k): str(v) for k, v in modality.items()},
        "labels": labels,
        "numTraining": num_training,
        "file_ending": FILE_ENDING,
        "name": manifest.get("name", ""),
    }


def _copy_label(source: Path, destination: Path, allowed: set[int]) -> None:
    label = nib.load(str(source))
    values = np.asarray(label.dataobj)
    if not np.all(values == np.round(values)):
        raise DatasetError(f"label file '{source}' holds non-integer values: nnU-Net needs integer class labels")
    found = {int(v) for v in np.unique(values)}
    if found - allowed:
        raise DatasetError(
            f"label file '{source}' holds values {sorted(found - allowed)} that dataset.json does not list "
            f"(listed: {sorted(allowed)})"
        )
    out = nib.Nifti1Image(values.astype(np.uint8), label.affine, label.header)
    out.set_data_dtype(np.uint8)
    nib.save(out, str(destination))


def to_nnunet_raw(dataset_dir: str | Path, raw_root: str | Path, dataset_id: int) -> Path:
    """Write the training cases of ``dataset_dir`` (MSD layout) as nnU-Net raw dataset ``dataset_id``.

    Images are copied (NIfTI, ``_0000`` channel suffix), labels rewritten as uint8 after their values are checked;
    returns the ``Dataset<NNN>_<name>`` folder. An existing folder of that name is replaced whole.
    """
    dataset_dir = Path(dataset_dir)
    items = training_datalist(dataset_dir, "training")
    manifest = json.loads((dataset_dir / "dataset.json").read_text())
    name = manifest.get("name") or dataset_dir.name
    content = nnunet_dataset_json(manifest, len(items))
    allowed = set(content["labels"].values())
    target = Path(raw_root) / nnunet_dataset_name(dataset_id, name)
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    (partial / "imagesTr").mkdir(parents=True)
    (partial / "labelsTr").mkdir()
    for item in items:
        image, label = Path(item["image"]), Path(item["label"])
        if not image.name.endswith(FILE_ENDING) or not label.name.endswith(FILE_ENDING):
            raise DatasetError(f"'{image}' / '{label}': this conversion copies {FILE_ENDING} files only")
        case = case_name(label)
        shutil.copyfile(image, partial / "imagesTr" / f"{case}_0000{FILE_ENDING}")
        _copy_label(label, partial / "labelsTr" / f"{case}{FILE_ENDING}", allowed)
    (partial / "dataset.json").write_text(json.dumps(content, indent=4) + "\n")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
