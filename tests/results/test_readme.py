"""The README's results and benchmark tables are the runs' own files, copied between markers."""

from __future__ import annotations

import shutil

import pytest

from monai_unet_bundle.results.readme import RESULTS_HEADER, replace_block, update_readme
from tests.conftest import REPO


def test_replace_block_rewrites_only_between_its_markers():
    text = "intro\n<!-- t:begin -->\nold\n<!-- t:end -->\noutro\n"
    expected = "intro\n<!-- t:begin -->\nnew 1\nnew 2\n<!-- t:end -->\noutro\n"
    assert replace_block(text, "t", "new 1\nnew 2\n") == expected
    with pytest.raises(ValueError, match="README has no '<!-- other:begin -->'"):
        replace_block(text, "other", "x")


def test_update_readme_copies_the_task_rows_and_the_benchmark_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results:begin -->\n<!-- results:end -->\ntext\n<!-- benchmarks:begin -->\nold\n"
                      "<!-- benchmarks:end -->\n")
    results = tmp_path / "results"
    results.mkdir()
    (results / "nuclei2d.md").write_text("| nuclei2d | n | m | 1 | `c` | here | 2026-01-01 |\n")
    (results / "brain3d.md").write_text("| brain3d | b | m | 2 | `c` | here | 2026-01-01 |\n")
    (results / "benchmarks.md").write_text("| benchmark | ours | baseline | ratio |\n|---|---|---|---|\n"
                                           "| a | 1 | 2 | 0.5 |\n")
    update_readme(readme, results)
    text = readme.read_text()
    assert f"<!-- results:begin -->\n{RESULTS_HEADER}\n| brain3d |" in text
    assert text.index("| brain3d |") < text.index("| nuclei2d |") < text.index("text")
    assert "| a | 1 | 2 | 0.5 |\n<!-- benchmarks:end -->" in text and "old" not in text


def test_the_committed_readme_quotes_the_committed_result_files(tmp_path):
    copy = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", copy)
    update_readme(copy, REPO / "docs" / "results")
    assert copy.read_text() == (REPO / "README.md").read_text(), (
        "README.md's tables differ from docs/results/*.md: run python -m monai_unet_bundle.results.readme")
