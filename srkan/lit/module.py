"""LightningModule wrapping any spiking / sequence classifier.

The module owns the training loop's concerns — loss, metrics, optimiser and schedule, per-layer
firing-rate logging, exact-resume RNG bookkeeping — and never the model math.

Model contract: ``model(x)`` maps ``[B, T, C]`` frames to per-step outputs ``[B, T', n_out]``.
If the model has ``readout_membrane(x)`` (SRKAN: ``forward`` returns binary spikes, the membrane is
the differentiable readout) that method is used for loss and metrics instead of ``forward``.
If it has ``layer_stats()`` (returning ``{layer: {"rate": Tensor[n], "threshold": Tensor[n]}}`` after
a forward pass) the per-layer mean rate, mean threshold and the fraction of silent (rate == 0) and
saturated (rate > 0.9) neurons are logged under ``{stage}/layers/{layer}/...``.
"""

from __future__ import annotations

import logging
import random
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn
from torchmetrics import MaxMetric, MeanMetric
from torchmetrics.classification import MulticlassAccuracy

log = logging.getLogger(__name__)

__all__ = ["SpikeClassifier", "NonFiniteLossError", "layer_summary"]

SATURATION_RATE = 0.9


class NonFiniteLossError(FloatingPointError):
    """Raised when the training or validation loss is NaN or infinite."""


