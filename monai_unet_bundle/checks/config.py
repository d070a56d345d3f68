"""Check the task ids of a bundle config before anything is built from them.

Command-line overrides arrive through ``fire`` as whatever Python literal they parse to: ``--num_classes four``
is the string ``"four"``, and MONAI's error for it surfaces from inside the network's constructor as ``TypeError:
not all arguments converted during string formatting``; a misspelt ``network_def#_target_`` fails only after the
datasets are cached. :func:`check_bundle_config` runs first in ``initialize`` and names the id, what was expected
and what was found. :func:`check_metadata_channels` compares ``configs/metadata.json`` (what MONAI Label and the
model zoo read) with the network's channels.

Example (``configs/train.yaml``)::

    config_check:
      _target_: monai_unet_bundle.checks.check_bundle_config
      network_target: "%network_def#_target_"
      spatial_dims: "@spatial_dims"
      in_channels: "@in_channels"
      num_classes: "@num_classes"
      roi_size: "@roi_size"
      pixdim: "@pixdim"
    initialize:
      - "@config_check"
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from pathlib import Path
from typing import Any

from monai.utils import optional_import

from .errors import InputCheckError

__all__ = ["ConfigCheckError", "check_bundle_config", "check_metadata_channels", "known_networks"]


class ConfigCheckError(InputCheckError):
    """A config id of the wrong type or value, an unknown network, or metadata that disagrees with the network."""


def known_networks() -> list[str]:
    """The network classes a ``network_def#_target_`` can name without a module path, and this package's."""
    import monai.networks.nets as nets
    from monai_unet_bundle import networks

    ours = [f"monai_unet_bundle.networks.{name}" for name in networks.__all__]
    return ours + sorted(n for n in dir(nets) if n[:1].isupper() and isinstance(getattr(nets, n), type))


def _axes(name: str, value: Any, spatial_dims: int) -> None:
    axes = isinstance(value, Sequence) and not isinstance(value, str)
    axes = axes and all(isinstance(a, Integral) and not isinstance(a, bool) and 0 <= a < spatial_dims for a in value)
    if not (axes and len(set(value)) == len(value)):
        raise ConfigCheckError(
            f"config id '{name}': expected a list of distinct spatial axes in 0..{spatial_dims - 1} (0: left-right in "
            f'RAS; [] for none), found {_describe(value)}; on the command line write e.g. --{name} "[0]"'
        )


