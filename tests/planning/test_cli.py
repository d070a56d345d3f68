"""`python -m monai_unet_bundle plan` end to end: the real timing probe, plan.yaml and fingerprint.json on disk, and
plan.yaml merged after train.yaml, evaluate.yaml and inference.yaml through `python -m monai.bundle run`."""

from __future__ import annotations

import json
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import yaml
from tests.conftest import REPO, write_nifti
from tests.planning.conftest import write_msd


def _run(*command: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.mark.slow
def test_plan_then_train_evaluate_and_infer_with_the_plan(tmp_path):
    dataset = write_msd(tmp_path / "aniso", [(0.5, 0.5, 5.0)] * 3, (48, 40, 8))
    printed = _run("-m", "monai_unet_bundle", "plan", "--dataset_dir", str(dataset), "--time_budget_min", "1",
                   "--no-progress").stdout  # fmt: skip
    for line in ("spacing (pixdim)", "patch (roi_size)", "network", "intensity", "schedule", "why:"):
        assert line in printed
    plan = yaml.safe_load((dataset / "plan.yaml").read_text())
    fingerprint = json.loads((dataset / "fingerprint.json").read_text())
    assert fingerprint["spacings"] == [[0.5, 0.5, 5.0]] * 2
    assert plan["pixdim"] == [0.5, 0.5, 5.0] and plan["network_def"]["pool_sizes"][0] == [2, 2, 1]
    assert plan["class_names"] == ["organ_1", "organ_2"] and plan["num_classes"] == 3
    assert plan["max_epochs"] >= 1 and plan["scale_intensity"]["_target_"] == "NormalizeIntensityd"
    assert not list(dataset.glob(".*.tmp"))  # written whole, no temporary left

    plan_file, bundle = str(dataset / "plan.yaml"), str(tmp_path / "bundle")
    short = ["--max_epochs", "1", "--epoch_length", "1", "--val_interval", "1", "--cache_rate", "0.0"]
    _run("-m", "monai.bundle", "run", "--config_file", f"['configs/train.yaml','{plan_file}']",
         "--bundle_root", bundle, *short)  # fmt: skip
    assert (tmp_path / "bundle" / "models" / "model.pt").is_file()
    _run("-m", "monai.bundle", "run", "--config_file",
         f"['configs/train.yaml','configs/evaluate.yaml','{plan_file}']", "--bundle_root", bundle)  # fmt: skip
    metrics = (tmp_path / "bundle" / "eval" / "evaluation" / "metrics.csv").read_text()
    assert "val_class_dice/organ_1" in metrics
    out = tmp_path / "segmented"
    _run("-m", "monai.bundle", "run", "--config_file", f"['configs/inference.yaml','{plan_file}']",
         "--bundle_root", bundle, "--dataset_dir", str(dataset / "imagesTr"), "--output_dir", str(out))  # fmt: skip
    for image in sorted((dataset / "imagesTr").glob("*.nii.gz")):
        seg = nib.load(out / image.name.replace(".nii.gz", "_seg.nii.gz"))
        assert seg.shape == nib.load(image).shape and np.allclose(seg.affine, nib.load(image).affine)


def test_plan_cli_names_the_bad_case(tmp_path):
    dataset = write_msd(tmp_path / "bad", [(1.0, 1.0, 1.0)] * 3, (16, 16, 8))
    write_nifti(dataset / "labelsTr" / "case_0.nii.gz", np.zeros((16, 16, 8), np.uint8), np.eye(4))
    result = subprocess.run(
        [sys.executable, "-m", "monai_unet_bundle", "plan", "--dataset_dir", str(dataset), "--no-progress"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1
    assert "case 'case_0'" in result.stderr and "no foreground" in result.stderr
    assert not (dataset / "plan.yaml").exists()


def test_the_timing_probe_trains_in_the_layout_training_uses():
    # channels-last where train.yaml's `auto` puts it (CPU bf16); forced on and off it must still time real steps
    import torch
    from monai_unet_bundle.networks import UNet
    from monai_unet_bundle.planning.timing import seconds_per_step

    for setting in ("auto", True, False):
        torch.manual_seed(0)
        net = UNet(3, 1, 2, features=(4, 8))
        seconds = seconds_per_step(net, (8, 16, 16), 1, steps=1, warmup=0, channels_last=setting)
        assert 0.0 < seconds < 60.0
        # a weight with several input channels (with one, both layouts have the same strides)
        weight = next(w for w in net.parameters() if w.dim() == 5 and w.shape[1] > 1 and w.shape[2] > 1)
        channels_last = weight.is_contiguous(memory_format=torch.channels_last_3d) and not weight.is_contiguous()
        assert channels_last == (setting is True or (setting == "auto" and _runs_bf16()))


def _runs_bf16() -> bool:
    import torch
    from monai_unet_bundle.engines.autocast import autocast_dtype

    return autocast_dtype("cpu", True) == torch.bfloat16
