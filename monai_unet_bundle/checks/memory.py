"""Refuse a volume that cannot fit in memory before it is read, with the estimated need in the message.

Without this, a huge scan (a whole-body CT at 0.5 mm, a light-sheet stack) is read, resampled and run until the
kernel's OOM killer ends the process: no message, and in a batch run every later file is lost too. The estimate
comes from the file header alone (nibabel's lazy image for NIfTI, SimpleITK's ``ReadImageInformation`` for the
other formats), so the check costs a header read.

The estimate is a lower bound of the whole-volume float32 arrays that sliding-window inference holds at once
(network activations per window come on top):

- the image as read (input grid) and twice at the inference spacing (resampled, then scaled);
- the sliding-window output and its softmax (``num_classes`` channels each) and the overlap count map;
- the uint8 labels in the input grid.

Example::

    >>> check = CheckMemoryd(keys="image", pixdim=[2.0, 2.0, 2.0], in_channels=1, num_classes=4)
    >>> check({"image": "scan.nii.gz"})   # before LoadImaged; raises InsufficientMemoryError when too large

Training caches (``CacheDataset``) are sized the same way, from the headers, before anything is read:
:func:`fit_cache_rate` lowers the config's ``cache_rate`` to what fits, with a warning, instead of letting the
cache fill the memory.

:class:`MemoryCheckedLoadImaged` is ``LoadImaged`` with this check first: a config keeps one loader, which MONAI
Label finds by type (``isinstance(t, LoadImaged)``) and wraps with its own.
"""

from __future__ import annotations

import logging
import math
import os
import stat
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

from monai.config import KeysCollection
from monai.transforms import LoadImaged, MapTransform

from .errors import InputCheckError, UnreadableFileError

__all__ = [
    "CheckMemoryd",
    "InsufficientMemoryError",
    "MemoryCheckedLoadImaged",
    "available_memory",
    "estimate_cache_memory",
    "estimate_inference_memory",
    "fit_cache_rate",
    "read_header",
]

_GIB = 1024**3
logger = logging.getLogger(__name__)


def _size(num_bytes: float) -> str:
    for unit, scale in (("TiB", 1024**4), ("GiB", _GIB), ("MiB", 1024**2)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.1f} {unit}"
    return f"{num_bytes / 1024:.1f} KiB"


class InsufficientMemoryError(InputCheckError):
    """A volume whose estimated memory need exceeds what is available; names the file, the need and the limit."""


def _series_header(path: str | os.PathLike) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Shape and spacing of a DICOM series input from its files' headers.

    Raises:
        DicomSeriesError: the series cannot be read as one volume (named, with the reason). Raised here, before
            loading, because MONAI's LoadImage would hide it behind its other readers' failures.
    """
    import pydicom
    from monai_unet_bundle.dicom import series_info

    series = series_info(path)
    first, last = (pydicom.dcmread(str(f), stop_before_pixels=True) for f in (series.files[0], series.files[-1]))
    count = len(series.files)
    extent = math.dist([float(v) for v in last.ImagePositionPatient], [float(v) for v in first.ImagePositionPatient])
    spacing = (float(first.PixelSpacing[1]), float(first.PixelSpacing[0]), extent / (count - 1) if count > 1 else 1.0)
    return (int(first.Columns), int(first.Rows), count), spacing


def read_header(path: str | os.PathLike) -> tuple[tuple[int, ...], tuple[float, ...]] | None:
    """``(spatial shape, voxel spacing in mm)`` of an image file from its header, or None if it cannot be parsed.

    Channels (a 4th NIfTI axis, vector pixels) are not part of the shape.

    Raises:
        UnreadableFileError: the file exists but cannot be opened (no read permission, an I/O error).
    """
    if "::" in str(path) or Path(path).is_dir():
        return _series_header(path)
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with open(path, "rb"):
            pass
    except OSError as error:
        mode = stat.filemode(path.stat().st_mode)
        raise UnreadableFileError(
            f"{path}: cannot be read: {error.strerror} (mode {mode}, owner uid {path.stat().st_uid}, this process "
            f"uid {os.geteuid()}); expected a readable image file"
        ) from None
    try:
        if path.name.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            header = nib.load(str(path)).header  # lazy: the voxel data is not read
            shape = tuple(int(s) for s in header.get_data_shape()[:3])
            spacing = tuple(abs(float(z)) or 1.0 for z in header.get_zooms()[: len(shape)])
            return shape, spacing
        import SimpleITK

        reader = SimpleITK.ImageFileReader()
        reader.SetFileName(str(path))
        reader.ReadImageInformation()
        return tuple(int(s) for s in reader.GetSize()), tuple(float(s) for s in reader.GetSpacing())
    except Exception:  # an unreadable header is the loader's to report, with the reader's own reason
        return None


def estimate_inference_memory(
    shape: Sequence[int], spacing: Sequence[float], pixdim: Sequence[float], in_channels: int = 1, num_classes: int = 2
) -> int:
    """Bytes of the whole-volume arrays of one inference (see the module docstring); a lower bound."""
    voxels_in = math.prod(int(s) for s in shape)
    voxels_net = _grid_voxels(shape, spacing, pixdim)
    floats = in_channels * voxels_in + 2 * in_channels * voxels_net + (2 * num_classes + 1) * voxels_net
    return 4 * floats + voxels_in


def available_memory() -> int:
    """Bytes the kernel reports as available for new allocations (``MemAvailable``), else physical memory."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _grid_voxels(shape: Sequence[int], spacing: Sequence[float], pixdim: Sequence[float]) -> int:
    pixdim = (list(pixdim) * len(shape))[: len(shape)] if len(pixdim) < len(shape) else list(pixdim)
    return math.prod(max(1, round(s * sp / p)) for s, sp, p in zip(shape, spacing, pixdim))


