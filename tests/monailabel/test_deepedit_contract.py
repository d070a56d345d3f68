"""configs/deepedit/ as MONAI Label 0.8.5 serves a bundle whose folder name contains "deepedit", without monailabel.

What MONAI Label 0.8.5 does differently for such a bundle (``sample-apps/monaibundle/main.py``,
``tasks/infer/bundle.py``): the app registers two infer tasks on the same folder, ``<name>_seg`` (type
segmentation) and ``<name>`` (type deepedit). For both, ``config["use_click"]`` is set right after the config is
read (true only for the deepedit task); the deepedit task lists every ``channel_def`` name, background included, as
its labels (lower-cased), and the client sends the clicks as request items ``{label name: [[i, j, k], ...]}`` in
the voxel grid of the image file. Training is the same as for any bundle (test_contract.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from monai.apps.deepedit.transforms import AddGuidanceFromPointsDeepEditd, AddGuidanceSignalDeepEditd
from monai.bundle import ConfigParser
from monai.bundle import run as bundle_run
from monai.transforms import EnsureChannelFirstd, EnsureTyped, LoadImaged
from monai_unet_bundle.transforms import CheckClicksd, ClickError, GuidanceToGridd
from tests.conftest import CONFIGS, REPO
from tests.monailabel.test_contract import bare_parser, monailabel_infer, monailabel_train_overrides

DEEPEDIT = CONFIGS / "deepedit"
BRAIN_LABELS = {"background": 0, "csf": 1, "gray_matter": 2, "white_matter": 3}
TINY_UNET = {"network_def#features": [4, 8, 16, 32]}
TINY_INFER_3D = {**TINY_UNET, "roi_size": [16, 16, 16], "sw_batch_size": 1, "progress": False}


def deepedit_bundle(folder: Path, network: str = "unet", seed: int = 0, overrides: dict | None = None) -> Path:
    """A bundle folder MONAI Label serves in click mode: configs merged as docs/monailabel.md says (base,
    network override, deepedit override) and a ``models/model.pt`` of the tiny network."""
    assert "deepedit" in folder.name, "MONAI Label offers clicks only to bundles named *deepedit*"
    network_files = {"unet": [], "u2net": ["u2net.yaml"]}[network]
    (folder / "configs").mkdir(parents=True, exist_ok=True)
    for name in ("inference", "train"):
        files = [CONFIGS / f"{name}.yaml", *(CONFIGS / f for f in network_files), DEEPEDIT / f"{name}.yaml"]
        merged = ConfigParser.load_config_files([str(f) for f in files])
        ConfigParser.export_config_file(merged, str(folder / "configs" / f"{name}.json"), indent=2)
    for name in ("metadata.json", "logging.conf"):
        shutil.copy2(CONFIGS / name, folder / "configs" / name)
    parser = bare_parser(folder / "configs" / "inference.json", folder, overrides if overrides is not None else {})
    torch.manual_seed(seed)
    (folder / "models").mkdir(exist_ok=True)
    torch.save(parser.get_parsed_content("network_def", instantiate=True).state_dict(), folder / "models" / "model.pt")
    return folder


def preprocessed(bundle: Path, image_path: str, request: dict, overrides: dict) -> dict:
    """MONAI Label's preprocessing of one request (LoadImaged with image_only False), up to the network input."""
    parser = bare_parser(bundle / "configs" / "inference.json", bundle, overrides)
    data = {**request, "image": image_path, "image_path": image_path}
    for transform in parser.get_parsed_content("preprocessing", instantiate=True).transforms:
        if isinstance(transform, LoadImaged):
            transform._loader.image_only = False
        data = transform(data)
    return data


def world(affine: np.ndarray, voxel) -> np.ndarray:
    return (np.asarray(affine, dtype=np.float64) @ np.append(np.asarray(voxel, dtype=np.float64), 1.0))[:-1]


