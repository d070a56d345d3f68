"""Copy the runs' own tables into README.md, between markers, so the README never quotes a number by hand.

    python -m monai_unet_bundle.results.readme     # also run at the end of every result run and of make bench

Two blocks are replaced:

- ``<!-- results:begin -->`` ... ``<!-- results:end -->``: the header and the rows of ``docs/results/<task>.md``
  for each task in :data:`TASKS` that has been run (task, network, metric, value, command, machine, date);
- ``<!-- benchmarks:begin -->`` ... ``<!-- benchmarks:end -->``: ``docs/results/benchmarks.md``, the table and
  machine line ``python -m benchmarks`` wrote.

Everything outside the markers is left as it is. A README without the markers is an error, not a silent no-op.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TASKS = ("brain3d", "nuclei2d")
RESULTS_HEADER = "| task | network | metric | value | command | machine | date |\n|---|---|---|---|---|---|---|"

__all__ = ["RESULTS_HEADER", "TASKS", "replace_block", "results_table", "update_readme"]


def results_table(results_dir: str | Path) -> str:
    """The README results table: the header, then the rows of each task's ``<task>.md`` that exists."""
    rows = [RESULTS_HEADER]
    for task in TASKS:
        table = Path(results_dir) / f"{task}.md"
        if table.is_file():
            rows.append(table.read_text().strip())
    return "\n".join(rows)


def replace_block(text: str, name: str, content: str) -> str:
    """``text`` with what lies between ``<!-- name:begin -->`` and ``<!-- name:end -->`` replaced by ``content``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"README has no '{begin}' ... '{end}' block to write the {name} table into")
    return text[: start + len(begin)] + "\n" + content.strip() + "\n" + text[stop:]


def update_readme(readme: str | Path = REPO / "README.md", results_dir: str | Path = REPO / "docs" / "results") -> Path:
    """Rewrite the results and benchmark blocks of ``readme`` from the files in ``results_dir``; return its path."""
    readme, results_dir = Path(readme), Path(results_dir)
    text = replace_block(readme.read_text(), "results", results_table(results_dir))
    benchmarks = results_dir / "benchmarks.md"
    if benchmarks.is_file():
        text = replace_block(text, "benchmarks", benchmarks.read_text())
    tmp = readme.with_name(f".{readme.name}.tmp")
    tmp.write_text(text)
    tmp.replace(readme)
    return readme


if __name__ == "__main__":
    print(f"updated {update_readme()}")
    sys.exit(0)
