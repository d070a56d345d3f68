"""PNG encoding and overlays decode back to the pixels written."""

from __future__ import annotations

import os
import stat
import struct
import zlib

import numpy as np
import pytest
from monai_unet_bundle.visualize import overlay_panel, save_overlay, write_png


def _decode(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, payload = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + payload)
        chunks[kind] = chunks.get(kind, b"") + payload
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    channels = {0: 1, 2: 3}[colour]
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + width * channels)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, channels).squeeze()


def test_round_trip(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    grey = rgb[..., 0].copy()
    assert np.array_equal(_decode(write_png(tmp_path / "rgb.png", rgb)), rgb)
    assert np.array_equal(_decode(write_png(tmp_path / "grey.png", grey)), grey)
    with pytest.raises(ValueError, match="uint8"):
        write_png(tmp_path / "bad.png", rgb.astype(np.float32))


def test_overlay_colours_labels_only():
    image = np.linspace(0, 1, 12, dtype=np.float32).reshape(4, 3)
    label = np.zeros((4, 3), np.uint8)
    label[1, 2] = 2
    panel = overlay_panel(image, [label], gap=2)
    assert panel.shape == (3, 4 + 2 + 4, 3)
    left, right = panel[:, :4], panel[:, 6:]
    # x=1, y=2 sits in column 1 of the top row (y is drawn upwards)
    changed = np.argwhere((left != right).any(axis=-1))
    assert changed.tolist() == [[0, 1]]


def test_save_overlay_middle_slice(tmp_path):
    volume = np.random.default_rng(1).normal(size=(6, 5, 4)).astype(np.float32)
    label = (volume > 0).astype(np.uint8)
    path = save_overlay(tmp_path / "o.png", volume, [label, label], scale=2)
    assert _decode(path).shape == (5 * 2, (6 * 3 + 4 * 2) * 2, 3)


def test_written_png_has_ordinary_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        path = write_png(tmp_path / "a.png", np.zeros((4, 5), np.uint8))
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]
