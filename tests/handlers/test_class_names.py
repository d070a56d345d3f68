"""foreground_class_names: from the config, from dataset.json, or generic."""

from __future__ import annotations

import json

import pytest
from monai_unet_bundle.handlers import foreground_class_names


def test_given_names_with_or_without_background():
    assert foreground_class_names(3, ["a", "b"]) == ["a", "b"]
    assert foreground_class_names(3, ["background", "a", "b"]) == ["a", "b"]
    with pytest.raises(ValueError, match="expected 2 foreground names"):
        foreground_class_names(3, ["a"])


def test_from_dataset_json_else_generic(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"labels": {"0": "background", "1": "liver", "2": "tumour"}}))
    assert foreground_class_names(3, dataset_dir=tmp_path) == ["liver", "tumour"]
    # labels that do not match num_classes are not trusted
    assert foreground_class_names(4, dataset_dir=tmp_path) == ["class_1", "class_2", "class_3"]
    assert foreground_class_names(2) == ["class_1"]


def test_a_missing_dataset_folder_is_not_built_or_required(tmp_path):
    absent = tmp_path / "brain3d"  # an embedded dataset's name: the datalist would build it, this must not
    assert foreground_class_names(4, dataset_dir=absent) == ["class_1", "class_2", "class_3"]
    assert not absent.exists()
