"""Pictures written by the runs themselves: label overlays as PNG (no plotting library needed)."""

from .overlay import LABEL_COLOURS, overlay_panel, save_overlay
from .png import write_png

__all__ = ["LABEL_COLOURS", "overlay_panel", "save_overlay", "write_png"]
