"""Copy the runs' own tables into README.md and docs/results.md, between markers: no number is quoted by hand.

    python -m results.tables     # also run at the end of every result run and of make bench

In each document (:data:`DOCUMENTS`), two blocks are replaced where present:

- ``<!-- results:begin -->`` ... ``<!-- results:end -->``: the header and the rows of ``docs/results/<task>.md``
  for each task in :data:`TASKS` that has been run (task, network, metric, value, command, machine, date);
- ``<!-- benchmarks:begin -->`` ... ``<!-- benchmarks:end -->``: ``docs/results/benchmarks.md``, the table and
  machine line ``python -m benchmarks`` wrote.

Everything outside the markers is left as it is. README.md must have both blocks: a missing one is an error, not a
silent no-op.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TASKS = ("brain3d", "nuclei2d", "planned", "vs_nnunet", "interactive", "calibration")
RESULTS_HEADER = "| task | network | metric | value | command | machine | date |\n|---|---|---|---|---|---|---|"

#: the documents that quote the tables, relative to the repository
DOCUMENTS = ("README.md", "docs/results.md")

__all__ = ["DOCUMENTS", "RESULTS_HEADER", "TASKS", "publish_tables", "replace_block", "results_table", "update_tables"]


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
        raise ValueError(f"no '{begin}' ... '{end}' block to write the {name} table into")
    return text[: start + len(begin)] + "\n" + content.strip() + "\n" + text[stop:]


def update_tables(document: str | Path, results_dir: str | Path, required: bool = True) -> Path:
    """Rewrite the results and benchmark blocks of ``document`` from the files in ``results_dir``; return its path.

    With ``required=False`` a block the document does not have is skipped instead of raising ``ValueError``.
    """
    document, results_dir = Path(document), Path(results_dir)
    text = document.read_text()
    blocks = {"results": results_table(results_dir)}
    if (results_dir / "benchmarks.md").is_file():
        blocks["benchmarks"] = (results_dir / "benchmarks.md").read_text()
    for name, content in blocks.items():
        if required or f"<!-- {name}:begin -->" in text:
            text = replace_block(text, name, content)
    tmp = document.with_name(f".{document.name}.tmp")
    tmp.write_text(text)
    tmp.replace(document)
    return document


def publish_tables(results_dir: str | Path = REPO / "docs" / "results", root: str | Path = REPO) -> list[Path]:
    """:func:`update_tables` on each of :data:`DOCUMENTS` under ``root`` that exists (README.md must).

    The documents quote ``root/docs/results`` only: any other ``results_dir`` (a run's scratch ``--docs-dir``)
    leaves them alone and nothing is returned, so a trial run cannot replace README's table with its own rows.
    """
    root = Path(root)
    if Path(results_dir).resolve() != (root / "docs" / "results").resolve():
        return []
    return [
        update_tables(root / name, results_dir, required=name == "README.md")
        for name in DOCUMENTS
        if name == "README.md" or (root / name).is_file()
    ]


if __name__ == "__main__":
    print("updated " + ", ".join(str(path) for path in publish_tables()))
    sys.exit(0)
