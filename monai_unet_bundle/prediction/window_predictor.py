"""One forward pass per window, as fast as the hardware allows and always returning float32 logits.

:class:`WindowPredictor` wraps a network for sliding-window or overlap-tile inference:

- ``torch.inference_mode`` around the forward pass (no autograd bookkeeping, no version counters);
- mixed precision: bf16 on a CPU with native bf16, fp16 on CUDA (:func:`~monai_unet_bundle.engines.autocast_dtype`);
- channels-last memory layout for 2D / 3D windows (oneDNN and cuDNN pick faster kernels for it);
- a network returning a list or tuple (U2-Net side outputs, deep supervision) contributes its first, fused entry;
- flip test-time augmentation: the mean of the logits over the window and its mirror images (nnU-Net's mirroring).
The result is a normal float32 tensor: the stitcher may update it in place, and blends in full precision.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import torch

__all__ = ["WindowPredictor", "flip_combinations"]


def flip_combinations(axes: Sequence[int]) -> list[tuple[int, ...]]:
    """Every non-empty subset of the spatial ``axes`` as tensor dims (offset by 2 for batch and channel).

    Example: ``flip_combinations([0, 1]) == [(2,), (3,), (2, 3)]`` -- with the identity, the 4 mirrorings of 2D.
    """
    dims = [int(a) + 2 for a in axes]
    return [c for r in range(1, len(dims) + 1) for c in itertools.combinations(dims, r)]


class WindowPredictor:
    """A callable ``(B, C_in, *roi) -> (B, C_out, *roi_out)`` float32 logits for the stitchers.

    Args:
        network: the network (already on the windows' device and in the intended train/eval mode).
        dtype: autocast dtype (``torch.bfloat16`` / ``torch.float16``) or None for full precision.
        channels_last: feed 4D / 5D windows in channels-last layout (the network should be converted too).
        flips: tensor dims to mirror for TTA, one tuple per extra pass (:func:`flip_combinations`); empty for none.
        module: the network whose sizing methods (``valid_border`` ...) the stitcher may ask for, as ``.module``
            (like DataParallel); default ``network``.
        on_window: called with the number of windows after every call (a progress bar's ``update``).
        batch_size: a smaller batch (a volume's last windows) is padded to this size: one input shape, so oneDNN /
            cuDNN generate their kernels once per process (seconds each for bf16 on AMX).

    Example::

        >>> predictor = WindowPredictor(net.eval(), dtype=None, flips=flip_combinations([0, 1, 2]))
        >>> predictor(torch.rand(2, 1, 24, 24, 24)).shape   # 8 passes averaged
        torch.Size([2, 4, 24, 24, 24])
    """

    def __init__(
        self,
        network: Callable[..., Any],
        dtype: torch.dtype | None = None,
        channels_last: bool = False,
        flips: Sequence[tuple[int, ...]] = (),
        module: Any = None,
        on_window: Callable[[int], Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.network = network
        self.dtype = dtype
        self.channels_last = channels_last
        self.flips = [tuple(f) for f in flips]
        self.module = module if module is not None else network
        self.on_window = on_window
        self.batch_size = batch_size

    def _forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = self.network(x, *args, **kwargs)
        if isinstance(out, (list, tuple)):  # U2-Net / deep supervision in training mode: the fused output first
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the network must return a tensor (or a list of them), got {type(out).__name__}")
        return out.float()

    def __call__(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        count = x.shape[0]
        if self.batch_size is not None and count < self.batch_size:
            x = torch.cat([x, x.new_zeros((self.batch_size - count, *x.shape[1:]))])
        if self.channels_last and x.dim() in (4, 5):
            x = x.contiguous(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=self.dtype, enabled=self.dtype is not None):
            out = self._forward(x, *args, **kwargs)
            for dims in self.flips:
                out += torch.flip(self._forward(torch.flip(x, dims), *args, **kwargs), dims)
            if self.flips:
                out /= len(self.flips) + 1
        # copied out of inference mode: the stitcher blends into it in place
        out = out[:count]
        result = torch.empty(out.shape, dtype=torch.float32, device=out.device)
        result.copy_(out)
        if self.on_window is not None:
            self.on_window(count)
        return result
