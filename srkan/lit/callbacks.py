"""Callbacks of the experiment framework."""

from __future__ import annotations

import json
import os
from typing import Optional

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

__all__ = ["FiringRateMonitor"]


class FiringRateMonitor(Callback):
    """Appends the per-layer firing statistics of every epoch to ``{dirpath}/firing_rates.jsonl``.

    The LightningModule logs ``{stage}/layers/{layer}/{rate,threshold,silent,saturated}`` for models
    that expose ``layer_stats()``; this callback collects those epoch means, with the epoch and the
    validation accuracy, into one JSON line per validation epoch, so firing-rate traces (e.g. for the
    homeostasis ablation) can be plotted without a logger. Does nothing for models without
    ``layer_stats()``.
    """

    def __init__(self, dirpath: Optional[str] = None, filename: str = "firing_rates.jsonl") -> None:
        self.dirpath = dirpath
        self.filename = filename

    def _path(self, trainer: Trainer) -> str:
        return os.path.join(self.dirpath or trainer.default_root_dir, self.filename)

    @rank_zero_only
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        layers = {k: float(v) for k, v in metrics.items() if "/layers/" in k}
        if not layers:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        for key in ("val/acc", "val/loss", "train/acc", "train/loss"):
            if key in metrics:
                row[key] = float(metrics[key])
        row.update(sorted(layers.items()))
        path = self._path(trainer)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
