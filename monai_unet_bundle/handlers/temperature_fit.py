"""Fit the softmax temperature of a trained network on the validation cases (evaluate.yaml), stored beside model.pt.

An evaluator handler: after each forward pass (``IterationEvents.FORWARD_COMPLETED``, before the postprocessing
turns the logits into labels) it keeps the logits ``(B, C, *spatial)`` and the preprocessed label ``(B, 1, *spatial)``
of every case, on the network's grid (every k-th voxel when a case has more than ``max_voxels_per_case``: a fixed,
deterministic subsample). When the evaluation ends it fits one temperature ``T`` (the NLL of
``softmax(logits / T)``, :func:`~monai_unet_bundle.evaluation.fit_temperature`) and writes, atomically,
``temperature.json``: ``T``, NLL and ECE (15 bins, all voxels and foreground-or-predicted-foreground voxels)
before and after, the numbers of voxels and cases, and the SHA-256 of the model file it belongs to. Inference
(:class:`~monai_unet_bundle.prediction.TemperatureScaled`) reads it. Example (configs/evaluate.yaml)::

    validate#handlers:
      - _target_: monai_unet_bundle.handlers.TemperatureFitter
        output_file: "@temperature_file"
        model_path: "$@ckpt_dir + '/model.pt'"
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import torch
import torch.distributed as dist
from ignite.engine import Engine, Events
from monai.engines import IterationEvents
from monai_unet_bundle.atomic_write import atomic_write
from monai_unet_bundle.evaluation.calibration import calibration_summary, fit_temperature
from monai_unet_bundle.prediction.quality import file_sha256

__all__ = ["TemperatureFitter"]

logger = logging.getLogger(__name__)


class TemperatureFitter:
    """Collect validation logits and labels, fit one softmax temperature, write it as JSON.

    Args:
        output_file: the JSON written when the evaluation completes (``<ckpt_dir>/temperature.json``).
        model_path: the model file evaluated; its SHA-256 goes into the JSON (inference checks it).
        max_voxels_per_case: keep every k-th voxel of a larger case (k = ceil(voxels / max)).
        n_bins: ECE bins.
        bounds: the temperatures searched.
        pred_key / label_key: the engine output's logits and label.
    """

    def __init__(
        self,
        output_file: str | Path,
        model_path: str | Path | None = None,
        max_voxels_per_case: int = 1_000_000,
        n_bins: int = 15,
        bounds: tuple[float, float] = (0.05, 20.0),
        pred_key: str = "pred",
        label_key: str = "label",
    ) -> None:
        if max_voxels_per_case < 1:
            raise ValueError(f"max_voxels_per_case must be >= 1, got {max_voxels_per_case}")
        self.output_file = Path(output_file)
        self.model_path = None if model_path is None else Path(model_path)
        self.max_voxels_per_case = int(max_voxels_per_case)
        self.n_bins = int(n_bins)
        self.bounds = (float(bounds[0]), float(bounds[1]))
        self.pred_key = pred_key
        self.label_key = label_key
        self._logits: list[torch.Tensor] = []
        self._labels: list[torch.Tensor] = []
        self.record: dict | None = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_STARTED, self.reset)
        engine.add_event_handler(IterationEvents.FORWARD_COMPLETED, self.collect)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self.fit)

    def reset(self, engine: Engine | None = None) -> None:
        self._logits, self._labels = [], []

    def collect(self, engine: Engine) -> None:
        """Keep (a subsample of) each case's logits ``(N, C)`` and labels ``(N,)``."""
        output = engine.state.output
        logits, labels = output[self.pred_key], output[self.label_key]
        for case_logits, case_label in zip(logits, labels):
            case_logits = torch.as_tensor(case_logits).detach().float().cpu()
            case_label = torch.as_tensor(case_label).detach().cpu()
            if case_label.shape[0] > 1:  # one-hot
                case_label = case_label.argmax(0, keepdim=True)
            if case_label.shape[1:] != case_logits.shape[1:]:
                raise ValueError(
                    f"TemperatureFitter: label grid {tuple(case_label.shape[1:])} differs from the logits' "
                    f"{tuple(case_logits.shape[1:])}; it needs both on the network grid (before the postprocessing)"
                )
            flat_logits = case_logits.reshape(case_logits.shape[0], -1).T
            flat_labels = case_label.reshape(-1).long()
            step = math.ceil(flat_labels.numel() / self.max_voxels_per_case)
            self._logits.append(flat_logits[::step].clone())
            self._labels.append(flat_labels[::step].clone())

    def _gathered(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return self._logits, self._labels
        parts: list = [None] * dist.get_world_size()
        dist.all_gather_object(parts, (self._logits, self._labels))
        return [t for p in parts for t in p[0]], [t for p in parts for t in p[1]]

    def fit(self, engine: Engine | None = None) -> dict | None:
        """Fit ``T`` on what was collected and write the JSON (rank 0); returns the record (None: no cases)."""
        logits_list, labels_list = self._gathered()
        if dist.is_available() and dist.is_initialized() and dist.get_rank() > 0:
            return None
        if not logits_list:
            logger.warning("TemperatureFitter: no validation cases were seen; %s not written", self.output_file)
            return None
        logits, labels = torch.cat(logits_list), torch.cat(labels_list)
        if int(labels.max()) >= logits.shape[1] or int(labels.min()) < 0:
            raise ValueError(f"TemperatureFitter: labels outside 0..{logits.shape[1] - 1}")
        temperature = fit_temperature(logits, labels, self.bounds)
        before = calibration_summary(logits, labels, 1.0, self.n_bins)
        after = calibration_summary(logits, labels, temperature, self.n_bins)
        model = self.model_path
        self.record = {
            "temperature": temperature,
            "model": None if model is None else str(model),
            "model_sha256": file_sha256(str(model)) if model is not None and model.is_file() else None,
            "cases": len(logits_list),
            "voxels": int(labels.numel()),
            "n_bins": self.n_bins,
            "bounds": list(self.bounds),
            "fitted_on": "validation cases: network-grid logits against the preprocessed labels",
            "before": before,
            "after": after,
        }
        if min(abs(math.log(temperature / b)) for b in self.bounds) < 1e-3:
            logger.warning("the fitted temperature %.4f is at a bound of %s: widen bounds", temperature, self.bounds)
        with atomic_write(self.output_file) as partial:
            partial.write_text(json.dumps(self.record, indent=4) + "\n")
        logger.info(
            "temperature %.4f fitted on %d voxels of %d cases: NLL %.4f -> %.4f, ECE %.4f -> %.4f; wrote %s",
            temperature,
            labels.numel(),
            len(logits_list),
            before["nll"],
            after["nll"],
            before["ece_all"],
            after["ece_all"],
            self.output_file,
        )
        return self.record