def estimate_cache_memory(
    data: Sequence[Mapping], pixdim: Sequence[float], in_channels: int = 1, image_key: str = "image"
) -> list[int | None]:
    """Bytes each item takes in a training cache: the image (float32, ``in_channels``) and a uint8 label on the
    ``pixdim`` grid, from the image header; ``None`` where the header cannot be read (the loader reports that)."""
    sizes: list[int | None] = []
    for item in data:
        path = item.get(image_key) if isinstance(item, Mapping) else None
        try:
            header = read_header(path) if isinstance(path, (str, os.PathLike)) else None
        except UnreadableFileError:
            header = None
        sizes.append(None if header is None else (4 * in_channels + 1) * _grid_voxels(*header, pixdim))
    return sizes


def fit_cache_rate(
    data: Sequence[Mapping],
    cache_rate: float,
    pixdim: Sequence[float],
    in_channels: int = 1,
    limit_gb: float | None = None,
    share: float = 0.5,
    name: str = "training",
) -> float:
    """The largest cache rate up to ``cache_rate`` whose ``CacheDataset`` fits in memory; warns when it lowers it.

    ``CacheDataset`` caches the first ``int(cache_rate * len(data))`` items; here their sizes are estimated from the
    headers (:func:`estimate_cache_memory`; an unreadable header counts as the mean of the others) and compared
    with ``share`` of the memory budget, divided among the processes of this node under torchrun (each caches
    the whole list). The rest of the memory is left to the network, the batches and the validation cache.
    Items that are not cached are loaded and preprocessed each time they are drawn: slower, nothing is lost.

    Args:
        data: the datalist the dataset caches.
        cache_rate: the config's ``cache_rate``.
        pixdim / in_channels: the training spacing and image channels.
        limit_gb: the budget in GiB; ``None`` uses what the system reports as available now.
        share: fraction of the budget the cache may take.
        name: what the dataset is called in the warning.

    Example (configs/train.yaml)::

        cache_rate: $monai_unet_bundle.checks.fit_cache_rate(@train#datalist, @cache_rate, @pixdim, @in_channels)
    """
    count = int(cache_rate * len(data))
    if count <= 0:
        return float(cache_rate)
    sizes = estimate_cache_memory(data[:count], pixdim, in_channels)
    known = [size for size in sizes if size is not None]
    if not known:
        return float(cache_rate)
    mean = sum(known) / len(known)
    need = [mean if size is None else size for size in sizes]
    processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
    budget = share * (available_memory() if limit_gb is None else limit_gb * _GIB) / processes
    if sum(need) <= budget:
        return float(cache_rate)
    fits, total = 0, 0.0
    while fits < count and total + need[fits] <= budget:
        total += need[fits]
        fits += 1
    rate = fits / len(data)
    per_process = f" per process ({processes} on this node)" if processes > 1 else ""
    logger.warning(
        "caching %d %s volumes at pixdim %s mm needs about %s, more than %s (%d%% of the memory %s%s): caching "
        "the first %d (cache_rate %.3f) and loading the others each time they are drawn; set cache_rate lower "
        "(0 caches nothing) or use a machine with more memory to silence this",
        count,
        name,
        tuple(float(p) for p in pixdim),
        _size(sum(need)),
        _size(budget),
        round(share * 100),
        "available" if limit_gb is None else f"limit of {limit_gb} GiB",
        per_process,
        fits,
        rate,
    )
    return rate


