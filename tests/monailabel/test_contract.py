"""The bundle as MONAI Label 0.8.5's monaibundle app uses it, reproduced with MONAI's own ConfigParser and runner.

No monailabel import: each step below does to our configs what MONAI Label 0.8.5 does (Project-MONAI/MONAILabel,
tag 0.8.5):

- ``monailabel/tasks/infer/bundle.py`` (BundleInferTask): a bare ``ConfigParser`` reads ``configs/inference.yaml``
  (no metadata merged), sets ``bundle_root`` to the bundle folder, builds ``network_def`` and loads
  ``models/model.pt``; per request it sets ``device`` to a plain string, takes the ``preprocessing`` transforms
  with every ``LoadImaged`` switched to ``image_only=False`` and wrapped in its own loader (which calls it for a
  file path), the ``inferer``, and the ``postprocessing`` transforms minus ``SaveImaged`` plus a ``Restored`` on
  ``pred`` with ``image`` as reference. Labels: the first output's ``channel_def`` minus background; dimension:
  the length of the first input's ``spatial_shape``.
- ``monailabel/tasks/infer/basic_infer.py``: the image gets a batch axis, ``inferer(inputs, network)`` runs under
  ``no_grad`` with the network in eval mode, ``pred`` is the first batch item.
- ``monailabel/transform/post.py`` (Restored): ``pred`` is resized (nearest) to the reference's ``spatial_shape``
  if it differs, a length-1 channel is dropped, and the writer gets the reference's ``original_affine``.
- ``monailabel/tasks/train/bundle.py`` (BundleTrainTask): datalist items keep only ``image`` and ``label``; a
  ``CheckpointLoader`` for ``models/model.pt`` into ``$@network`` (``strict`` False) is inserted at index 0 of
  ``train#handlers``; ``monai.bundle.run("run", meta_file=..., config_file=configs/train.yaml, ...)`` runs with
  overrides of ``bundle_root``, ``train#trainer#max_epochs``, ``train#dataset#data``, ``validate#dataset#data``,
  ``device`` (a string from ``name_to_device``) and ``train#handlers``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.bundle import ConfigItem, ConfigParser, ConfigWorkflow
from monai.bundle import run as bundle_run
from monai.data import MetaTensor
from monai.handlers import CheckpointLoader
from monai.inferers import SimpleInferer
from monai.transforms import Compose, LoadImaged, Resize, SaveImaged
from tests.conftest import CONFIGS
from tests.monailabel.conftest import TINY_NETWORK, make_bundle

#: tiny sizes for the tests, applied on top of MONAI Label's overrides
TINY_INFER = {**TINY_NETWORK, "roi_size": [16, 16, 16], "sw_batch_size": 1, "progress": False}
TINY_TRAIN = {**TINY_NETWORK, "roi_size": [16, 16, 16], "num_samples": 2, "epoch_length": 2, "cache_rate": 0.0}


# ------------------------------------------------------------------------------------------------ MONAI Label's steps
def bare_parser(config_file: Path, bundle: Path, overrides: dict) -> ConfigParser:
    """A ConfigParser as MONAI Label builds it: the config alone, ``bundle_root`` set to the bundle folder."""
    parser = ConfigParser()
    parser.read_config(str(config_file))
    parser.config.update({"bundle_root": str(bundle)})
    for key, value in overrides.items():
        parser[key] = value
    return parser


def set_device(parser: ConfigParser, device: str) -> None:
    """MONAI Label's per-request device update: the plain string replaces the config's ``device``."""
    parser.config.update({"device": device})
    if parser.ref_resolver.items.get("device"):
        parser.ref_resolver.items["device"] = ConfigItem(config=device, id="device")


def labels_and_dimension(meta_file: Path) -> tuple[dict[str, int], int]:
    """What the MONAI Label client is told: {label: index} without background, and the image dimension."""
    meta = json.loads(meta_file.read_text())
    _, image = next(iter(meta["network_data_format"]["inputs"].items()))
    _, pred = next(iter(meta["network_data_format"]["outputs"].items()))
    labels = {v.lower(): int(k) for k, v in pred.get("channel_def", {}).items() if v.lower() != "background"}
    shape = image.get("spatial_shape")
    return labels, len(shape) if shape else 3


def restore_to_reference(data: dict, key: str = "pred", ref: str = "image") -> dict:
    """MONAI Label's appended restore: back to the reference's spatial shape, its original affine for the writer."""
    meta = data[ref].meta if isinstance(data[ref], MetaTensor) else data.get(f"{ref}_meta_dict", {})
    result = data[key]
    current = tuple(result.shape[1:])
    target = tuple(int(s) for s in np.asarray(meta.get("spatial_shape", current)).ravel()[-len(current) :])
    if current != target:
        result = Resize(spatial_size=target, mode="nearest")(result)
    data[key] = result[0] if result.ndim > 3 and result.shape[0] == 1 else result
    data[f"{key}_meta_dict"] = {"affine": meta.get("original_affine")}
    return data


def monailabel_infer(
    bundle: Path, image_path: str, device: str = "cpu", overrides: dict | None = None, request: dict | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One MONAI Label inference request on ``image_path``: (label array, affine the writer would use).

    ``request``: further items of the request (a DeepEdit request's clicks: ``{label name: [[i, j, k], ...]}``).
    """
    # MONAI Label takes the first of inference.json, inference.yaml that exists
    config_file = next(p for p in (bundle / "configs" / n for n in ("inference.json", "inference.yaml")) if p.exists())
    parser = bare_parser(config_file, bundle, TINY_INFER if overrides is None else overrides)
    network = parser.get_parsed_content("network_def", instantiate=True)
    checkpoint = torch.load(bundle / "models" / "model.pt", map_location=device, weights_only=True)
    state = checkpoint.get("model", checkpoint)
    # MONAI Label loads with strict=False and only warns: a mismatch would silently leave random weights
    assert set(state) == set(network.state_dict()), "models/model.pt does not match network_def"
    network.load_state_dict(state)
    network.to(device).eval()

    data = {**(request or {}), "image": image_path, "image_path": image_path, "device": device, "model": bundle.name}
    set_device(parser, device)
    preprocessing = parser.get_parsed_content("preprocessing", instantiate=True)
    transforms = list(preprocessing.transforms) if isinstance(preprocessing, Compose) else list(preprocessing)
    assert any(isinstance(t, LoadImaged) for t in transforms), "MONAI Label swaps the LoadImaged for its loader"
    for transform in transforms:
        if isinstance(transform, LoadImaged):
            transform._loader.image_only = False  # what MONAI Label sets before wrapping it
        data = transform(data)

    inferer = parser.get_parsed_content("inferer", instantiate=True) if parser.get("inferer") else SimpleInferer()
    with torch.no_grad():
        data["pred"] = inferer(data["image"][None].to(device), network)[0]

    postprocessing = parser.get_parsed_content("postprocessing", instantiate=True)
    transforms = list(postprocessing.transforms) if isinstance(postprocessing, Compose) else list(postprocessing)
    assert any(isinstance(t, SaveImaged) for t in transforms)  # the bundle's own writer, which MONAI Label drops
    for transform in transforms:
        if not isinstance(transform, SaveImaged):
            data = transform(data)
    data = restore_to_reference(data)
    pred = data["pred"]
    array = pred.detach().cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred)
    affine = data["pred_meta_dict"]["affine"]
    return array, np.asarray(affine.cpu() if isinstance(affine, torch.Tensor) else affine, dtype=np.float64)


