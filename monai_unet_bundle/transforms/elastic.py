"""The U-Net paper's elastic deformation: random displacements on a coarse grid, smoothly interpolated.

Ronneberger et al. 2015 draw displacement vectors on a coarse 3x3 grid from a Gaussian with 10 pixels standard
deviation and interpolate them bicubically to every pixel. Here the coarse grid has ``grid_size`` points per axis
spanning the image corners, the interpolation is separable cubic convolution (Keys, a = -0.5; bicubic in 2D, tricubic
in 3D, so the field passes exactly through the drawn vectors), and an optional random rotation / scaling about the
image centre is folded into the same sampling grid. All keys of a dictionary are resampled with that one grid, in one
``grid_sample`` call per interpolation mode, which is why this is cheaper than MONAI's ``Rand3DElasticd`` (which
Gaussian-smooths a full-resolution random field and resamples each key separately).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import MapTransform, RandomizableTransform
from monai.utils import convert_to_dst_type, ensure_tuple_rep

__all__ = ["RandCoarseElastic", "RandCoarseElasticd", "cubic_interpolation_matrix"]

_MODES = {
    "bilinear": "bilinear",
    "linear": "bilinear",
    "trilinear": "bilinear",
    "nearest": "nearest",
    "bicubic": "bicubic",
}
_EXACT = 2**24  # integers below this survive a float32 round trip, so nearest sampling keeps label ids


def cubic_interpolation_matrix(n_out: int, n_in: int, a: float = -0.5) -> torch.Tensor:
    """``(n_out, n_in)`` matrix of cubic-convolution weights resampling ``n_in`` corner-aligned nodes to ``n_out``.

    Row ``i`` interpolates at position ``i * (n_in - 1) / (n_out - 1)``; indices beyond the ends are clamped
    (replicated border). Rows sum to 1, and where a position hits a node the row is that node's unit vector.
    """
    if n_in < 2:
        raise ValueError(f"need at least 2 nodes per axis, got {n_in}.")
    pos = np.linspace(0.0, n_in - 1.0, n_out) if n_out > 1 else np.zeros(1)
    base = np.floor(pos).astype(int)
    matrix = np.zeros((n_out, n_in))
    for offset in (-1, 0, 1, 2):
        node = base + offset
        x = np.abs(pos - node)
        w = np.where(
            x <= 1.0,
            (a + 2.0) * x**3 - (a + 3.0) * x**2 + 1.0,
            np.where(x < 2.0, a * x**3 - 5.0 * a * x**2 + 8.0 * a * x - 4.0 * a, 0.0),
        )
        np.add.at(matrix, (np.arange(n_out), np.clip(node, 0, n_in - 1)), w)
    return torch.from_numpy(matrix)


def _rotation(angles: Sequence[float], ndim: int) -> np.ndarray:
    if ndim == 2:
        c, s = math.cos(angles[0]), math.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    rot = np.eye(3)
    for axis, angle in enumerate(angles[:3]):
        c, s = math.cos(angle), math.sin(angle)
        i, j = [k for k in range(3) if k != axis]
        r = np.eye(3)
        r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
        rot = rot @ r
    return rot


def _ranges(value: float | Sequence | None, count: int) -> list[tuple[float, float]]:
    """MONAI-style ranges: ``a`` -> (-a, a), ``(lo, hi)`` as given, one per entry, padded with (0, 0)."""
    if value is None:
        return [(0.0, 0.0)] * count
    entries = [value] if isinstance(value, (int, float)) else list(value)
    out = []
    for entry in entries[:count]:
        if isinstance(entry, (int, float)):
            out.append((-abs(float(entry)), abs(float(entry))))
        else:
            lo, hi = (float(v) for v in entry)
            out.append((lo, hi))
    return out + [(0.0, 0.0)] * (count - len(out))


class RandCoarseElastic(RandomizableTransform):
    """Random coarse-grid elastic deformation (optionally with rotation / scaling) of a channel-first image.

    Args:
        prob: probability of deforming.
        grid_size: coarse grid points per spatial axis (int or one per axis, >= 2; paper: 3).
        sigma: standard deviation of the coarse displacements in pixels (paper: 10); 0 gives no displacement.
        rotate_range: None, ``a`` or ``(lo, hi)`` radians (2D); in 3D up to one such entry per axis.
        scale_range: None, a float ``s`` (one isotropic factor ``1 + U(-s, s)``) or one entry per axis. A factor > 1
            samples a larger region, so the content appears smaller.
        mode: "bilinear" (alias "linear"/"trilinear"), "nearest" (labels: no new values) or "bicubic" (2D only).
        padding_mode: grid_sample padding: "reflection", "border" or "zeros".

    Call:
        img: ``(C, *spatial)`` with 2 or 3 spatial dims; numpy, torch (CPU or GPU) or MetaTensor.

    Returns:
        same type, shape, device and metadata; the input dtype for "nearest" (and float inputs), float32 for
        interpolated integer inputs. Without deformation (prob, or sigma = 0 and no rotation / scaling) the input
        itself is returned.

    Example::

        >>> t = RandCoarseElastic(prob=1.0, grid_size=3, sigma=10.0)
        >>> t.set_random_state(seed=0)
        >>> out = t(torch.rand(1, 256, 256))
    """

    def __init__(
        self,
        prob: float = 0.1,
        grid_size: int | Sequence[int] = 3,
        sigma: float = 10.0,
        rotate_range: float | Sequence | None = None,
        scale_range: float | Sequence | None = None,
        mode: str = "bilinear",
        padding_mode: str = "reflection",
    ) -> None:
        RandomizableTransform.__init__(self, prob)
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}.")
        self.grid_size = grid_size
        self.sigma = float(sigma)
        self.rotate_range = rotate_range
        self.scale_range = scale_range
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}.")
        self.mode = mode
        if padding_mode not in ("reflection", "border", "zeros"):
            raise ValueError(f"padding_mode must be 'reflection', 'border' or 'zeros', got {padding_mode!r}.")
        self.padding_mode = padding_mode
        self._params: tuple[np.ndarray, np.ndarray] | None = None  # coarse displacements, linear part

    def _is_identity(self) -> bool:
        return self.sigma == 0 and self.rotate_range is None and self.scale_range is None

    def randomize(self, spatial_shape: Sequence[int]) -> None:
        """Draw whether to deform and, if so, the coarse displacements, rotation and scaling for ``spatial_shape``."""
        super().randomize(None)
        ndim = len(spatial_shape)
        if ndim not in (2, 3):
            raise ValueError(f"RandCoarseElastic supports 2 or 3 spatial dims, got shape {tuple(spatial_shape)}.")
        if not self._do_transform:
            return
        nodes = ensure_tuple_rep(self.grid_size, ndim)
        if min(nodes) < 2:
            raise ValueError(f"grid_size must be >= 2 per axis, got {self.grid_size}.")
        coarse = self.R.normal(0.0, 1.0, size=(ndim, *nodes)) * self.sigma
        angles = [self.R.uniform(lo, hi) for lo, hi in _ranges(self.rotate_range, 1 if ndim == 2 else 3)]
        if isinstance(self.scale_range, (int, float)):
            lo, hi = _ranges(self.scale_range, 1)[0]
            scales = [1.0 + self.R.uniform(lo, hi)] * ndim
        else:
            scales = [1.0 + self.R.uniform(lo, hi) for lo, hi in _ranges(self.scale_range, ndim)]
        self._params = (coarse, _rotation(angles, ndim) @ np.diag(scales))

    def sampling_grid(self, spatial_shape: Sequence[int], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """``grid_sample`` grid ``(1, *spatial, ndim)`` (last axis in x, y[, z] order) of the drawn deformation."""
        if self._params is None:
            raise RuntimeError("call randomize() first.")
        coarse, linear = self._params
        ndim = len(spatial_shape)
        shape = np.array(spatial_shape)
        # grid = (centre + linear @ (x - centre) + field(x)) * scale - 1 with scale = 2 / (n - 1): grid_sample's
        # normalised coordinates (align_corners=True). Everything is built in grid_sample's component order
        # (x, y[, z] = reversed spatial axes) and pre-scaled, so the full-size grid is written only ndim + 1 times.
        scale = 2.0 / np.maximum(shape - 1, 1)
        order = list(range(ndim))[::-1]
        field = np.moveaxis(coarse[order] * scale[order].reshape((ndim,) + (1,) * ndim), 0, -1)  # (*nodes, ndim)
        field = torch.as_tensor(np.ascontiguousarray(field), dtype=dtype, device=device)
        nodes = coarse.shape[1:]
        for axis in range(ndim - 1):
            weights = cubic_interpolation_matrix(spatial_shape[axis], nodes[axis]).to(device=device, dtype=dtype)
            field = torch.movedim(torch.tensordot(field, weights, dims=([axis], [1])), -1, axis).contiguous()
        weights = cubic_interpolation_matrix(spatial_shape[-1], nodes[-1]).to(device=device, dtype=dtype)
        grid = torch.matmul(weights, field.reshape(-1, nodes[-1], ndim)).reshape(1, *spatial_shape, ndim)
        centre = (shape - 1) / 2.0
        for axis, n in enumerate(spatial_shape):
            # contribution of spatial axis `axis` to every component: linear[:, axis] * (x_axis - centre_axis)
            coeff = (linear[:, axis] * scale)[order]
            along = (np.arange(n) - centre[axis])[:, None] * coeff[None, :]
            if axis == 0:
                along = along + (centre * scale - 1.0)[order][None, :]
            view = [1] * (ndim + 1) + [ndim]
            view[1 + axis] = n
            grid += torch.as_tensor(along, dtype=dtype, device=device).view(view)
        return grid

    def resample(self, img: torch.Tensor, grid: torch.Tensor, mode: str) -> torch.Tensor:
        """Resample a float tensor ``(C, *spatial)`` on ``grid``; returns ``(C, *spatial)``."""
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {sorted(_MODES)}, got {mode!r}.")
        if _MODES[mode] == "bicubic" and img.ndim != 3:
            raise ValueError("mode 'bicubic' is only available in 2D; use 'bilinear' in 3D.")
        out = F.grid_sample(img[None], grid, mode=_MODES[mode], padding_mode=self.padding_mode, align_corners=True)
        return out[0]

    def __call__(
        self, img: np.ndarray | torch.Tensor, mode: str | None = None, randomize: bool = True
    ) -> np.ndarray | torch.Tensor:
        if randomize:
            self.randomize(img.shape[1:])
        if not self._do_transform or self._is_identity():
            return img
        return _deform([img], [mode or self.mode], self)[0]


def _plain_tensor(img: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A plain torch tensor view of ``img``; unsigned numpy labels wider than uint8 become int64 (torch lacks ops)."""
    if isinstance(img, np.ndarray) and img.dtype.kind == "u" and img.dtype.itemsize > 1:
        img = img.astype(np.int64)
    t = torch.as_tensor(img)
    return t.as_tensor() if hasattr(t, "as_tensor") else t