# ------------------------------------------------------------------------------------------------- the contract
def test_label_names_are_what_monailabel_lists_for_the_click_model():
    meta = json.loads((CONFIGS / "metadata.json").read_text())
    channel_def = meta["network_data_format"]["outputs"]["pred"]["channel_def"]
    # the deepedit task keeps background; names lower-cased; the clicks arrive keyed by these names
    monailabel_labels = {v.lower(): int(k) for k, v in channel_def.items()}
    infer = ConfigParser()
    infer.read_config([str(CONFIGS / "inference.yaml"), str(DEEPEDIT / "inference.yaml")])
    assert infer.get_parsed_content("label_names") == monailabel_labels == BRAIN_LABELS
    # training derives the same order from the dataset's names
    train = ConfigParser()
    train.read_config([str(CONFIGS / "train.yaml"), str(DEEPEDIT / "train.yaml")])
    train["class_names"] = ["csf", "gray_matter", "white_matter"]
    assert train.get_parsed_content("label_names") == BRAIN_LABELS


def test_the_base_preprocessing_steps_the_override_widens_are_still_there():
    """deepedit/inference.yaml replaces preprocessing steps 1 and 6 of inference.yaml by wider ones: they must
    still be the channel-first step right after loading and the final typing step."""
    base = bare_parser(CONFIGS / "inference.yaml", CONFIGS.parent, {})
    steps = base.get_parsed_content("preprocessing", instantiate=True).transforms
    assert isinstance(steps[0], LoadImaged) and isinstance(steps[1], EnsureChannelFirstd)
    assert isinstance(steps[-1], EnsureTyped) and len(steps) == 7
    merged = ConfigParser()
    merged.read_config([str(CONFIGS / "inference.yaml"), str(DEEPEDIT / "inference.yaml")])
    widened = [type(t) for t in merged.get_parsed_content("preprocessing", instantiate=True).transforms]
    # the timed Compose flattens the two widened steps into one list of stages: loading, channel-first and the clicks
    # read in the file's grid, the base steps 2-5 unchanged, then the clicks moved into the network's grid as
    # guidance channels and the final typing step
    base = [type(t) for t in steps]
    assert widened[:4] == [*base[:2], CheckClicksd, AddGuidanceFromPointsDeepEditd], widened
    assert widened[4:8] == base[2:6], widened
    assert widened[8:] == [GuidanceToGridd, AddGuidanceSignalDeepEditd, EnsureTyped], widened


@pytest.mark.parametrize("network", ["unet", "u2net"])
def test_a_click_lands_where_the_user_placed_it_in_an_anisotropic_lps_image(tmp_path, monailabel_cases, network):
    """The guidance channel of a label peaks at the clicked voxel's world position, through reorientation and
    resampling (22x18x15 LPS voxels of 1.5 x 2 x 3 mm -> 2 mm RAS)."""
    overrides = TINY_INFER_3D if network == "unet" else {"roi_size": [16, 16, 16], "progress": False}
    bundle = deepedit_bundle(tmp_path / f"{network}_deepedit", network, overrides=overrides)
    case = monailabel_cases["lps"]
    source = nib.load(case["image"])
    click = [5, 12, 9]
    data = preprocessed(bundle, case["image"], {"gray_matter": [click], "background": []}, overrides)
    image = data["image"]
    assert image.shape[0] == 1 + len(BRAIN_LABELS)
    channels = {name: image[1 + index] for name, index in BRAIN_LABELS.items()}
    for name in ("background", "csf", "white_matter"):
        assert float(channels[name].abs().max()) == 0.0, f"{name} has no clicks: its channel must stay zero"
    peak = np.unravel_index(int(torch.argmax(channels["gray_matter"])), channels["gray_matter"].shape)
    distance = np.linalg.norm(world(image.affine, peak) - world(source.affine, click))
    assert distance <= np.sqrt(3) * 1.0 + 1e-3, f"click moved by {distance:.2f} mm"


