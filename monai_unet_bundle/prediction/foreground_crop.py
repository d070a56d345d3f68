"""nnU-Net's crop before the sliding window: only the bounding box of the image's nonzero voxels is predicted.

Air around a scan (zero after the bundle's intensity scaling: percentile scaling maps the darkest voxels to 0, the
nonzero z-score keeps 0) costs no window. The logits of the box are pasted back into the full grid, whose other
voxels get background logits (class 0 certain after softmax), so the inversion and writing see the whole image.
"""

from __future__ import annotations

import torch
from monai.utils import convert_to_dst_type

__all__ = ["BACKGROUND_LOGIT_GAP", "foreground_box", "paste_into_background"]

#: logit of class 0 minus that of every other class outside the box: softmax 1 - 1e-13 for class 0 with 4 classes
BACKGROUND_LOGIT_GAP = 30.0


def foreground_box(image: torch.Tensor) -> tuple[slice, ...] | None:
    """Spatial slices of the smallest box holding every nonzero voxel of ``image`` ``(B, C, *spatial)`` (over the
    batch and channels); None when the image is all zero (nothing to crop to: predict it whole)."""
    nonzero = (image != 0).flatten(0, 1).any(dim=0)
    if not bool(nonzero.any()):
        return None
    box = []
    for axis in range(nonzero.dim()):
        other = tuple(a for a in range(nonzero.dim()) if a != axis)
        hits = torch.nonzero(nonzero.any(dim=other) if other else nonzero).flatten()
        box.append(slice(int(hits[0]), int(hits[-1]) + 1))
    return tuple(box)


def paste_into_background(logits: torch.Tensor, image: torch.Tensor, box: tuple[slice, ...]) -> torch.Tensor:
    """``logits`` ``(B, C_out, *box)`` placed at ``box`` in a ``(B, C_out, *image.spatial)`` grid of background
    logits (0 for class 0, ``-BACKGROUND_LOGIT_GAP`` for the others); a MetaTensor input's metadata is kept."""
    full = torch.full((logits.shape[0], logits.shape[1], *image.shape[2:]), -BACKGROUND_LOGIT_GAP, dtype=logits.dtype)
    full = full.to(logits.device)
    full[:, 0] = 0.0
    full[(slice(None), slice(None), *box)] = logits
    # as MONAI's stitcher does: a MetaTensor input's metadata (affine, file name, transforms) goes to the output
    return convert_to_dst_type(full, image, dtype=full.dtype, device=full.device)[0]
