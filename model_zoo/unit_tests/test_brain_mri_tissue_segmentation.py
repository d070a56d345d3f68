"""Model-zoo unit test of the bundle (the zoo's pattern): train, train + evaluate and infer through ConfigWorkflow.

Copied into the zoo's ``ci/unit_tests/`` by ``model_zoo/premerge.sh`` and run there by ``ci/unit_tests/runner.py
--b brain_mri_tissue_segmentation`` from the zoo root, with the bundle at ``models/brain_mri_tissue_segmentation``.
Inference uses ``models/model.pt`` as the zoo's CI downloads it (``large_files.yml``); ``make weights`` makes it.
"""

import os
import shutil
import tempfile
import unittest

import nibabel as nib
import numpy as np
from monai.bundle import ConfigWorkflow
from parameterized import parameterized
from utils import check_workflow

BUNDLE = "models/brain_mri_tissue_segmentation"

TRAIN_EVAL = [
    {
        "bundle_root": BUNDLE,
        "max_epochs": 1,
        "epoch_length": 2,
        "val_interval": 1,
        "roi_size": [16, 16, 16],
        "num_samples": 2,
        "cache_rate": 0.0,
        "network_def#features": [4, 8, 16, 32],
    }
]

INFER = [{"bundle_root": BUNDLE, "sw_batch_size": 1}]


def test_order(test_name1, test_name2):
    def get_order(name):
        return 1 if "train" in name else 2 if "eval" in name else 3 if "infer" in name else 4

    return get_order(test_name1) - get_order(test_name2)


def write_msd_folder(root, num_cases=4, shape=(32, 32, 32), num_classes=4):
    """An MSD-style folder (imagesTr/, labelsTr/ paired by name) of random T1-like volumes and 4-class labels."""
    rng = np.random.default_rng(0)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    for folder in ("imagesTr", "labelsTr"):
        os.makedirs(os.path.join(root, folder), exist_ok=True)
    for case in range(num_cases):
        label = rng.integers(0, num_classes, size=shape).astype(np.uint8)
        image = (label * 40.0 + rng.normal(0, 10, size=shape)).astype(np.float32)
        nib.save(nib.Nifti1Image(image, affine), os.path.join(root, "imagesTr", f"case_{case}.nii.gz"))
        nib.save(nib.Nifti1Image(label, affine), os.path.join(root, "labelsTr", f"case_{case}.nii.gz"))


class TestBrainMRITissueSegmentation(unittest.TestCase):
    def setUp(self):
        self.dataset_dir = tempfile.mkdtemp()
        self.output_dir = tempfile.mkdtemp()
        write_msd_folder(self.dataset_dir)

    def tearDown(self):
        shutil.rmtree(self.dataset_dir)
        shutil.rmtree(self.output_dir)

    def _workflow(self, workflow_type, config_files, override):
        bundle_root = override["bundle_root"]
        return ConfigWorkflow(
            workflow_type=workflow_type,
            config_file=[os.path.join(bundle_root, "configs", name) for name in config_files],
            logging_file=os.path.join(bundle_root, "configs/logging.conf"),
            meta_file=os.path.join(bundle_root, "configs/metadata.json"),
            **override,
        )

    @parameterized.expand([TRAIN_EVAL])
    def test_train_eval_config(self, override):
        # the weights this test trains go to a scratch folder: models/model.pt stays the released network
        override = {**override, "dataset_dir": self.dataset_dir, "output_dir": self.output_dir}
        override["ckpt_dir"] = os.path.join(self.output_dir, "models")
        check_workflow(self._workflow("train", ["train.yaml"], override), check_properties=True)
        # evaluate.yaml overrides train.yaml, so the workflow type stays "train"
        check_workflow(self._workflow("train", ["train.yaml", "evaluate.yaml"], override), check_properties=True)

    @parameterized.expand([INFER])
    def test_infer_config(self, override):
        images = os.path.join(self.dataset_dir, "imagesTr")
        override = {**override, "dataset_dir": images, "output_dir": self.output_dir}
        check_workflow(self._workflow("infer", ["inference.yaml"], override), check_properties=True)
        written = sorted(os.listdir(self.output_dir))
        # each segmentation with its QC report (inference.yaml's qc_report is on by default)
        expected = sorted(f"case_{case}_{suffix}" for case in range(4) for suffix in ("qc.json", "seg.nii.gz"))
        self.assertEqual(written, expected)


if __name__ == "__main__":
    loader = unittest.TestLoader()
    loader.sortTestMethodsUsing = test_order
    unittest.main(testLoader=loader)
