"""Calibrated probabilities at inference: the logits divided by the temperature that evaluate.yaml fitted.

``temperature.json`` (:class:`~monai_unet_bundle.handlers.TemperatureFitter`) lies beside the model file. The
inference config divides the stitched logits by its ``T`` before anything takes a softmax (the probabilities
written with ``--save-probabilities``, the uncertainty map, the QC confidence); the argmax, and so the label map, is
that of the undivided logits (up to the trilinear resampling of the probabilities to the input's grid). A missing
file means ``T = 1`` (logged once); a file fitted for another model file (its SHA-256 differs) is not applied, with a
warning naming both files. Example (configs/inference.yaml, first in the postprocessing)::

    - _target_: monai_unet_bundle.prediction.TemperatureScaled
      keys: pred
      temperature_file: "@temperature_file"
      model_path: "@ckpt_path"
"""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Mapping
from pathlib import Path
from typing import Any

import torch
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai_unet_bundle.prediction.quality import file_sha256

__all__ = ["TemperatureScaled", "read_temperature"]

logger = logging.getLogger(__name__)


def read_temperature(temperature_file: str | Path | None, model_path: str | Path | None = None) -> float:
    """The temperature stored in ``temperature_file`` for the model at ``model_path``; 1.0 when there is none.

    Missing file: 1.0 (logged). A file whose ``model_sha256`` is not ``model_path``'s: 1.0 with a warning naming both.
    A file that is not a temperature record: ``ValueError`` naming it.
    """
    if temperature_file is None:
        return 1.0
    path = Path(temperature_file)
    if not path.is_file():
        logger.info("no temperature file %s: probabilities are the plain softmax (T = 1)", path)
        return 1.0
    try:
        record = json.loads(path.read_text())
        temperature = float(record["temperature"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is not a temperature file (a JSON object with 'temperature'): {error}") from error
    if not temperature > 0:
        raise ValueError(f"{path}: the temperature must be > 0, got {temperature}")
    expected = record.get("model_sha256")
    if model_path is not None and expected and Path(model_path).is_file():
        actual = file_sha256(str(model_path))
        if actual != expected:
            logger.warning(
                "%s was fitted for another model (SHA-256 %s...) than %s (%s...): not applied (T = 1); "
                "run the evaluate step again to fit it for this model",
                path,
                expected[:12],
                model_path,
                actual[:12],
            )
            return 1.0
    logger.info("softmax temperature %.4f from %s", temperature, path)
    return temperature


class TemperatureScaled(MapTransform):
    """Divide the logits ``d[keys]`` ``(C, *spatial)`` by the fitted temperature, in place; record it as
    ``d[temperature_key]`` (the QC report writes it).

    Args:
        keys: the logits.
        temperature_file: the JSON beside the model (None: T = 1).
        model_path: the model file the temperature must belong to.
        temperature: a fixed temperature instead of the file's.
        temperature_key: where the applied temperature is stored.

    The file is read on first use (reading the config's properties needs no file), then kept.
    """

    def __init__(
        self,
        keys: KeysCollection = "pred",
        temperature_file: str | Path | None = None,
        model_path: str | Path | None = None,
        temperature: float | None = None,
        temperature_key: str = "temperature",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if temperature is not None and not temperature > 0:
            raise ValueError(f"the temperature must be > 0, got {temperature}")
        self.temperature_file = temperature_file
        self.model_path = model_path
        self._temperature = None if temperature is None else float(temperature)
        self.temperature_key = temperature_key

    @property
    def temperature(self) -> float:
        """The temperature applied (read from the file once)."""
        if self._temperature is None:
            self._temperature = read_temperature(self.temperature_file, self.model_path)
        return self._temperature

    def __call__(self, data: Mapping[Hashable, Any]) -> dict[Hashable, Any]:
        d = dict(data)
        temperature = self.temperature
        for key in self.key_iterator(d):
            logits = d[key]
            if temperature != 1.0:
                if not logits.is_floating_point():
                    raise TypeError(f"TemperatureScaled: '{key}' must hold floating-point logits, got {logits.dtype}")
                # an inference-mode tensor may only be updated in inference mode
                with torch.inference_mode() if logits.is_inference() else torch.no_grad():
                    logits.div_(temperature)
            d[self.temperature_key] = temperature
        return d
