"""The exception every input check raises: its message names the file and what was expected vs found."""

from __future__ import annotations

__all__ = ["InputCheckError", "UnreadableFileError"]


class InputCheckError(ValueError):
    """An image, label, config or checkpoint that the bundle refuses; the message says which file and why.

    A ``ValueError`` so that callers that already handle bad values (MONAI's ``Compose`` wrapping,
    :class:`~monai_unet_bundle.prediction.PredictionDataset` turning a failed input into a summary line) report it.
    """


class UnreadableFileError(InputCheckError):
    """A file that exists but cannot be opened (permissions, an I/O error); names the file and the OS's reason."""
