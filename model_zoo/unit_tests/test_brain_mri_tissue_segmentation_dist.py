"""Model-zoo multi-process unit test (the zoo's pattern): train, then evaluate, with torchrun and 2 processes.

Without CUDA the bundle's multi_gpu configs use gloo on the CPU, so this runs on the zoo's CPU runners too.
"""

import os
import shutil
import tempfile
import unittest

import torch
from parameterized import parameterized
from test_brain_mri_tissue_segmentation import BUNDLE, TRAIN_EVAL, write_msd_folder
from utils import export_config_and_run_mgpu_cmd


class TestBrainMRITissueSegmentationMGPU(unittest.TestCase):
    def setUp(self):
        self.dataset_dir = tempfile.mkdtemp()
        self.output_dir = tempfile.mkdtemp()
        write_msd_folder(self.dataset_dir, num_cases=10)  # 2 validation cases: one per process

    def tearDown(self):
        shutil.rmtree(self.dataset_dir)
        shutil.rmtree(self.output_dir)

    @parameterized.expand([TRAIN_EVAL])
    def test_train_mgpu_config(self, override):
        override = {**override, "dataset_dir": self.dataset_dir, "output_dir": self.output_dir}
        override["ckpt_dir"] = os.path.join(self.output_dir, "models")
        configs = os.path.join(BUNDLE, "configs")
        processes = max(torch.cuda.device_count(), 2)
        common = dict(
            logging_file=os.path.join(configs, "logging.conf"),
            meta_file=os.path.join(configs, "metadata.json"),
            override_dict=override,
            ngpu=processes,
        )
        export_config_and_run_mgpu_cmd(
            config_file=[os.path.join(configs, "train.yaml"), os.path.join(configs, "multi_gpu_train.yaml")],
            output_path=os.path.join(configs, "train_override.json"),
            **common,
        )
        self.assertTrue(os.path.isfile(os.path.join(self.output_dir, "models", "model.pt")))
        export_config_and_run_mgpu_cmd(
            config_file=[
                os.path.join(configs, "train.yaml"),
                os.path.join(configs, "evaluate.yaml"),
                os.path.join(configs, "multi_gpu_evaluate.yaml"),
            ],
            output_path=os.path.join(configs, "eval_override.json"),
            check_config=True,
            **common,
        )


if __name__ == "__main__":
    unittest.main()
