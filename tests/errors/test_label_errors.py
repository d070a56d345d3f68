"""Bad labels (issue 9, part 2), through the training config's own preprocessing and a real training run."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from monai.bundle import ConfigWorkflow
from monai_unet_bundle.checks import LabelCheckError
from tests.conftest import CONFIGS, TINY_TRAIN, write_nifti
from tests.errors.conftest import AFFINE_2MM, config_part, noise


def _labels(shape=(16, 16, 16), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=shape).astype(np.uint8)


def _preprocess(tmp_path, label: np.ndarray, label_affine=AFFINE_2MM, image_shape=(16, 16, 16)):
    image = write_nifti(tmp_path / "imagesTr" / "case.nii.gz", noise(image_shape), AFFINE_2MM)
    target = write_nifti(tmp_path / "labelsTr" / "case.nii.gz", label, label_affine)
    transform = config_part("train.yaml", "validate#preprocessing", roi_size=[16, 16, 16])
    return transform({"image": str(image), "label": str(target)})


def test_label_shape_does_not_match_the_image(tmp_path):
    with pytest.raises(RuntimeError) as raised:
        _preprocess(tmp_path, _labels((16, 16, 12)))
    error = raised.value.__cause__
    assert isinstance(error, LabelCheckError), raised.value
    message = str(error)
    assert f"label {tmp_path / 'labelsTr' / 'case.nii.gz'} has spatial shape (16, 16, 12)" in message
    assert f"its image {tmp_path / 'imagesTr' / 'case.nii.gz'} has (16, 16, 16)" in message


def test_label_affine_does_not_match_the_image(tmp_path):
    shifted = AFFINE_2MM.copy()
    shifted[:3, 3] = [5.0, 0.0, 0.0]
    with pytest.raises(RuntimeError) as raised:
        _preprocess(tmp_path, _labels(), label_affine=shifted)
    message = str(raised.value.__cause__)
    assert isinstance(raised.value.__cause__, LabelCheckError), raised.value
    assert "labelsTr/case.nii.gz and its image" in message and "imagesTr/case.nii.gz have the same shape" in message
    assert "different affines" in message and "max difference 5 mm" in message
    # both matrices are printed: the label's with its 5 mm offset, the image's without
    label_line = next(line for line in message.splitlines() if line.strip().startswith("label ["))
    image_line = next(line for line in message.splitlines() if line.strip().startswith("image ["))
    assert "5." in label_line and "5." not in image_line


def test_label_values_outside_the_classes(tmp_path):
    label = _labels()
    label[0, 0, :3] = [4, 255, 7]
    with pytest.raises(RuntimeError) as raised:
        _preprocess(tmp_path, label)
    assert isinstance(raised.value.__cause__, LabelCheckError)
    assert (
        "labelsTr/case.nii.gz: expected class indices 0..3 (num_classes 4), found values outside that range "
        "[4, 7, 255] (3 distinct)" in str(raised.value.__cause__)
    )


def test_non_integer_float_labels(tmp_path):
    label = _labels().astype(np.float32)
    label[1, 1, 1], label[2, 2, 2] = 0.5, 2.25
    with pytest.raises(RuntimeError) as raised:
        _preprocess(tmp_path, label)
    assert isinstance(raised.value.__cause__, LabelCheckError)
    assert (
        "labelsTr/case.nii.gz: expected integer class indices 0..3, found non-integer values [0.5, 2.25] "
        "(2 distinct)" in str(raised.value.__cause__)
    )


def test_matching_label_passes_unchanged(tmp_path):
    """The checks refuse only what is wrong: a good pair comes out of the preprocessing as before."""
    label = _labels()
    out = _preprocess(tmp_path, label)
    assert tuple(out["label"].shape) == (1, 16, 16, 16)
    assert np.array_equal(out["label"][0].numpy(), label)


def test_empty_label_crop_fallback(tmp_path):
    """A training case whose label is all background: the safe crop samples around the classes present (with a
    warning naming the file) instead of failing, and the training run completes."""
    root = tmp_path / "data"
    for index in range(2):
        image = noise((20, 20, 20), seed=index)
        label = np.zeros((20, 20, 20), np.uint8) if index == 0 else _labels((20, 20, 20), seed=index)
        write_nifti(root / "imagesTr" / f"case{index}.nii.gz", image, AFFINE_2MM)
        write_nifti(root / "labelsTr" / f"case{index}.nii.gz", label, AFFINE_2MM)
    workflow = ConfigWorkflow(
        config_file=str(CONFIGS / "train.yaml"),
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type="train",
        bundle_root=str(tmp_path / "bundle"),
        dataset_dir=str(root),
        **TINY_TRAIN,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        workflow.initialize()
        workflow.run()
        workflow.finalize()
    messages = [str(w.message) for w in caught]
    empty = str(root / "labelsTr" / "case0.nii.gz")
    assert any(f"classes [1, 2, 3] are absent from {empty}" in m for m in messages), messages
    trainer = workflow.parser.get_parsed_content("train#trainer")
    assert trainer.state.iteration == TINY_TRAIN["epoch_length"]
    assert (tmp_path / "bundle" / "models" / "model.pt").is_file()


@pytest.mark.parametrize("part", ["train#preprocessing", "validate#preprocessing"])
def test_nuclei2d_checks_its_labels_too(tmp_path, part):
    """nuclei2d.yaml replaces the loading transforms of train.yaml; it must keep the label check."""
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    image = write_nifti(tmp_path / "imagesTr" / "cell.nii.gz", noise((32, 32)), affine)
    instance = np.zeros((32, 32), np.uint16)
    instance[4:12, 4:12], instance[20:28, 20:28] = 3, 9
    semantic = (instance > 0).astype(np.uint8)
    semantic[0, 0] = 2  # a 3-class value in a 2-class task
    label = write_nifti(tmp_path / "labelsTr" / "cell.nii.gz", semantic, affine)
    instances = write_nifti(tmp_path / "instancesTr" / "cell.nii.gz", instance, affine)
    transform = config_part(["train.yaml", "nuclei2d.yaml"], part, roi_size=[16, 16], num_samples=1)
    with pytest.raises(RuntimeError) as raised:
        transform({"image": str(image), "label": str(label), "instance": str(instances)})
    error = raised.value
    while error.__cause__ is not None:  # training nests the loading Compose in the preprocessing Compose
        error = error.__cause__
    assert isinstance(error, LabelCheckError), raised.value
    assert "labelsTr/cell.nii.gz: expected class indices 0..1 (num_classes 2)" in str(error)
