"""Training-curve PNGs from real TensorBoard event files, with the built-in plotter (no matplotlib needed)."""

import struct
import zlib

import numpy as np
import pytest
from monai_unet_bundle.visualize.curves import plot_curves, read_scalars
from torch.utils.tensorboard import SummaryWriter


def _decode_rgb(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        if data[pos + 4 : pos + 8] == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + 3 * width)
    return rows[:, 1:].reshape(height, width, 3)


def _log(folder, values, tag="train_loss"):
    writer = SummaryWriter(str(folder))
    for step, value in enumerate(values, 1):
        writer.add_scalar(tag, value, step)
    writer.close()


def test_read_scalars_merges_the_event_files_of_a_folder(tmp_path):
    _log(tmp_path, [1.0, 0.5, 0.25])
    _log(tmp_path, [0.7, 0.8], tag="val_mean_dice")  # a second file, as the evaluator writes
    scalars = read_scalars(tmp_path)
    assert scalars["train_loss"] == [(1, 1.0), (2, 0.5), (3, 0.25)]
    assert [v for _, v in scalars["val_mean_dice"]] == pytest.approx([0.7, 0.8])


def test_read_scalars_without_event_files_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        read_scalars(tmp_path)


def test_builtin_plot_draws_each_run_in_its_own_colour(tmp_path):
    runs = {"a": {"train_loss": [(1, 1.0), (2, 0.5), (3, 0.2)]}, "b": {"train_loss": [(1, 0.9), (3, 0.8)]}}
    path = plot_curves(tmp_path / "curves.png", runs, ["train_loss", "val_mean_dice"], backend="builtin")
    pixels = _decode_rgb(path)
    assert pixels.shape[0] == 240 and pixels.shape[1] > 2 * 420
    colours = {tuple(c) for c in pixels.reshape(-1, 3)}
    assert (230, 25, 75) in colours and (60, 180, 75) in colours  # the first two LABEL_COLOURS
    left, right = pixels[:, :420], pixels[:, 428:]
    assert (left == (230, 25, 75)).all(-1).sum() > 100  # a line, not just the legend swatch
    assert not (right == (230, 25, 75)).all(-1).any()  # val_mean_dice: no data, no lines


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="backend"):
        plot_curves(tmp_path / "x.png", {"a": {}}, ["train_loss"], backend="svg")