def _check_network(target: Any) -> None:
    if not isinstance(target, str):
        return  # a class object or an expression: MONAI instantiates it or reports it
    module, _, name = target.rpartition(".")
    found = optional_import(module, name=name)[1] if module else optional_import("monai.networks.nets", name=name)[1]
    if found:
        return
    close = difflib.get_close_matches(target, known_networks(), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise ConfigCheckError(
        f"network_def#_target_: unknown network '{target}': expected an importable class, e.g. "
        f"monai_unet_bundle.networks.UNet, monai_unet_bundle.networks.U2Net (configs/u2net.yaml) or a MONAI "
        f"network name such as BasicUNet{hint}"
    )


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _integer(name: str, value: Any, minimum: int, allowed: Sequence[int] | None = None) -> None:
    ok = isinstance(value, Integral) and not isinstance(value, bool) and value >= minimum
    if ok and (allowed is None or value in allowed):
        return
    expected = f"one of {list(allowed)}" if allowed else f"an integer >= {minimum}"
    raise ConfigCheckError(f"config id '{name}': expected {expected}, found {_describe(value)}")


def _sequence(name: str, value: Any, length: int, kind: type, minimum: float, longer: bool = False) -> None:
    if isinstance(value, kind) and not isinstance(value, bool) and value >= minimum:
        return  # one value for every axis, as MONAI's transforms take it
    numbers = isinstance(value, Sequence) and not isinstance(value, str)
    numbers = numbers and (len(value) >= length if longer else len(value) == length)
    numbers = numbers and all(isinstance(v, kind) and not isinstance(v, bool) and v >= minimum for v in value)
    if not numbers:
        what = "integers" if kind is Integral else "numbers"
        raise ConfigCheckError(
            f"config id '{name}': expected {length} {what} >= {minimum:g} (one per spatial axis, or one for all), "
            f'found {_describe(value)}; on the command line write e.g. --{name} "[{", ".join(["16"] * length)}]"'
        )


def check_bundle_config(
    network_target: Any = None,
    spatial_dims: Any = 3,
    in_channels: Any = 1,
    num_classes: Any = 2,
    roi_size: Any = None,
    pixdim: Any = None,
    mirror_axes: Any = None,
    tta_axes: Any = None,
    **numbers: Any,
) -> None:
    """Raise :class:`ConfigCheckError` for the first id of the wrong type or value (see the module docstring).

    Args:
        network_target: ``network_def#_target_`` (the raw string, through a ``%`` macro).
        spatial_dims / in_channels / num_classes: integers (2 or 3; >= 1; >= 2).
        roi_size / pixdim: ``spatial_dims`` positive integers / numbers (None: not checked).
        mirror_axes / tta_axes: a list of distinct spatial axes, each in ``[0, spatial_dims)`` (None: not checked;
            for ``tta_axes``, all axes).
        numbers: further ids that must be positive numbers, e.g. ``lr``, ``max_epochs``.
    """
    _integer("spatial_dims", spatial_dims, 2, allowed=(2, 3))
    _integer("in_channels", in_channels, 1)
    _integer("num_classes", num_classes, 2)
    if roi_size is not None:
        _sequence("roi_size", roi_size, spatial_dims, Integral, 1)
    if pixdim is not None:
        # MONAI's Spacing uses the first spatial_dims entries (a 2D override may keep the 3D default)
        _sequence("pixdim", pixdim, spatial_dims, Real, 1e-9, longer=True)
    for name, axes in (("mirror_axes", mirror_axes), ("tta_axes", tta_axes)):
        if axes is not None:
            _axes(name, axes, spatial_dims)
    for name, value in numbers.items():
        if isinstance(value, bool) or not isinstance(value, Real) or not value > 0:
            raise ConfigCheckError(f"config id '{name}': expected a positive number, found {_describe(value)}")
    _check_network(network_target)


def check_metadata_channels(
    metadata: Mapping[str, Any] | str | os.PathLike,
    in_channels: int,
    out_channels: int,
    image_key: str = "image",
    pred_key: str = "pred",
) -> None:
    """Raise :class:`ConfigCheckError` if ``network_data_format`` channels differ from the network's.

    Args:
        metadata: the parsed ``metadata.json`` or its path.
        in_channels / out_channels: the network's (``network_def#in_channels`` / ``#out_channels``).
        image_key / pred_key: the input and output entries of ``network_data_format``.
    """
    source = "metadata"
    if not isinstance(metadata, Mapping):
        source = str(metadata)
        metadata = json.loads(Path(metadata).read_text())
    data_format = metadata.get("network_data_format", {})
    pairs = (("inputs", image_key, in_channels, "in_channels"), ("outputs", pred_key, out_channels, "out_channels"))
    for side, key, network_value, network_name in pairs:
        entry = data_format.get(side, {}).get(key)
        if entry is None:
            raise ConfigCheckError(f"{source}: network_data_format#{side}#{key} is missing")
        declared = entry.get("num_channels")
        channel_def = entry.get("channel_def", {})
        if declared != network_value:
            raise ConfigCheckError(
                f"{source}: network_data_format#{side}#{key}#num_channels is {declared}, but the network has "
                f"{network_name} {network_value}; update metadata.json (and its channel_def) or the network"
            )
        if channel_def and len(channel_def) != network_value:
            raise ConfigCheckError(
                f"{source}: network_data_format#{side}#{key}#channel_def names {len(channel_def)} channels "
                f"{sorted(channel_def.values())}, but the network has {network_name} {network_value}"
            )
