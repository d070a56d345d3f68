"""Names of the foreground classes, for metric names and CSV columns.

Metrics here exclude the background, so a per-class metric has ``num_classes - 1`` values. Their names come from
the config (``class_names``), else from the dataset's MSD ``dataset.json`` ``"labels"``, else ``class_1``, ...
Example::

    >>> foreground_class_names(4, ["background", "csf", "gray_matter", "white_matter"])
    ['csf', 'gray_matter', 'white_matter']
    >>> foreground_class_names(3)
    ['class_1', 'class_2']
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

__all__ = ["foreground_class_names"]


def foreground_class_names(
    num_classes: int, names: Sequence[str] | None = None, dataset_dir: str | os.PathLike | None = None
) -> list[str]:
    """``num_classes - 1`` foreground class names.

    Args:
        num_classes: number of classes including the background.
        names: ``num_classes - 1`` foreground names, or ``num_classes`` names with the background first.
        dataset_dir: used when ``names`` is None: its ``dataset.json`` ``"labels"`` (``{"0": "background", ...}``)
            if that file exists and names exactly ``num_classes`` labels. Nothing is built or required here (MONAI
            Label, for one, trains from its own datalist and never builds ``dataset_dir``); the bundle configs
            resolve the data loaders, which build an embedded dataset, before the handlers that ask for names.

    Raises:
        ValueError: ``names`` has neither ``num_classes - 1`` nor ``num_classes`` entries.
    """
    if names is not None:
        names = [str(n) for n in names]
        if len(names) == num_classes:
            return names[1:]
        if len(names) == num_classes - 1:
            return names
        raise ValueError(
            f"class_names has {len(names)} entries {names}; expected {num_classes - 1} foreground names "
            f"(or {num_classes} with the background first) for num_classes {num_classes}"
        )
    if dataset_dir is not None:
        manifest = Path(dataset_dir) / "dataset.json"
        if manifest.is_file():
            labels = json.loads(manifest.read_text()).get("labels", {})
            keys = [str(i) for i in range(num_classes)]
            if isinstance(labels, dict) and sorted(labels, key=str) == sorted(keys):
                return [str(labels[k]) for k in keys[1:]]
    return [f"class_{i}" for i in range(1, num_classes)]
