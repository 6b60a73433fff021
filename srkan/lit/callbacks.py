"""Callbacks of the experiment framework."""

from __future__ import annotations

import json
import os
import time
from typing import Optional

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_only

__all__ = ["EpochTimer", "FiringRateMonitor", "WandbFigures"]


class EpochTimer(Callback):
    """Logs the wall-clock seconds of every training epoch as ``time/train_epoch_s``.

    The time runs from the epoch's start to its end, minus the validation passes inside it, so it is
    the training batches including data loading and the optimiser. It goes to the loggers directly
    (a ``metrics.csv`` column, a W&B chart), not to ``trainer.callback_metrics``: wall time must
    not take part in checkpoint monitoring or in comparisons of two runs' metrics.
    """

    def __init__(self) -> None:
        self._start: Optional[float] = None
        self._val_start: Optional[float] = None
        self._val_seconds = 0.0

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start, self._val_seconds = time.perf_counter(), 0.0

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._val_start = time.perf_counter()

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._val_start is not None and self._start is not None:
            self._val_seconds += time.perf_counter() - self._val_start
        self._val_start = None

    @rank_zero_only
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._start is None:
            return
        seconds = time.perf_counter() - self._start - self._val_seconds
        for logger in trainer.loggers:
            logger.log_metrics({"time/train_epoch_s": seconds, "epoch": trainer.current_epoch},
                               step=trainer.global_step)
        self._start = None


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


class WandbFigures(Callback):
    """When W&B is a logger, logs the run's figures at the end of training: the most influential
    learned synaptic curves of each synaptic layer (``figures/synapses_layer{k}``) and the per-layer
    firing-rate / threshold traces (``figures/firing_rates``, from ``firing_rates.jsonl``). The same
    figures as ``scripts/plot_synapses.py`` / ``plot_activity.py``; nothing happens without W&B.
    """

    def __init__(self, top: int = 12, max_layers: int = 4, rates_file: str = "firing_rates.jsonl") -> None:
        self.top, self.max_layers, self.rates_file = top, max_layers, rates_file

    @staticmethod
    def _wandb_loggers(trainer: Trainer) -> list:
        from lightning.pytorch.loggers import WandbLogger

        return [lg for lg in trainer.loggers if isinstance(lg, WandbLogger)]

    def figures(self, trainer: Trainer, pl_module: LightningModule) -> dict:
        """``{name: matplotlib figure}`` for this run (also usable without W&B)."""
        from .figures import firing_rate_figure, synapse_curves_figure, synapse_layers

        model = getattr(pl_module, "model", pl_module)
        figs = {}
        for k in range(min(len(synapse_layers(model)), self.max_layers)):
            figs[f"figures/synapses_layer{k}"], _ = synapse_curves_figure(model, k, self.top,
                                                                        title=type(model).__name__)
        rates = firing_rate_figure(os.path.join(trainer.default_root_dir, self.rates_file))
        if rates is not None:
            figs["figures/firing_rates"] = rates
        return figs

    @rank_zero_only
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        loggers = self._wandb_loggers(trainer)
        if not loggers:
            return
        import matplotlib.pyplot as plt
        import wandb

        figs = self.figures(trainer, pl_module)
        for lg in loggers:
            lg.experiment.log({name: wandb.Image(fig) for name, fig in figs.items()})
        for fig in figs.values():
            plt.close(fig)
