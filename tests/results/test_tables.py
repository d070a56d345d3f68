"""README.md's and docs/results.md's result and benchmark tables are the runs' own files, copied between markers."""

from __future__ import annotations

import shutil

import pytest
from results.publish import publish
from results.tables import DOCUMENTS, RESULTS_HEADER, publish_tables, replace_block, update_tables
from tests.conftest import REPO


def test_replace_block_rewrites_only_between_its_markers():
    text = "intro\n<!-- t:begin -->\nold\n<!-- t:end -->\noutro\n"
    expected = "intro\n<!-- t:begin -->\nnew 1\nnew 2\n<!-- t:end -->\noutro\n"
    assert replace_block(text, "t", "new 1\nnew 2\n") == expected
    with pytest.raises(ValueError, match="no '<!-- other:begin -->'"):
        replace_block(text, "other", "x")


def test_update_tables_copies_the_task_rows_and_the_benchmark_table(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n<!-- results:begin -->\n<!-- results:end -->\ntext\n<!-- benchmarks:begin -->\nold\n"
        "<!-- benchmarks:end -->\n"
    )
    results = tmp_path / "results"
    results.mkdir()
    (results / "nuclei2d.md").write_text("| nuclei2d | n | m | 1 | `c` | here | 2026-01-01 |\n")
    (results / "brain3d.md").write_text("| brain3d | b | m | 2 | `c` | here | 2026-01-01 |\n")
    (results / "benchmarks.md").write_text(
        "| benchmark | ours | baseline | ratio |\n|---|---|---|---|\n| a | 1 | 2 | 0.5 |\n"
    )
    update_tables(readme, results)
    text = readme.read_text()
    assert f"<!-- results:begin -->\n{RESULTS_HEADER}\n| brain3d |" in text
    assert text.index("| brain3d |") < text.index("| nuclei2d |") < text.index("text")
    assert "| a | 1 | 2 | 0.5 |\n<!-- benchmarks:end -->" in text and "old" not in text


def test_a_document_without_a_block_is_left_alone_only_where_allowed(tmp_path):
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "README.md").write_text("<!-- results:begin -->\n<!-- results:end -->\n")
    (tmp_path / "docs" / "results" / "benchmarks.md").write_text("| b |\n")
    with pytest.raises(ValueError, match="benchmarks"):  # README.md must have both blocks
        publish_tables(tmp_path / "docs" / "results", tmp_path)
    (tmp_path / "README.md").write_text(
        "<!-- results:begin -->\n<!-- results:end -->\n<!-- benchmarks:begin -->\n<!-- benchmarks:end -->\n"
    )
    (tmp_path / "docs" / "results.md").write_text("no tables here\n")
    assert publish_tables(tmp_path / "docs" / "results", tmp_path) == [tmp_path / d for d in DOCUMENTS]
    assert (tmp_path / "docs" / "results.md").read_text() == "no tables here\n"
    assert "| b |" in (tmp_path / "README.md").read_text()


@pytest.mark.parametrize("document", DOCUMENTS)
def test_the_committed_documents_quote_the_committed_result_files(tmp_path, document):
    copy = tmp_path / "copy.md"
    shutil.copy(REPO / document, copy)
    update_tables(copy, REPO / "docs" / "results", required=document == "README.md")
    hint = f"{document}'s tables differ from docs/results/*.md: run python -m results.tables"
    assert copy.read_text() == (REPO / document).read_text(), hint


def test_a_scratch_results_dir_leaves_the_documents_alone(tmp_path):
    """A run with a temporary --docs-dir once replaced README's whole table with only its own rows."""
    (tmp_path / "docs" / "results").mkdir(parents=True)
    (tmp_path / "docs" / "results" / "brain3d.md").write_text("| brain3d | kept | m | 1 | `c` | here | 2026-01-01 |\n")
    readme = tmp_path / "README.md"
    readme.write_text(
        "<!-- results:begin -->\n<!-- results:end -->\n<!-- benchmarks:begin -->\n<!-- benchmarks:end -->\n"
    )
    publish_tables(tmp_path / "docs" / "results", tmp_path)
    published = readme.read_text()
    scratch = tmp_path / "scratch" / "results"
    scratch.mkdir(parents=True)
    (scratch / "planned.md").write_text("| planned | trial | m | 2 | `c` | here | 2026-01-01 |\n")
    assert publish_tables(scratch, tmp_path) == []
    assert readme.read_text() == published


def test_publish_with_a_scratch_docs_dir_keeps_the_repository_readme(tmp_path):
    before = {name: (REPO / name).read_text() for name in DOCUMENTS}
    try:
        publish(tmp_path / "results", "planned", {"task": "planned"}, ["| planned | trial | m | 2 |"], documents=True)
        after = {name: (REPO / name).read_text() for name in DOCUMENTS}
    finally:  # the bug this guards against rewrote the checkout's documents: put them back whatever happens
        for name, text in before.items():
            (REPO / name).write_text(text)
    assert after == before
    assert (tmp_path / "results" / "planned.md").read_text() == "| planned | trial | m | 2 |\n"