def monailabel_train_overrides(bundle: Path, train: list[dict], val: list[dict] | None, max_epochs: int) -> dict:
    """The overrides MONAI Label passes to ``monai.bundle.run`` for a single-device training request."""
    # MONAI Label takes the first of train.json, train.yaml that exists
    config_file = next(p for p in (bundle / "configs" / n for n in ("train.json", "train.yaml")) if p.exists())
    parser = bare_parser(config_file, bundle, {})
    handlers = parser.get("train#handlers", [])
    model_file = bundle / "models" / "model.pt"
    if model_file.exists() and not [h for h in handlers if h.get("_target_") == CheckpointLoader.__name__]:
        handlers.insert(
            0,
            {
                "_target_": "CheckpointLoader",
                "load_path": str(model_file),
                "load_dict": {"model": "$@network"},
                "strict": False,
            },
        )
    overrides = {
        "bundle_root": str(bundle),
        "train#trainer#max_epochs": max_epochs,
        "train#dataset#data": [{"image": d["image"], "label": d["label"]} for d in train],
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "train#handlers": handlers,
    }
    if val is not None:
        overrides["validate#dataset#data"] = [{"image": d["image"], "label": d["label"]} for d in val]
    return overrides


def _strings(node) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


# ----------------------------------------------------------------------------------------------------------- tests
def test_labels_dimension_and_channels_agree_with_the_configs():
    labels, dimension = labels_and_dimension(CONFIGS / "metadata.json")
    assert labels == {"csf": 1, "gray_matter": 2, "white_matter": 3}
    assert dimension == 3
    meta = json.loads((CONFIGS / "metadata.json").read_text())["network_data_format"]
    assert list(meta["inputs"]) == ["image"] and list(meta["outputs"]) == ["pred"]
    for name in ("inference.yaml", "train.yaml"):
        parser = bare_parser(CONFIGS / name, CONFIGS.parent, {})
        assert parser.get_parsed_content("num_classes") == meta["outputs"]["pred"]["num_channels"] == len(labels) + 1
        assert parser.get_parsed_content("spatial_dims") == dimension
        assert parser.get_parsed_content("in_channels") == meta["inputs"]["image"]["num_channels"]


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_device_may_be_a_plain_string(device):
    """MONAI Label puts "cpu" or "cuda" where the configs compute a torch.device; everything using it must cope."""
    infer = bare_parser(CONFIGS / "inference.yaml", CONFIGS.parent, TINY_INFER)
    set_device(infer, device)
    for key in ("preprocessing", "inferer", "postprocessing", "network_def"):
        assert infer.get_parsed_content(key, instantiate=True) is not None
    assert not [v for v in _strings(infer.config) if "_meta_" in v], "a bare ConfigParser has no metadata"

    train = bare_parser(CONFIGS / "train.yaml", CONFIGS.parent, TINY_TRAIN)
    train.update({"device": device})
    assert train.get_parsed_content("train#trainer#amp") == (device == "cuda")
    assert train.get_parsed_content("validate#evaluator#amp") == (device == "cuda")
    if device == "cpu":
        assert str(train.get_parsed_content("network").head.weight.device) == "cpu"