def _deform(
    images: Sequence[np.ndarray | torch.Tensor], modes: Sequence[str], transform: RandCoarseElastic
) -> list[np.ndarray | torch.Tensor]:
    """Resample all ``images`` (same spatial shape) with one sampling grid, one grid_sample call per mode."""
    tensors = [_plain_tensor(im) for im in images]
    shape = tuple(tensors[0].shape[1:])
    for t in tensors:
        if tuple(t.shape[1:]) != shape:
            raise ValueError(f"all keys need the same spatial shape, got {shape} and {tuple(t.shape[1:])}.")
    device = tensors[0].device
    wide = any(
        t.dtype == torch.float64 or (t.dtype in (torch.int32, torch.int64) and t.numel() and t.abs().max() >= _EXACT)
        for t in tensors
    )
    dtype = torch.float64 if wide else torch.float32
    grid = transform.sampling_grid(shape, device, dtype)
    results: list[np.ndarray | torch.Tensor | None] = [None] * len(images)
    for mode in dict.fromkeys(modes):
        members = [i for i, m in enumerate(modes) if m == mode]
        stacked = torch.cat([tensors[i].to(device=device, dtype=dtype) for i in members], dim=0)
        sampled = transform.resample(stacked, grid, mode)
        start = 0
        for i in members:
            part = sampled[start : start + tensors[i].shape[0]]
            start += tensors[i].shape[0]
            floating = tensors[i].is_floating_point()
            if _MODES[mode] == "nearest" or floating:
                out_dtype = images[i].dtype  # labels keep their dtype (nearest adds no values)
                part = part if floating else part.round()
            else:
                out_dtype = torch.float32 if torch.is_tensor(images[i]) else np.float32
            results[i] = convert_to_dst_type(part, dst=images[i], dtype=out_dtype)[0]
    return results  # type: ignore[return-value]


