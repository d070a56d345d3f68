"""bench_end_to_end's bookkeeping: which configs fit the weights, and how stages group on both sides."""

import torch
from benchmarks.bench_end_to_end import _config, grouped, matching_configs


def test_weights_are_paired_with_the_config_whose_network_takes_them(tmp_path):
    fitting = tmp_path / "default.pt"
    torch.save(_config([]).get_parsed_content("network_def", instantiate=True).state_dict(), fitting)
    assert matching_configs(str(fitting), []) == []
    other = tmp_path / "other.pt"
    torch.save(torch.nn.Conv3d(1, 2, 3).state_dict(), other)
    assert matching_configs(str(other), []) is None  # then the benchmark says so and uses random weights
    assert matching_configs(str(tmp_path / "missing.pt"), []) is None
    assert matching_configs(str(fitting), ["plan.yaml"]) == ["plan.yaml"]  # given configs are the user's word


def test_both_pipelines_stages_fall_into_the_issues_stages():
    ours = {"MemoryCheckedLoadImaged": 1.0, "Orientationd": 2.0, "NormalizeIntensityd": 3.0, "windows": 4.0}
    ours |= {"stitching": 5.0, "InvertToInputd": 6.0, "SavePredictiond": 7.0}
    monai = {"LoadImaged": 1.0, "Spacingd": 2.0, "scaling": 3.0, "sliding_window_inference": 9.0}
    monai |= {"Activationsd(softmax)": 1.0, "Invertd": 2.0, "AsDiscreted(argmax)": 3.0, "SaveImaged": 7.0}
    expected = [1.0, 2.0, 3.0, 9.0, 6.0, 7.0]
    assert list(grouped(ours).values()) == expected == list(grouped(monai).values())
    assert list(grouped(ours)) == ["read", "orientation + resampling", "scaling", "windows + stitching"] + [
        "inversion + argmax",
        "write",
    ]