def test_top_level_network_id_is_what_the_checkpoint_loader_fills():
    train = bare_parser(CONFIGS / "train.yaml", CONFIGS.parent, {**TINY_TRAIN, "device": "cpu"})
    assert train.get_parsed_content("network") is train.get_parsed_content("train#trainer#network")


def test_overridden_max_epochs_drives_the_schedule_and_validation():
    """MONAI Label sets ``train#trainer#max_epochs`` (not the top-level ``max_epochs``): the LR schedule must span
    that many epochs, and a run shorter than ``val_interval`` must still validate (and so save models/model.pt)."""
    for epochs in (1, 3, 120):
        # val_interval 5: runs of 1 and 3 epochs are shorter than it and must still validate once, at their end
        train = bare_parser(
            CONFIGS / "train.yaml",
            CONFIGS.parent,
            {**TINY_TRAIN, "val_interval": 5, "device": "cpu", "train#trainer#max_epochs": epochs},
        )
        scheduler = train.get_parsed_content("lr_scheduler")
        span = getattr(scheduler, "total_iters", getattr(scheduler, "T_max", None))
        assert span == epochs, f"LR schedule spans {span} epochs for train#trainer#max_epochs={epochs}"
        handlers = train.get_parsed_content("train#handlers")
        (validation,) = [h for h in handlers if type(h).__name__ == "ValidationHandler"]
        (at_end,) = [h for h in handlers if type(h).__name__ == "ValidateAtEnd"]
        # the model zoo's convention: the interval is @val_interval; ValidateAtEnd covers the run's last epoch
        assert validation.interval == 5 and at_end.interval == 5, (epochs, validation.interval, at_end.interval)
        assert at_end.validator is validation.validator


def test_inference_as_monailabel_runs_it_matches_the_bundle_run(tmp_path, monailabel_cases):
    bundle = make_bundle(tmp_path / "model" / "unet_bundle")
    files = sorted(bundle.rglob("*"))
    source = nib.load(monailabel_cases["lps"]["image"])
    labels, affine = monailabel_infer(bundle, monailabel_cases["lps"]["image"])
    assert labels.shape == source.shape
    assert np.allclose(affine, source.affine, atol=1e-5)
    assert np.issubdtype(labels.dtype, np.integer) and set(np.unique(labels).tolist()) <= {0, 1, 2, 3}
    assert sorted(bundle.rglob("*")) == files, "inference through MONAI Label writes nothing into the bundle"

    # the bundle's own inference of the same file writes exactly these labels
    inputs = tmp_path / "in"
    inputs.mkdir()
    os.symlink(monailabel_cases["lps"]["image"], inputs / "lps.nii.gz")
    workflow = ConfigWorkflow(
        config_file=str(bundle / "configs" / "inference.yaml"),
        meta_file=str(bundle / "configs" / "metadata.json"),
        logging_file=str(bundle / "configs" / "logging.conf"),
        workflow_type="infer",
        bundle_root=str(bundle),
        dataset_dir=str(inputs),
        output_dir=str(tmp_path / "out"),
        **TINY_INFER,
    )
    workflow.initialize()
    workflow.run()
    workflow.finalize()
    written = nib.load(tmp_path / "out" / "lps_seg.nii.gz")
    np.testing.assert_array_equal(np.asarray(written.dataobj), labels)


