"""The demo's promise: on any CPU its mean Dice reaches the README's floor, which no published demo figure undercuts."""

from __future__ import annotations

import re
from pathlib import Path

from monai_unet_bundle.demo import readme_dice_floor

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_states_a_floor_below_every_demo_figure_it_publishes():
    floor = readme_dice_floor(README)
    text = README.read_text()
    table_mean = float(re.search(r"^\| Dice \(`make demo`[^|]*\|(.*)\|\s*$", text, re.M).group(1).split("|")[-1])
    planned_means = [float(m) for m in re.findall(r"mean \**([0-9]\.[0-9]{3})", text[: text.index("## Using")])]
    assert floor is not None and 0.5 < floor < 1.0
    assert planned_means, "the README quotes the planned demo's mean"
    assert all(floor <= mean for mean in [table_mean, *planned_means]), (floor, table_mean, planned_means)


def test_every_demo_figure_names_its_cpu_and_bf16_unit():
    demo_section = README.read_text().split("## Using")[0]  # the Xeon table, the EPYC run, the fp32 EPYC
    assert len(re.findall(r"\d cores, bf16: (?:AMX|AVX512-BF16|none)", demo_section)) >= 3


def test_without_the_checkouts_readme_there_is_no_floor(tmp_path):
    assert readme_dice_floor(tmp_path / "README.md") is None
    (tmp_path / "README.md").write_text("no floor here")
    assert readme_dice_floor(tmp_path / "README.md") is None