def test_the_automatic_model_ignores_clicks_and_both_answer_in_the_input_geometry(tmp_path, monailabel_cases):
    bundle = deepedit_bundle(tmp_path / "unet_deepedit", overrides=TINY_INFER_3D)
    case = monailabel_cases["lps"]
    source = nib.load(case["image"])
    clicks = {"csf": [[11, 9, 7]], "white_matter": [[3, 3, 3], [10, 10, 10]]}
    seg_overrides = {**TINY_INFER_3D, "use_click": False}  # what MONAI Label sets for "<name>_seg"
    automatic, affine = monailabel_infer(bundle, case["image"], overrides=seg_overrides, request=clicks)
    no_clicks, _ = monailabel_infer(bundle, case["image"], overrides={**TINY_INFER_3D, "use_click": True})
    clicked, _ = monailabel_infer(bundle, case["image"], overrides={**TINY_INFER_3D, "use_click": True}, request=clicks)
    assert automatic.shape == clicked.shape == source.shape
    assert np.allclose(affine, source.affine, atol=1e-5)
    np.testing.assert_array_equal(automatic, no_clicks)
    seg_input = preprocessed(bundle, case["image"], clicks, seg_overrides)["image"]
    click_input = preprocessed(bundle, case["image"], clicks, {**TINY_INFER_3D, "use_click": True})["image"]
    assert float(seg_input[1:].abs().max()) == 0.0 and float(click_input[1:].max()) == pytest.approx(1.0)
    torch.testing.assert_close(seg_input[:1], click_input[:1])


# ------------------------------------------------------------------------------------------ bad clicks, no crash
def test_a_click_outside_the_image_is_ignored_with_a_warning(tmp_path, monailabel_cases):
    bundle = deepedit_bundle(tmp_path / "unet_deepedit", overrides=TINY_INFER_3D)
    case = monailabel_cases["lps"]  # 22 x 18 x 15 voxels
    with pytest.warns(RuntimeWarning, match=r"ignored 2 click\(s\) for label 'csf' outside the image"):
        data = preprocessed(bundle, case["image"], {"csf": [[22, 0, 0], [-1, 3, 3], [4, 4, 4]]}, TINY_INFER_3D)
    assert data["guidance"]["csf"] and len(data["guidance"]["csf"]) == 1
    with pytest.warns(RuntimeWarning, match="outside the image"):
        labels, _ = monailabel_infer(bundle, case["image"], overrides=TINY_INFER_3D, request={"csf": [[99, 99, 99]]})
    assert labels.shape == (22, 18, 15)


def test_an_unknown_label_is_ignored_with_a_warning_and_an_empty_list_is_no_click(tmp_path, monailabel_cases):
    bundle = deepedit_bundle(tmp_path / "unet_deepedit", overrides=TINY_INFER_3D)
    case = monailabel_cases["lps"]
    with pytest.warns(RuntimeWarning, match="ignored clicks for 'tumour'.*the bundle's labels are"):
        data = preprocessed(bundle, case["image"], {"tumour": [[3, 4, 5]], "csf": []}, TINY_INFER_3D)
    assert float(data["image"][1:].abs().max()) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # an empty click list or JSON text is not worth a warning
        data = preprocessed(bundle, case["image"], {"csf": [], "gray_matter": "[[4, 4, 4]]"}, TINY_INFER_3D)
    assert float(data["image"][1 + BRAIN_LABELS["gray_matter"]].max()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "clicks, problem",
    [
        ({"csf": [[1, 2]]}, "voxel points of a 3D image"),
        ({"csf": [["a", 2, 3]]}, "numeric points"),
        ({"csf": 7}, "must be a list of points"),
        ({"csf": "[[1, 2"}, "not JSON"),
        ({"gray_matter": [[1, 2, float("nan")]]}, "voxel points"),
    ],
)
def test_malformed_clicks_are_refused_naming_the_label(tmp_path, monailabel_cases, clicks, problem):
    bundle = deepedit_bundle(tmp_path / "unet_deepedit", overrides=TINY_INFER_3D)
    label = next(iter(clicks))
    # the ClickError itself, or MONAI's "applying transform ..." RuntimeError raised from it: the request fails with it
    with pytest.raises((ClickError, RuntimeError)) as raised:
        preprocessed(bundle, monailabel_cases["lps"]["image"], clicks, TINY_INFER_3D)
    cause = raised.value
    while cause is not None and not isinstance(cause, ClickError):
        cause = cause.__cause__
    assert cause is not None, f"no ClickError behind {raised.value!r}"
    assert re.search(rf"clicks for label '{label}' on .*lps.nii.gz.*{problem}", str(cause)), str(cause)


# ------------------------------------------------------------- training with clicks: UNet and U2-Net, 3D and 2D
@pytest.fixture(scope="module")
def nuclei_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("nuclei") / "nuclei2d"
    subprocess.run(
        [sys.executable, "-m", "monai_unet_bundle.data", "nuclei2d", "--out", str(out)], check=True, cwd=REPO
    )
    return out


