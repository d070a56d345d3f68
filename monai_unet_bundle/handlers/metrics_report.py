"""MONAI's ``MetricsSaver`` with the classes named in the CSV columns and every file replaced atomically.

``monai.handlers.utils.write_metrics_reports`` can name the class columns (``class_labels``) but ``MetricsSaver``
does not pass them, so the per-case CSVs read ``class0, class1, ...``. This subclass passes ``class_labels`` and
writes the reports into a temporary folder first (named and cleaned up as
:mod:`monai_unet_bundle.atomic_write` does), then moves each file into place, so a killed evaluation never leaves a
half-written CSV. Files (as MONAI writes them):

- ``metrics.csv``: one ``name,value`` line per scalar metric of the run;
- ``<metric>_raw.csv``: one row per case, ``filename,<class 1>,...,<class n>,mean``;
- ``<metric>_summary.csv``: per class (and ``mean``) the summary operations over the cases.

Example::

    validate#handlers:
      - _target_: monai_unet_bundle.handlers.ClassNamedMetricsSaver
        save_dir: "@eval_dir"
        metric_details: [val_class_dice, val_hd95]
        class_labels: [csf, gray_matter, white_matter]
        batch_transform: "$lambda batch: [item['image'].meta for item in batch]"
        summary_ops: "*"
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import ignite.distributed as idist
from ignite.engine import Engine
from monai.handlers import MetricsSaver
from monai.handlers.utils import write_metrics_reports
from monai.utils import string_list_all_gather
from monai_unet_bundle.atomic_write import remove_abandoned_temporaries, temporary_path

__all__ = ["ClassNamedMetricsSaver"]


class ClassNamedMetricsSaver(MetricsSaver):
    """``MetricsSaver`` plus ``class_labels`` (column names of the per-class values) and atomic file writes.

    Args:
        save_dir: output folder.
        metrics: scalar metrics for ``metrics.csv`` ("*" = all; non-scalar values are left out).
        metric_details: metrics whose per-case values (``engine.state.metric_details``) are written.
        batch_transform: maps ``engine.state.batch`` to a list of meta dicts (for the ``filename`` column).
        summary_ops: as ``MetricsSaver`` ("*" = mean, median, max, min, 90percentile, std, notnans).
        class_labels: names of the class channels of the per-case values; ``None`` keeps ``class0, ...``.
        save_rank, delimiter: as ``MetricsSaver``.
    """

    def __init__(
        self,
        save_dir: str,
        metrics: str | Sequence[str] | None = "*",
        metric_details: str | Sequence[str] | None = None,
        batch_transform: Callable = lambda x: x,
        summary_ops: str | Sequence[str] | None = None,
        class_labels: Sequence[str] | None = None,
        save_rank: int = 0,
        delimiter: str = ",",
    ) -> None:
        super().__init__(
            save_dir=save_dir,
            metrics=metrics,
            metric_details=metric_details,
            batch_transform=batch_transform,
            summary_ops=summary_ops,
            save_rank=save_rank,
            delimiter=delimiter,
        )
        self.class_labels = None if class_labels is None else [str(c) for c in class_labels]

    def _selected(self, values: dict, wanted: tuple | None) -> dict:
        if wanted is None:
            return {}
        return {k: v for k, v in values.items() if "*" in wanted or k in wanted}

    def __call__(self, engine: Engine) -> None:
        world_size = idist.get_world_size()
        if self.save_rank >= world_size:
            raise ValueError(f"save_rank {self.save_rank} is not below the world size {world_size}")
        # every rank takes part in the gather; only save_rank writes
        images = string_list_all_gather(strings=self._filenames) if world_size > 1 else self._filenames
        if idist.get_rank() != self.save_rank:
            return
        metrics = {k: v for k, v in self._selected(engine.state.metrics, self.metrics).items() if _is_scalar(v)}
        details = self._selected(getattr(engine.state, "metric_details", {}), self.metric_details)
        if self.class_labels is not None:
            for name, values in details.items():
                channels = values.shape[1] if values.ndim == 2 else 1
                if channels != len(self.class_labels):
                    raise ValueError(
                        f"per-case metric '{name}' has {channels} class values, class_labels are {self.class_labels}"
                    )
        save_dir = Path(self.save_dir)
        remove_abandoned_temporaries(save_dir)
        staging = temporary_path(save_dir / "metrics")  # a folder under atomic_write's temporary name and clean-up
        staging.mkdir(parents=True)
        try:
            write_metrics_reports(
                save_dir=staging,
                images=list(images) or None,
                metrics=metrics,
                metric_details=details,
                summary_ops=self.summary_ops,
                deli=self.deli,
                output_type=self.output_type,
                class_labels=self.class_labels,
            )
            for written in staging.iterdir():
                os.replace(written, save_dir / written.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _is_scalar(value: object) -> bool:
    shape = getattr(value, "shape", ())
    return len(shape) == 0 or all(s == 1 for s in shape)
