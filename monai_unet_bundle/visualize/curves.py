"""Training curves as PNG, from a run's TensorBoard event files: matplotlib when installed, else a built-in plotter.

The bundle's training writes ``train_loss`` (per iteration) and the validation metrics (``val_mean_dice``,
``val_pairs_separated``, ... per epoch) to TensorBoard event files in ``output_dir``. :func:`read_scalars` reads
them (tensorboard is a dependency of the package); :func:`plot_curves` draws one panel per metric, one line per run.
matplotlib (the ``plot`` extra) gives labelled axes; without it a small raster plotter draws the lines, axes, tick
values and an upper-case legend with a 3 x 5 pixel font and writes the picture with the package's PNG writer.

Example::

    runs = {"weight map": read_scalars("outputs/a/eval"), "no weight map": read_scalars("outputs/b/eval")}
    plot_curves("curves.png", runs, ["train_loss", "val_mean_dice"])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .overlay import LABEL_COLOURS
from .png import write_png

Series = list[tuple[int, float]]

__all__ = ["plot_curves", "read_scalars"]


def read_scalars(log_dir: str | Path) -> dict[str, Series]:
    """``{tag: [(step, value), ...]}`` from every event file in ``log_dir`` (sorted by step; later writes win)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(Path(log_dir).glob("events.out.tfevents.*"))
    if not files:
        raise FileNotFoundError(f"no TensorBoard event files (events.out.tfevents.*) in {log_dir}")
    scalars: dict[str, dict[int, float]] = {}
    # one accumulator per file: the trainer and the evaluator write separate files into the same folder
    for file in files:
        accumulator = EventAccumulator(str(file), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars.setdefault(tag, {}).update({e.step: float(e.value) for e in accumulator.Scalars(tag)})
    return {tag: sorted(values.items()) for tag, values in scalars.items()}


# --- the built-in plotter ---------------------------------------------------------------------------------------
# 3 x 5 glyphs, rows top to bottom
_GLYPHS = {
    "A": "010101111101101",
    "B": "110101110101110",
    "C": "011100100100011",
    "D": "110101101101110",
    "E": "111100110100111",
    "F": "111100110100100",
    "G": "011100101101011",
    "H": "101101111101101",
    "I": "111010010010111",
    "J": "001001001101010",
    "K": "101101110101101",
    "L": "100100100100111",
    "M": "101111111101101",
    "N": "110101101101101",
    "O": "010101101101010",
    "P": "110101110100100",
    "Q": "010101101110011",
    "R": "110101110101101",
    "S": "011100010001110",
    "T": "111010010010010",
    "U": "101101101101111",
    "V": "101101101101010",
    "W": "101101111111101",
    "X": "101101010101101",
    "Y": "101101010010010",
    "Z": "111001010100111",
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "110001010100111",
    "3": "110001010001110",
    "4": "101101111001001",
    "5": "111100110001110",
    "6": "011100111101111",
    "7": "111001010010010",
    "8": "111101111101111",
    "9": "111101111001110",
    ".": "000000000000010",
    "-": "000000111000000",
    "_": "000000000000111",
    "/": "001001010100100",
    "(": "010100100100010",
    ")": "010001001001010",
    "=": "000111000111000",
    ",": "000000000010100",
    " ": "000000000000000",
}


def _text(canvas: np.ndarray, text: str, row: int, col: int, colour, scale: int = 2) -> int:
    """Draw ``text`` (upper-cased; unknown characters as blanks) with its top-left at (row, col); return its end."""
    for char in text.upper():
        glyph = np.array([int(b) for b in _GLYPHS.get(char, _GLYPHS[" "])], bool).reshape(5, 3)
        glyph = np.repeat(np.repeat(glyph, scale, 0), scale, 1)
        r0, c0 = max(row, 0), max(col, 0)
        r1, c1 = min(row + glyph.shape[0], canvas.shape[0]), min(col + glyph.shape[1], canvas.shape[1])
        if r1 > r0 and c1 > c0:
            region = canvas[r0:r1, c0:c1]
            region[glyph[r0 - row : r1 - row, c0 - col : c1 - col]] = colour
        col += 4 * scale
    return col


def _line(canvas: np.ndarray, points: np.ndarray, colour, width: int = 2) -> None:
    """A polyline through ``points`` (N, 2) of (row, col), drawn by dense sampling."""
    for (r0, c0), (r1, c1) in zip(points[:-1], points[1:]):
        n = int(max(abs(r1 - r0), abs(c1 - c0))) + 1
        rows = np.rint(np.linspace(r0, r1, n)).astype(int)
        cols = np.rint(np.linspace(c0, c1, n)).astype(int)
        for dr in range(width):
            for dc in range(width):
                rr, cc = np.clip(rows + dr, 0, canvas.shape[0] - 1), np.clip(cols + dc, 0, canvas.shape[1] - 1)
                canvas[rr, cc] = colour


def _nice(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _panel(title: str, runs: Mapping[str, Series], colours, height: int = 240, width: int = 420) -> np.ndarray:
    canvas = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 56, 12, 40, 26
    plot_h, plot_w = height - top - bottom, width - left - right
    _text(canvas, title, 6, left, (0, 0, 0))
    points = [p for series in runs.values() for p in series]
    if not points:
        _text(canvas, "NO DATA", top + plot_h // 2, left + 10, (120, 120, 120))
        return canvas
    steps = np.array([p[0] for p in points], float)
    values = np.array([p[1] for p in points], float)
    x0, x1 = steps.min(), max(steps.max(), steps.min() + 1)
    y0, y1 = values.min(), values.max()
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5
    pad = 0.05 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    grey = (200, 200, 200)
    for frac in (0.0, 0.5, 1.0):  # horizontal grid and y ticks
        row = top + int(round((1 - frac) * plot_h))
        canvas[row, left : left + plot_w] = grey
        _text(canvas, _nice(y0 + frac * (y1 - y0)), row - 5, 2, (0, 0, 0))
    for frac in (0.0, 0.5, 1.0):
        col = left + int(round(frac * plot_w))
        canvas[top : top + plot_h, col] = grey
        label = _nice(x0 + frac * (x1 - x0))
        _text(canvas, label, top + plot_h + 6, min(col - 4 * len(label), width - 8 * len(label)), (0, 0, 0))
    canvas[top : top + plot_h + 1, left] = 0
    canvas[top + plot_h, left : left + plot_w] = 0
    legend_col = left
    for (name, series), colour in zip(runs.items(), colours):
        if series:
            xy = np.array(series, float)
            rows = top + (1 - (xy[:, 1] - y0) / (y1 - y0)) * plot_h
            cols = left + (xy[:, 0] - x0) / (x1 - x0) * plot_w
            _line(canvas, np.stack([rows, cols], 1), colour)
            if len(xy) == 1:
                r, c = int(rows[0]), int(cols[0])
                canvas[max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3] = colour
        canvas[24:30, legend_col : legend_col + 10] = colour
        legend_col = _text(canvas, name, 24, legend_col + 14, colour) + 10
    return canvas


def _plot_builtin(path: Path, runs: Mapping[str, Mapping[str, Series]], tags: Sequence[str]) -> Path:
    colours = [tuple(int(v) for v in c) for c in LABEL_COLOURS[1:]]
    panels = [_panel(tag, {name: scalars.get(tag, []) for name, scalars in runs.items()}, colours) for tag in tags]
    gap = np.full((panels[0].shape[0], 8, 3), 255, np.uint8)
    row = np.concatenate([piece for p in panels for piece in (p, gap)][:-1], axis=1)
    return write_png(path, row)


def _x_label(tag: str) -> str:
    if tag.startswith("train"):
        return "iteration"
    return "clicks" if tag.endswith("by_clicks") else "epoch"


def _plot_matplotlib(path: Path, runs: Mapping[str, Mapping[str, Series]], tags: Sequence[str]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(tags), figsize=(4.2 * len(tags), 3.0), squeeze=False)
    for axis, tag in zip(axes[0], tags):
        for name, scalars in runs.items():
            series = scalars.get(tag, [])
            if series:
                steps, values = zip(*series)
                axis.plot(steps, values, marker="o" if len(series) < 20 else None, label=name)
        axis.set_title(tag)
        axis.set_xlabel(_x_label(tag))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    figure.savefig(tmp, dpi=80)
    plt.close(figure)
    tmp.replace(path)
    return path


def plot_curves(
    path: str | Path, runs: Mapping[str, Mapping[str, Series]], tags: Sequence[str], backend: str = "auto"
) -> Path:
    """Write one panel per tag in ``tags``, one line per run in ``runs`` (``{run name: read_scalars(...)}``).

    Args:
        path: the PNG to write (atomically).
        runs: per run, ``{tag: [(step, value), ...]}``; a tag a run lacks is left out of that panel.
        tags: the scalars to draw, e.g. ``["train_loss", "val_mean_dice"]``; x is the step the writer logged
            (iterations for ``train_loss``, epochs for validation metrics).
        backend: "matplotlib", "builtin" or "auto" (matplotlib when importable).
    """
    path = Path(path)
    if not tags:
        raise ValueError("plot_curves needs at least one tag to draw.")
    if backend == "auto":
        try:
            import matplotlib  # noqa: F401

            backend = "matplotlib"
        except ImportError:
            backend = "builtin"
    if backend == "matplotlib":
        return _plot_matplotlib(path, runs, tags)
    if backend == "builtin":
        return _plot_builtin(path, runs, tags)
    raise ValueError(f"backend must be 'auto', 'matplotlib' or 'builtin', got {backend!r}")