NUCLEI_LABELS = {"background": 0, "nucleus": 1}
COMBINATIONS = {"unet_3d": ("unet", 3), "u2net_3d": ("u2net", 3), "unet_2d": ("unet", 2), "u2net_2d": ("u2net", 2)}


@pytest.mark.slow
@pytest.mark.parametrize("combination", list(COMBINATIONS))
def test_trains_with_simulated_clicks_and_the_model_serves_clicks(
    tmp_path, combination, monailabel_cases, synthetic_dir, nuclei_dir
):
    """One MONAI Label-style training epoch (datalist items image + label, models/model.pt loaded first) through
    MONAI's runner with the Interaction loop, then a click request on the rewritten model."""
    network, dims = COMBINATIONS[combination]
    bundle = tmp_path / f"{combination}_deepedit"
    tiny = {"network_def#features": [4, 8, 16, 32]} if network == "unet" else {}
    if dims == 3:
        # one patch per batch: U2-Net's coarsest BatchNorm needs more than one voxel there (48 -> 2 after 5 pools)
        roi = [16, 16, 16] if network == "unet" else [48, 48, 48]
        train_extra = {**tiny, "roi_size": roi, "epoch_length": 2, "max_interactions": 1, "cache_rate": 0.0}
        infer_extra = {**tiny, "roi_size": roi, "sw_batch_size": 1, "progress": False}
        items = [{"image": str(synthetic_dir / "imagesTr" / f"sphere_00{i}.nii.gz")} for i in range(4)]
        for item in items:
            item["label"] = item["image"].replace("imagesTr", "labelsTr")
        deepedit_bundle(bundle, network, overrides=infer_extra)
        image, request = monailabel_cases["lps"]["image"], {"csf": [[11, 9, 7]], "background": [[1, 1, 1]]}
    else:
        # a 2D bundle on the nuclei images (MONAI Label sends image + label only: no nuclei2d.yaml instance maps)
        common = {
            "spatial_dims": 2,
            "num_classes": 2,
            "pixdim": [1.0, 1.0],
            "roi_size": [64, 64],
            "class_ratios": [1, 1],
        }
        train_extra = {**tiny, **common, "epoch_length": 3, "cache_rate": 0.0, "label_names": NUCLEI_LABELS}
        infer_extra = {**tiny, **common, "sw_batch_size": 1, "progress": False, "label_names": NUCLEI_LABELS}
        items = [
            {"image": str(nuclei_dir / "imagesTr" / f"nuclei_{s}.nii.gz")} for s in ("train", "val", "train", "val")
        ]
        for item in items:
            item["label"] = item["image"].replace("imagesTr", "labelsTr")
        deepedit_bundle(bundle, network, overrides=infer_extra)
        image, request = items[1]["image"], {"nucleus": [[40, 60]], "background": [[5, 5]]}
    # U2-Net: no validation items (a clicked sliding window over whole images is the slow part on a CPU);
    # models/model.pt is then the final network (FinalModelFallback)
    val = [] if network == "u2net" else items[3:]
    overrides = monailabel_train_overrides(bundle, items[:3], val, max_epochs=1)
    before = (bundle / "models" / "model.pt").stat().st_mtime_ns
    bundle_run(
        run_id="run",
        init_id=None,
        final_id=None,
        meta_file=str(bundle / "configs" / "metadata.json"),
        config_file=str(bundle / "configs" / "train.json"),
        **overrides,
        **train_extra,
    )
    model_file = bundle / "models" / "model.pt"
    assert model_file.stat().st_mtime_ns != before, "models/model.pt was not rewritten"
    labels, _ = monailabel_infer(bundle, image, overrides={**infer_extra, "use_click": True}, request=request)
    source_shape = nib.load(image).shape
    assert labels.squeeze().shape == tuple(source_shape)
    data = preprocessed(bundle, image, request, {**infer_extra, "use_click": True})
    assert data["image"].shape[0] == 1 + (4 if dims == 3 else 2)
    for name in request:
        assert float(data["image"][1 + (BRAIN_LABELS if dims == 3 else NUCLEI_LABELS)[name]].max()) > 0.99
