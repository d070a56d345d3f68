"""What a result run or benchmark publishes: its JSON record and the README table rows, written whole."""

from __future__ import annotations

import json
from pathlib import Path

from monai_unet_bundle.atomic_write import atomic_write
from results.machine import machine_summary


def save_json(path: str | Path, record: dict) -> Path:
    """Write ``record`` as indented JSON (folders created; the file replaced whole, never left half-written)."""
    with atomic_write(path) as partial:
        partial.write_text(json.dumps(record, indent=4) + "\n")
    return Path(path)


def table_row(task: str, network: str, metric: str, value: str, command: str, machine: dict) -> str:
    """One row of the README results table: task | network | metric | value | command | machine | date."""
    where = f"{machine_summary(machine)}, load {machine['load_average_1min']}"
    return f"| {task} | {network} | {metric} | {value} | `{command}` | {where} | {machine['date_utc'][:10]} |"


def publish(
    results_dir: str | Path, task: str, record: dict, rows: list[str], documents: bool = False
) -> tuple[Path, Path]:
    """``<results_dir>/<task>.json`` and ``<task>.md`` (the table rows); the rows are printed too.

    With ``documents`` the rows are also copied into the tables of README.md and docs/results.md
    (:func:`results.tables.publish_tables`), but only when ``results_dir`` is the repository's docs/results.
    """
    results_dir = Path(results_dir)
    json_path = save_json(results_dir / f"{task}.json", record)
    md_path = results_dir / f"{task}.md"
    md_path.write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    print(f"wrote {json_path}, {md_path}")
    if documents:
        from .tables import publish_tables

        updated = publish_tables(results_dir)
        if updated:
            print("updated the tables of " + ", ".join(map(str, updated)))
        else:
            print(f"README.md and docs/results.md left alone: {results_dir} is not the repository's docs/results")
    return json_path, md_path
