"""Inferers that MONAI lacks."""

from monai_unet_bundle.inferers.overlap_tile import OverlapTileInferer

__all__ = ["OverlapTileInferer"]
