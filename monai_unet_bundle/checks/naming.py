"""The source file of an array, for messages: MONAI keeps it in ``meta["filename_or_obj"]``."""

from __future__ import annotations

from typing import Any

__all__ = ["source_name"]


def source_name(data: Any, fallback: str = "<array without a file name>") -> str:
    """``filename_or_obj`` of a MetaTensor (the first, for a collated batch), else ``fallback``."""
    meta = getattr(data, "meta", None) or {}
    name = meta.get("filename_or_obj")
    if isinstance(name, (list, tuple)):
        name = name[0] if name else None
    return str(name) if name else fallback
