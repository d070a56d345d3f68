"""Batch inference that survives bad inputs: sharding, skipping finished cases, per-file failures, a summary.

Three parts, wired together by ``configs/inference.yaml`` around MONAI's ``SupervisedEvaluator``:

- :class:`PredictionDataset` (the config's ``dataset``): takes this process's shard of the datalist (``RANK`` /
  ``WORLD_SIZE`` from torchrun), drops cases whose output exists (unless ``overwrite``), and turns an input that
  cannot be loaded or preprocessed into a failure item instead of an exception.
- :class:`PredictionIteration` (the evaluator's ``iteration_update``): runs MONAI's own iteration (network,
  postprocessing, writing) and records a failure -- file and reason -- instead of stopping the run.
- :class:`BatchReport` (the config's ``report``): counts done / skipped / failed; ``finish()`` prints the one-line
  summary and the failures, and exits with status 1 when any file failed.

Example (what the config does)::

    report = BatchReport()
    dataset = PredictionDataset(items, preprocessing, output_dir="out", report=report)
    evaluator = SupervisedEvaluator(..., DataLoader(dataset), iteration_update=PredictionIteration(report))
    evaluator.run(); report.finish()
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from monai.data import Dataset
from monai_unet_bundle.data.datalist import case_name
from monai_unet_bundle.inference.atomic_writer import remove_abandoned_temporaries
from monai_unet_bundle.inference.sitk_reader import NOT_MINE

__all__ = ["BatchReport", "PredictionDataset", "PredictionIteration", "describe_error", "process_shard"]

logger = logging.getLogger(__name__)

#: key of the item a failed load turns into; its value is the reason
ERROR_KEY = "load_error"
SOURCE_KEY = "source_path"


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

    Args:
        name: label of the summary line.
        stream: where the summary goes (stdout by default).
    """

    def __init__(self, name: str = "inference", stream: Any = None) -> None:
        self.name = name
        self.stream = stream
        self.done: list[str] = []
        self.skipped: list[str] = []
        self.failed: list[tuple[str, str]] = []

    def add_done(self, source: str) -> None:
        self.done.append(source)

    def add_skipped(self, source: str, output: Path) -> None:
        logger.info("skipping %s: %s exists (--overwrite to redo)", source, output)
        self.skipped.append(source)

    def add_failed(self, source: str, reason: str) -> None:
        logger.error("FAILED %s: %s", source, reason)
        self.failed.append((source, reason))

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
        lines = [self.summary()] + [f"  failed: {source}: {reason}" for source, reason in self.failed]
        print("\n".join(lines), file=stream, flush=True)
        if self.failed:
            raise SystemExit(1)


class PredictionDataset(Dataset):
    """The inputs this process predicts: its shard, minus finished cases; load failures become failure items.

    Args:
        data: items ``{"image": path, ...}`` (e.g. ``inference_datalist(...)``), identical on every process.
        transform: the preprocessing.
        output_dir / output_postfix / output_ext: where ``SaveImaged`` writes ``<name>_<postfix><ext>``; an input
            whose output exists is skipped unless ``overwrite``.
        overwrite: predict again even where the output exists.
        report: the :class:`BatchReport` told about skipped cases.
        shard: take only this process's share (``items[rank::world_size]``) under torchrun.

    An item whose transform raises is returned as ``{"source_path": path, "load_error": reason}``. Temporary files
    that killed writers left in ``output_dir`` are deleted (:func:`remove_abandoned_temporaries`).
    """

    def __init__(
        self,
        data: Sequence[dict],
        transform: Callable | None,
        output_dir: str | Path,
        output_postfix: str = "seg",
        output_ext: str = ".nii.gz",
        overwrite: bool = False,
        report: BatchReport | None = None,
        shard: bool = True,
    ) -> None:
        items = [dict(item) for item in data]
        rank, world = process_shard() if shard else (0, 1)
        # shard before skipping: every process sees the same list, whatever the others have written so far
        items = items[rank::world]
        self.report = report if report is not None else BatchReport()
        self.output_dir = Path(output_dir)
        remove_abandoned_temporaries(self.output_dir)
        keep = []
        for item in items:
            output = self.output_dir / f"{case_name(item['image'])}_{output_postfix}{output_ext}"
            if output.exists() and not overwrite:
                self.report.add_skipped(str(item["image"]), output)
            else:
                keep.append(item)
        super().__init__(keep, transform)

    def _transform(self, index: int) -> Any:
        try:
            return super()._transform(index)
        except Exception as error:  # one unreadable file must not stop the batch
            source = Path(self.data[index]["image"])
            reason = "no such file" if not source.exists() else describe_error(error)
            return {SOURCE_KEY: str(source), ERROR_KEY: reason}


def _source_of(batchdata: Any) -> str:
    if isinstance(batchdata, dict):
        if SOURCE_KEY in batchdata:
            value = batchdata[SOURCE_KEY]
            return str(value[0] if isinstance(value, (list, tuple)) else value)
        image = batchdata.get("image")
        meta = getattr(image, "meta", {})
        source = meta.get("filename_or_obj")
        if source is not None:
            return str(source[0] if isinstance(source, (list, tuple)) else source)
    return "<unknown input>"


class PredictionIteration:
    """An evaluator ``iteration_update``: MONAI's iteration per input, a recorded failure instead of a crash.

    Args:
        report: the :class:`BatchReport` told about each done and failed input.
    """

    def __init__(self, report: BatchReport) -> None:
        self.report = report

    def __call__(self, engine: Any, batchdata: Any) -> Any:
        source = _source_of(batchdata)
        if isinstance(batchdata, dict) and ERROR_KEY in batchdata:
            reason = batchdata[ERROR_KEY]
            self.report.add_failed(source, str(reason[0] if isinstance(reason, (list, tuple)) else reason))
            return {}
        try:
            output = engine._iteration(engine, batchdata)
        except Exception as error:
            self.report.add_failed(source, describe_error(error))
            return {}
        finally:
            # the next volume should not load while this one's image is still referenced
            engine.state.batch = None
        self.report.add_done(source)
        if isinstance(output, list):  # decollated items: keep what handlers may log, drop the large tensors
            return [{k: v for k, v in item.items() if k != "image"} for item in output]
        return output