def test_inference_restore_is_a_no_op_on_the_bundle_output(monailabel_cases, tmp_path):
    """The bundle already returns labels in the input grid: MONAI Label's restore must not resample them."""
    bundle = make_bundle(tmp_path / "bundle", seed=1)
    case = monailabel_cases["small"]
    labels, affine = monailabel_infer(bundle, case["image"])
    assert labels.shape == nib.load(case["image"]).shape == (12, 14, 10)
    assert np.allclose(affine, nib.load(case["image"]).affine)


@pytest.mark.slow
def test_training_as_monailabel_runs_it(tmp_path, monailabel_cases):
    """One epoch from image/label-only items (one smaller than the crop), starting from models/model.pt."""
    bundle = make_bundle(tmp_path / "model" / "unet_bundle", batches_tracked=1000)
    train = [monailabel_cases[name] for name in ("case_0", "small", "case_1")]
    val = [monailabel_cases["case_2"]]
    overrides = monailabel_train_overrides(bundle, train, val, max_epochs=1)
    assert overrides["train#handlers"][0]["_target_"] == "CheckpointLoader"
    before = (bundle / "models" / "model.pt").stat().st_mtime_ns

    bundle_run(
        run_id="run",
        init_id=None,
        final_id=None,
        meta_file=str(bundle / "configs" / "metadata.json"),
        config_file=str(bundle / "configs" / "train.yaml"),
        **overrides,
        **TINY_TRAIN,
    )

    model_file = bundle / "models" / "model.pt"
    assert model_file.stat().st_mtime_ns != before, "models/model.pt was not rewritten after the requested epochs"
    state = torch.load(model_file, weights_only=True)
    tracked = {k: int(v) for k, v in state.items() if k.endswith("num_batches_tracked")}
    # loaded from models/model.pt (1000), then trained for one epoch of epoch_length iterations
    assert tracked and set(tracked.values()) == {1000 + TINY_TRAIN["epoch_length"]}, tracked
    # nothing but the datalist was read: no dataset was looked for or built inside the bundle
    assert not (bundle / "data").exists()


@pytest.mark.slow
def test_training_without_validation_items_still_updates_the_model(tmp_path, monailabel_cases):
    bundle = make_bundle(tmp_path / "bundle", batches_tracked=1000)
    overrides = monailabel_train_overrides(bundle, [monailabel_cases["case_0"], monailabel_cases["small"]], [], 1)
    bundle_run(
        run_id="run",
        init_id=None,
        final_id=None,
        meta_file=str(bundle / "configs" / "metadata.json"),
        config_file=str(bundle / "configs" / "train.yaml"),
        **overrides,
        **TINY_TRAIN,
    )
    state = torch.load(bundle / "models" / "model.pt", weights_only=True)
    tracked = {int(v) for k, v in state.items() if k.endswith("num_batches_tracked")}
    assert tracked == {1000 + TINY_TRAIN["epoch_length"]}


def merged_bundle_copy(source_configs: Path, target: Path, override_file: str) -> Path:
    """docs/monailabel.md's recipe for a variant MONAI Label can serve: configs merged with an override file."""
    (target / "configs").mkdir(parents=True, exist_ok=True)
    for name in ("inference", "train"):
        merged = ConfigParser.load_config_files([source_configs / f"{name}.yaml", source_configs / override_file])
        ConfigParser.export_config_file(merged, str(target / "configs" / f"{name}.json"), indent=2)
    for name in ("metadata.json", "logging.conf"):
        shutil.copy2(source_configs / name, target / "configs" / name)
    return target


def test_u2net_as_a_merged_bundle_copy(tmp_path, monailabel_cases):
    bundle = merged_bundle_copy(CONFIGS, tmp_path / "model" / "u2net_bundle", "u2net.yaml")
    infer = bare_parser(bundle / "configs" / "inference.json", bundle, {})
    torch.manual_seed(0)
    network = infer.get_parsed_content("network_def", instantiate=True)
    assert type(network).__name__ == "U2Net"
    (bundle / "models").mkdir()
    torch.save(network.state_dict(), bundle / "models" / "model.pt")
    train = bare_parser(bundle / "configs" / "train.json", bundle, {"device": "cpu"})
    assert type(train.get_parsed_content("network_def")).__name__ == "U2Net"
    assert type(train.get_parsed_content("loss")).__name__ == "DeepSupervisionLoss"

    case = monailabel_cases["lps"]
    labels, affine = monailabel_infer(bundle, case["image"], overrides={"roi_size": [16, 16, 16], "progress": False})
    assert labels.shape == nib.load(case["image"]).shape
    assert np.allclose(affine, nib.load(case["image"]).affine, atol=1e-5)