class CheckMemoryd(MapTransform):
    """Before loading: refuse a file whose estimated inference memory exceeds the limit.

    Args:
        keys: keys holding file paths (the item's ``image``); items that already hold arrays are passed through.
        pixdim: the inference spacing (the config's ``pixdim``).
        in_channels / num_classes: the network's channels.
        limit_gb: the budget in GiB; ``None`` uses what the system reports as available when the check runs.

    Raises:
        InsufficientMemoryError: naming the file, its shape and spacing, the estimate and the limit.
    """

    def __init__(
        self,
        keys: KeysCollection,
        pixdim: Sequence[float],
        in_channels: int = 1,
        num_classes: int = 2,
        limit_gb: float | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.pixdim = [float(p) for p in pixdim]
        self.in_channels = int(in_channels)
        self.num_classes = int(num_classes)
        self.limit_gb = limit_gb

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        for key in self.key_iterator(d):
            if isinstance(d[key], (str, os.PathLike)):
                self.check(d[key])
        return d

    def check(self, path: str | os.PathLike) -> None:
        """Raise :class:`InsufficientMemoryError` if ``path`` needs more than the limit (see the class)."""
        header = read_header(path)
        if header is None:
            return
        shape, spacing = header
        pixdim = (self.pixdim * len(shape))[: len(shape)] if len(self.pixdim) < len(shape) else self.pixdim
        need = estimate_inference_memory(shape, spacing, pixdim, self.in_channels, self.num_classes)
        limit = available_memory() if self.limit_gb is None else int(self.limit_gb * _GIB)
        if need > limit:
            where = "available now" if self.limit_gb is None else "the limit (limit_gb)"
            raise InsufficientMemoryError(
                f"{path}: refused before loading: a volume of shape {shape} at spacing "
                f"{tuple(round(s, 3) for s in spacing)} mm needs at least {_size(need)} for inference at "
                f"pixdim {tuple(pixdim)} mm, {_size(limit)} is {where}; crop the volume, run with a "
                "coarser pixdim, or use a machine with more memory"
            )


class MemoryCheckedLoadImaged(LoadImaged):
    """MONAI ``LoadImaged`` that runs :class:`CheckMemoryd` on its keys before reading.

    Args:
        keys: as ``LoadImaged``.
        pixdim / in_channels / num_classes / limit_gb: as :class:`CheckMemoryd`.
        kwargs: every other ``LoadImaged`` argument (``reader``, ``image_only``, ...).

    Example::

        - _target_: monai_unet_bundle.checks.MemoryCheckedLoadImaged
          keys: image
          image_only: true
          pixdim: "@pixdim"
          num_classes: "@num_classes"
    """

    def __init__(
        self,
        keys: KeysCollection,
        pixdim: Sequence[float],
        in_channels: int = 1,
        num_classes: int = 2,
        limit_gb: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(keys, **kwargs)
        self.memory_check = CheckMemoryd(keys, pixdim, in_channels, num_classes, limit_gb, allow_missing_keys=True)

    def __call__(self, data: Mapping[Hashable, Any], reader: Any = None) -> dict[Hashable, Any]:
        return super().__call__(self.memory_check(data), reader)
