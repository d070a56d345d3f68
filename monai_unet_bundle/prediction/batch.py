"""Batch inference that survives bad inputs: sharding, skipping finished cases, per-file failures, a summary.

``configs/inference.yaml`` wires it around MONAI's ``SupervisedEvaluator`` through public hooks only: the
``dataset`` (:class:`PredictionDataset`: this process's shard, minus finished cases, unreadable inputs reported and
skipped), the writer at the end of the ``postprocessing`` (``SavePredictiond``: reports each written case, and a
failed write as that file's failure) and the ``report`` (:class:`BatchReport`, also a handler that releases each
finished volume; ``finish()`` prints the summary and exits with status 1 when any file failed).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from monai.transforms import apply_transform
from monai_unet_bundle.prediction.output import PredictionOutput
from monai_unet_bundle.prediction.sitk_reader import NOT_MINE
from monai_unet_bundle.prediction.stage_times import StageTimes
from torch.utils.data import IterableDataset

__all__ = ["BatchReport", "PredictionDataset", "describe_error", "process_shard"]

logger = logging.getLogger(__name__)


def process_shard() -> tuple[int, int]:
    """(rank, world size) of this process under torchrun (``RANK`` / ``WORLD_SIZE``); (0, 1) otherwise."""
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"RANK={rank} and WORLD_SIZE={world} do not describe a process of a group")
    return rank, world


#: the last line of a traceback MONAI's LoadImage appends per reader it tried: ``module.Error: message``
_TRACEBACK_END = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Warning)\b.*")


def describe_error(error: BaseException) -> str:
    """The innermost cause of ``error`` as ``Type: message``, on one line (MONAI wraps errors in transforms).

    For MONAI's "cannot find a suitable reader" the reason is the error of the first reader that tried the file.
    """
    root = error
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root)
    if "cannot find a suitable reader" in text:
        failures = [line for line in text.splitlines() if _TRACEBACK_END.match(line) and NOT_MINE not in line]
        if failures:
            return f"cannot read the image: {failures[0]}"
    lines = [line.strip() for line in str(root).splitlines() if line.strip()]
    if not lines:
        return type(root).__name__
    # MONAI's "cannot find a suitable reader/writer" messages end with the failing library's own last line
    detail = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return f"{type(root).__name__}: {detail}"


class BatchReport:
    """Counts of done, skipped and failed inputs of this process; prints the summary and sets the exit status.

    ``times`` (:class:`~monai_unet_bundle.prediction.stage_times.StageTimes`) collects the seconds per stage that
    the config routes to it (pre- and postprocessing transforms, the inferer's windows and stitching); the summary
    ends with them.

    Args:
        name: label of the summary line.
        stream: where the summary goes (stdout by default).
        qc_threshold: cases whose QC confidence is below this are listed first, least confident first.
    """

    def __init__(self, name: str = "inference", stream: Any = None, qc_threshold: float | None = None) -> None:
        self.name = name
        self.stream = stream
        self.qc_threshold = qc_threshold
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.confidence: dict[str, float] = {}
        self.times = StageTimes()

    def add_quality(self, source: str, confidence: float) -> None:
        """A case's confidence (``QualityReportd``): those below ``qc_threshold`` head the summary."""
        self.confidence[source] = float(confidence)

    def add_done(self, source: str) -> None:
        self.done.append(source)

    def add_skipped(self, source: str, output: Path) -> None:
        logger.info("skipping %s: %s exists (--overwrite to redo)", source, output)
        self.skipped.append(source)

    def add_failed(self, source: str, reason: str | BaseException) -> None:
        """A failed input; one counted as done before (its QC report failed after the write) is done no more."""
        if isinstance(reason, BaseException):
            reason = describe_error(reason)
        logger.error("FAILED %s: %s", source, reason)
        if source in self.done:
            self.done.remove(source)
        self.failed.append((source, reason))

    def has_failed(self, source: str) -> bool:
        """Whether ``source`` was reported as failed (its later outputs are then not written)."""
        return any(failed == source for failed, _ in self.failed)

    def attach(self, engine: Engine) -> None:
        """Drop each finished volume from the engine before the next one loads (bounded memory)."""
        engine.add_event_handler(Events.ITERATION_COMPLETED, self._release)

    @staticmethod
    def _release(engine: Engine) -> None:
        engine.state.batch = engine.state.output = None

    def summary(self) -> str:
        rank, world = process_shard()
        where = f" [rank {rank}/{world}]" if world > 1 else ""
        return (
            f"{self.name}{where}: {len(self.done)} done, {len(self.skipped)} skipped (output exists), "
            f"{len(self.failed)} failed"
        )

    def finish(self) -> None:
        """Print the summary and the failures; exit with status 1 (``SystemExit``) when any input failed."""
        stream = self.stream or sys.stdout
        lines = [self.summary()]
        if self.qc_threshold is not None:
            low = sorted((c, s) for s, c in self.confidence.items() if c < self.qc_threshold)
            lines += [f"  low confidence ({c:.3f} < {self.qc_threshold}): {s}" for c, s in low]
        lines += [f"  failed: {source}: {reason}" for source, reason in self.failed]
        lines += [f"  {self.times.summary()}"] if self.times.summary() else []
        print("\n".join(lines), file=stream, flush=True)
        if self.failed:
            raise SystemExit(1)


class PredictionDataset(IterableDataset):
    """The inputs this process predicts, preprocessed one at a time: its shard, minus finished cases.

    Args:
        data: items ``{"image": path, ...}`` identical on every process, or a function returning them (called on
            first use: reading the config's properties needs no data).
        transform: the preprocessing.
        output_dir: where the outputs go; an input whose output exists (``output.done``) is skipped unless
            ``overwrite``.
        output: the output contract (default: NIfTI ``<case>_seg.nii.gz``).
        overwrite: predict again even where the output exists.
        report: the :class:`BatchReport` told about skipped and failed cases.
        shard: take only this process's share (``items[rank::world_size]``) under torchrun.

    An input whose transform raises is reported as failed and skipped. ``data`` holds the pending items; there is no
    length (the epoch ends when they run out). Iterate in the main process (``num_workers=0``), where the report is.
    """

    def __init__(
        self,
        data: Sequence[dict] | Callable[[], Sequence[dict]],
        transform: Callable | None,
        output_dir: str | Path,
        output: PredictionOutput | None = None,
        overwrite: bool = False,
        report: BatchReport | None = None,
        shard: bool = True,
    ) -> None:
        self._data = data
        self.transform = transform
        self.output_dir = output_dir
        self.output = output or PredictionOutput()
        self.overwrite = overwrite
        self.report = report if report is not None else BatchReport()
        self.shard = shard

    @cached_property
    def data(self) -> list[dict]:
        """The items this process will predict (listed, sharded and checked against the outputs on first use)."""
        items = [dict(item) for item in (self._data() if callable(self._data) else self._data)]
        rank, world = process_shard() if self.shard else (0, 1)
        pending = []  # shard before skipping: the shares never depend on what the others have written so far
        for item in items[rank::world]:
            if self.output.done(item["image"], self.output_dir) and not self.overwrite:
                self.report.add_skipped(str(item["image"]), self.output.path(item["image"], self.output_dir))
            else:
                pending.append(item)
        return pending

    def __iter__(self) -> Any:
        for item in self.data:
            try:
                yield item if self.transform is None else apply_transform(self.transform, item)
            except Exception as error:  # one unreadable file must not stop the batch
                source = Path(item["image"])
                self.report.add_failed(str(source), "no such file" if not source.exists() else describe_error(error))
