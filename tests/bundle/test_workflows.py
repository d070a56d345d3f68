"""Model-zoo style workflow tests: initialize -> check_properties() == [] -> run -> finalize, on small NIfTI."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigWorkflow
from tests.conftest import CONFIGS, TINY_INFER, TINY_TRAIN, write_nifti
from tests.prediction.conftest import AFFINES, blob_image


def _workflow(config_file, workflow_type, **overrides):
    return ConfigWorkflow(
        config_file=config_file,
        meta_file=str(CONFIGS / "metadata.json"),
        logging_file=str(CONFIGS / "logging.conf"),
        workflow_type=workflow_type,
        **overrides,
    )


def test_train_then_evaluate(tmp_path, synthetic_dir):
    train = _workflow(
        str(CONFIGS / "train.yaml"), "train", bundle_root=str(tmp_path), dataset_dir=str(synthetic_dir), **TINY_TRAIN
    )
    train.initialize()
    assert train.check_properties() == []
    train.run()
    train.finalize()
    state = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    # a flat state_dict (what MONAI Label and the exporters load), not {"model": ...}
    assert all(isinstance(v, torch.Tensor) for v in state.values()) and "model" not in state

    evaluate = _workflow(
        [str(CONFIGS / "train.yaml"), str(CONFIGS / "evaluate.yaml")],
        "train",
        bundle_root=str(tmp_path),
        dataset_dir=str(synthetic_dir),
        **TINY_TRAIN,
    )
    evaluate.initialize()
    assert evaluate.check_properties() == []
    evaluate.run()
    evaluate.finalize()
    eval_dir = tmp_path / "eval" / "evaluation"
    with open(eval_dir / "val_class_dice_raw.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "filename" and len(rows) == 2 and rows[1][0].endswith("sphere_003.nii.gz")
    assert all(0.0 <= float(v) <= 1.0 for v in rows[1][1:])
    assert (eval_dir / "val_hd95_raw.csv").is_file()
    (prediction,) = (eval_dir / "predictions").iterdir()
    source = nib.load(synthetic_dir / "imagesTr" / "sphere_003.nii.gz")
    written = nib.load(prediction)
    assert written.shape == source.shape and np.allclose(written.affine, source.affine, atol=1e-5)


def _oriented_inputs(folder):
    """The inference tests' RAS / LPS / LSA / oblique anisotropic volumes as NIfTI; returns {name: nibabel image}."""
    images = {}
    for index, (name, affine) in enumerate(AFFINES.items()):
        array, _ = blob_image((20 + index, 17, 13 + 2 * index), affine, seed=index)
        images[name] = nib.load(write_nifti(folder / f"{name}.nii{'.gz' if index % 2 else ''}", array, affine))
    return images


def test_inference_keeps_each_input_geometry(tmp_path, trained_bundle):
    inputs = _oriented_inputs(tmp_path / "in")
    infer = _workflow(
        str(CONFIGS / "inference.yaml"),
        "infer",
        bundle_root=str(trained_bundle),
        dataset_dir=str(tmp_path / "in"),
        output_dir=str(tmp_path / "out"),
        **TINY_INFER,
    )
    infer.initialize()
    assert infer.check_properties() == []
    infer.run()
    infer.finalize()
    for name, source in inputs.items():
        written = nib.load(tmp_path / "out" / f"{name}_seg.nii.gz")
        assert written.shape == source.shape, name
        assert np.allclose(written.affine, source.affine, atol=1e-4), (name, written.affine, source.affine)
        assert nib.aff2axcodes(written.affine) == nib.aff2axcodes(source.affine)
        assert written.get_data_dtype() == np.uint8
        assert set(np.unique(np.asarray(written.dataobj)).tolist()) <= {0, 1, 2, 3}


def test_metadata_verifies_against_the_schema():
    from monai.bundle import verify_metadata

    schema = CONFIGS.parents[1] / "shared" / "reference" / "meta_schema_20240725.json"
    if not schema.is_file():
        pytest.skip(f"the reference schema is not beside the clone ({schema})")
    verify_metadata(meta_file=str(CONFIGS / "metadata.json"), filepath=str(schema))
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    assert meta["version"] in meta["changelog"]
    pred = meta["network_data_format"]["outputs"]["pred"]
    assert pred["channel_def"]["0"] == "background" and pred["num_channels"] == len(pred["channel_def"])
    assert "+" not in meta["pytorch_version"]


def test_inference_properties_read_on_a_fresh_clone(tmp_path):
    """As the model zoo checks a bundle: no models/model.pt and no data yet. Only running inference needs them."""
    from monai_unet_bundle.checks import CheckpointFileError

    infer = _workflow(str(CONFIGS / "inference.yaml"), "infer", bundle_root=str(tmp_path))
    infer.initialize()
    assert infer.check_properties() == []
    assert not (tmp_path / "models").exists()
    with pytest.raises(RuntimeError, match="checked_checkpoint") as failed:  # the config expression that raised
        infer.run()
    assert isinstance(failed.value.__cause__, CheckpointFileError)
    assert f"'{tmp_path / 'models' / 'model.pt'}' does not exist" in str(failed.value.__cause__)