class RandCoarseElasticd(RandomizableTransform, MapTransform):
    """Dictionary twin of :class:`RandCoarseElastic`: one random deformation resamples every key.

    Args:
        keys: keys to deform (same spatial shape), e.g. ``["image", "label", "instance", "weight"]``.
        prob, grid_size, sigma, rotate_range, scale_range, padding_mode: see :class:`RandCoarseElastic`.
        mode: one mode or one per key, e.g. ``["bilinear", "nearest", "nearest", "bilinear"]`` (image linear, label
            and instance ids nearest, weight map linear).
        allow_missing_keys: do not raise if a key is missing.

    Example::

        >>> t = RandCoarseElasticd(["image", "label"], prob=1.0, sigma=10.0, mode=["bilinear", "nearest"])
        >>> t.set_random_state(seed=0)
        >>> out = t({"image": torch.rand(1, 64, 64), "label": torch.randint(0, 3, (1, 64, 64))})
    """

    def __init__(
        self,
        keys: KeysCollection,
        prob: float = 0.1,
        grid_size: int | Sequence[int] = 3,
        sigma: float = 10.0,
        rotate_range: float | Sequence | None = None,
        scale_range: float | Sequence | None = None,
        mode: str | Sequence[str] = "bilinear",
        padding_mode: str = "reflection",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        self.mode = ensure_tuple_rep(mode, len(self.keys))
        for m in self.mode:
            if m not in _MODES:
                raise ValueError(f"mode must be one of {sorted(_MODES)}, got {m!r}.")
        self.deform = RandCoarseElastic(1.0, grid_size, sigma, rotate_range, scale_range, "bilinear", padding_mode)
        self.deform.set_random_state(state=self.R)  # one random stream for the coin flip and the deformation

    def set_random_state(self, seed: int | None = None, state: np.random.RandomState | None = None):
        super().set_random_state(seed, state)
        self.deform.set_random_state(state=self.R)
        return self

    def __call__(self, data: Mapping[Hashable, np.ndarray | torch.Tensor]) -> dict:
        d = dict(data)
        present = [(key, m) for key, m in zip(self.keys, self.mode) if key in d or not self.allow_missing_keys]
        if not present:
            return d
        for key, _ in present:
            if key not in d:
                raise KeyError(f"key {key!r} is not in the data dictionary.")
        self.randomize(None)
        if not self._do_transform or self.deform._is_identity():
            return d
        self.deform.randomize(d[present[0][0]].shape[1:])
        outputs = _deform([d[key] for key, _ in present], [m for _, m in present], self.deform)
        for (key, _), out in zip(present, outputs):
            d[key] = out
        return d
