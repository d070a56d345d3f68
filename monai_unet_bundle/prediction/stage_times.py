"""Where an end-to-end prediction's time goes: seconds per stage, summed over the volumes of a run.

A stage is a transform of the pre- or postprocessing (reading, orientation, resampling, scaling, inversion with its
argmax, QC, writing: each named by its class, ``Lambdad(Spacing)`` by the function it wraps) or a part of the
inferer (``windows``: the network's forward passes; ``stitching``: the rest of the sliding window: cropping,
padding, blending, pasting). ``configs/inference.yaml`` routes them all into the :class:`BatchReport`'s
``times``; its end-of-run summary prints them. Example::

    preprocessing: {_target_: monai_unet_bundle.prediction.TimedCompose, times: "$@report.times", transforms: [...]}
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from monai.transforms import Compose, apply_transform

__all__ = ["StageTimes", "TimedCompose", "stage_name"]


class StageTimes:
    """Seconds per stage (insertion order kept: the pipeline's order) and the number of volumes they cover."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.volumes = 0

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + float(seconds)

    @contextlib.contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Add the time of the ``with`` block to ``stage`` (also when it raises)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - start)

    def summary(self) -> str:
        """``time per stage (N volumes, T s): read 1.2 s (10%), ...``; empty when nothing was timed."""
        total = sum(self.seconds.values())
        if not self.seconds or total <= 0:
            return ""
        parts = [f"{name} {s:.2f} s ({100 * s / total:.0f}%)" for name, s in self.seconds.items()]
        return f"time per stage ({self.volumes} volume(s), {total:.2f} s): " + ", ".join(parts)


def stage_name(transform: Any) -> str:
    """A transform's stage name: its class, ``Lambdad(<function's class or name>)`` for a Lambda."""
    name = type(transform).__name__
    func = getattr(transform, "func", None)
    if isinstance(func, (tuple, list)) and func:  # Lambdad keeps one function per key
        func = func[0]
    if name.startswith("Lambda") and func is not None:
        inner = func if hasattr(func, "__name__") else type(func)
        name += f"({inner.__name__})"
    return name


class TimedCompose(Compose):
    """``monai.transforms.Compose`` that adds each transform's time to ``times`` under :func:`stage_name`.

    Args:
        transforms: as Compose (nested Composes are flattened, so each inner transform is its own stage).
        times: where the seconds go (None: a plain Compose).
        count_volumes: this Compose runs once per volume: count those it completes in ``times.volumes``.
        kwargs: the rest of Compose's arguments (``map_items``, ``unpack_items``, ``log_stats``, ...); not lazy.
    """

    def __init__(
        self, transforms: Any = None, times: StageTimes | None = None, count_volumes: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(transforms, **kwargs)
        self.transforms = self.flatten().transforms
        self.times = times
        self.count_volumes = count_volumes

    def __call__(self, input_: Any, start: int = 0, end: int | None = None, threading: bool = False, **_: Any) -> Any:
        if self.times is None:
            return super().__call__(input_, start=start, end=end, threading=threading)
        for transform in self.transforms[start:end]:
            with self.times.timed(stage_name(transform)):
                input_ = apply_transform(transform, input_, self.map_items, self.unpack_items, log_stats=self.log_stats)
        self.times.volumes += int(self.count_volumes)  # volumes that came through (failed ones' time still counts)
        return input_