def layer_summary(stats: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Reduce ``model.layer_stats()`` to scalars: mean rate / threshold, fraction silent / saturated."""
    out: dict[str, torch.Tensor] = {}
    for layer, d in stats.items():
        rate = d.get("rate")
        if rate is not None:
            rate = rate.detach().float()
            out[f"{layer}/rate"] = rate.mean()
            out[f"{layer}/silent"] = (rate == 0).float().mean()
            out[f"{layer}/saturated"] = (rate > SATURATION_RATE).float().mean()
        thr = d.get("threshold")
        if thr is not None:
            out[f"{layer}/threshold"] = thr.detach().float().mean()
    return out


class SpikeClassifier(LightningModule):
    """Classification of ``[B, T, C]`` spike frames with cross-entropy on time-reduced outputs.

    Args:
        model: the network (any ``nn.Module`` following the contract above).
        num_classes: number of classes (for the accuracy metrics).
        optimizer: a partial ``optimizer(params) -> torch.optim.Optimizer`` (Hydra ``_partial_: true``).
        scheduler: optional partial ``scheduler(optimizer) -> LRScheduler``.
        scheduler_interval / scheduler_monitor: how Lightning steps the scheduler.
        time_reduce: ``"mean"`` (default) or ``"max"`` over the time axis before cross-entropy.
        label_smoothing: cross-entropy label smoothing.
        log_layer_stats: log ``model.layer_stats()`` when the model has it.
        run_config: plain-container run config stored in the checkpoint's hyper-parameters
            (``eval.py`` rebuilds the model from it); must hold only primitives.
    """

    def __init__(
        self,
        model: nn.Module,
        num_classes: int,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Optional[Callable[..., Any]] = None,
        scheduler_interval: str = "epoch",
        scheduler_monitor: str = "val/loss",
        time_reduce: str = "mean",
        label_smoothing: float = 0.0,
        log_layer_stats: bool = True,
        run_config: Optional[dict] = None,
    ) -> None:
        super().__init__()
        if time_reduce not in ("mean", "max"):
            raise ValueError(f"time_reduce must be 'mean' or 'max', got {time_reduce!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"scheduler_interval must be 'epoch' or 'step', got {scheduler_interval!r}")
        # only primitives go into the checkpoint (so it loads with torch.load(weights_only=True))
        self.save_hyperparameters(ignore=["model", "optimizer", "scheduler"], logger=False)
        self.model = model
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.train_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.test_acc = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.train_loss, self.val_loss, self.test_loss = MeanMetric(), MeanMetric(), MeanMetric()
        self.val_acc_best = MaxMetric()
        self._use_membrane = callable(getattr(model, "readout_membrane", None))

    # ------------------------------------------------------------------ forward / loss
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step outputs used for the loss: ``readout_membrane(x)`` if the model has it, else ``model(x)``."""
        out = self.model.readout_membrane(x) if self._use_membrane else self.model(x)
        if out.dim() != 3:
            raise ValueError(
                f"{type(self.model).__name__} must return per-step outputs [B, T', n_out]; got shape {list(out.shape)}"
            )
        return out

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        return out.mean(dim=1) if self.hparams.time_reduce == "mean" else out.amax(dim=1)

    def model_step(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, y = batch
        logits = self.logits(self(x)).float()
        loss = F.cross_entropy(logits, y, label_smoothing=self.hparams.label_smoothing)
        return loss, logits.argmax(dim=-1), y

    def _check_finite(self, loss: torch.Tensor, stage: str, batch_idx: int) -> None:
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"{stage} loss is {loss.item()} at epoch {self.current_epoch}, batch {batch_idx} "
                f"(global step {self.global_step}); stopping. Try a lower learning rate "
                f"(module.optimizer.lr), gradient clipping (trainer.gradient_clip_val), "
                f"model.detach_reset=true or a less steep surrogate (model.surrogate_slope) for SRKAN, "
                f"trainer.precision=32-true, or debug=default (anomaly detection)."
            )

    def _log_layers(self, stage: str, batch_size: int) -> None:
        if not self.hparams.log_layer_stats:
            return
        fn = getattr(self.model, "layer_stats", None)
        if not callable(fn):
            return
        summary = layer_summary(fn())
        if summary:
            self.log_dict(
                {f"{stage}/layers/{k}": v for k, v in summary.items()},
                on_step=False,
                on_epoch=True,
                sync_dist=True,
                batch_size=batch_size,
            )

    # ------------------------------------------------------------------ steps
    def on_train_start(self) -> None:
        # the sanity-check validation must not leak into the metrics
        self.val_loss.reset()
        self.val_acc.reset()
        self.val_acc_best.reset()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, preds, y = self.model_step(batch)
        self._check_finite(loss, "training", batch_idx)
        self.train_loss(loss)
        self.train_acc(preds, y)
        self.log("train/loss", self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, prog_bar=True)
        self._log_layers("train", y.shape[0])
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the global 2-norm of the gradients (before clipping) as ``train/grad_norm`` (epoch mean)."""
        norms = [torch.linalg.vector_norm(p.grad.detach().float()) for p in self.parameters() if p.grad is not None]
        if norms:
            self.log("train/grad_norm", torch.linalg.vector_norm(torch.stack(norms)), on_step=False, on_epoch=True)

    def on_train_epoch_end(self) -> None:
        # checked once per epoch (no per-step device sync): an overflowing norm is otherwise silent, since
        # gradient clipping turns it into a zero update and training just stops moving
        norm = self.trainer.callback_metrics.get("train/grad_norm")
        if norm is not None and not torch.isfinite(norm):
            log.warning(
                "train/grad_norm was %s in epoch %d: gradients overflowed in at least one step (with "
                "clipping, huge finite gradients become zero updates, so training stalls; infinite ones "
                "make the weights NaN). Usual causes: the gradient through the neurons' soft reset "
                "(model.detach_reset=true removes it), a steep surrogate (model.surrogate_slope; the "
                "rectangle's height is its slope), a high module.optimizer.lr, or fp16 without loss "
                "scaling.", float(norm), self.current_epoch)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss, preds, y = self.model_step(batch)
        self._check_finite(loss, "validation", batch_idx)
        self.val_loss(loss)
        self.val_acc(preds, y)
        self.log("val/loss", self.val_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log("val/acc", self.val_acc, on_step=False, on_epoch=True, prog_bar=True)
        self._log_layers("val", y.shape[0])

    def on_validation_epoch_end(self) -> None:
        acc = self.val_acc.compute()
        self.val_acc_best(acc)
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True, prog_bar=True)

    def test_step(self, batch: Any, batch_idx: int) -> None:
        loss, preds, y = self.model_step(batch)
        self.test_loss(loss)
        self.test_acc(preds, y)
        self.log("test/loss", self.test_loss, on_step=False, on_epoch=True)
        self.log("test/acc", self.test_acc, on_step=False, on_epoch=True)
        self._log_layers("test", y.shape[0])

    # ------------------------------------------------------------------ optimisation
    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=[p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return {"optimizer": optimizer}
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": scheduler,
                "interval": self.hparams.scheduler_interval,
                "monitor": self.hparams.scheduler_monitor,
                "frequency": 1,
            },
        }

    # ------------------------------------------------------------------ exact resume
    # Lightning restores weights, optimiser, schedulers, loops and callbacks but not the RNG streams
    # that shuffle batches and drive dropout / augmentation. They are saved with every checkpoint (as
    # tensors and ints only, so the file still loads with weights_only=True) and restored as soon as
    # the checkpoint is loaded, before the first training iterator of the resumed run is created.
    # The CLI skips the sanity-check validation when resuming: it would draw from the same streams.
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        py_state = random.getstate()
        np_state = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "python": [py_state[0], list(py_state[1]), py_state[2]],
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                      int(np_state[3]), float(np_state[4])],
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        checkpoint["rng_states"] = state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        state = checkpoint.get("rng_states")
        fitting = self._trainer is not None and self._trainer.state.fn == TrainerFn.FITTING
        if not state or not fitting:  # only a resumed fit continues the streams (not test / predict)
            return
        torch.set_rng_state(state["torch"])
        py = state["python"]
        random.setstate((py[0], tuple(py[1]), py[2]))
        npst = state["numpy"]
        np.random.set_state((npst[0], npst[1].numpy().astype(np.uint32), npst[2], npst[3], npst[4]))
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
