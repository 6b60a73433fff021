"""End-to-end training through the real CLI functions (in-process, composed like train.py / eval.py):
fast_dev_run of every model config, train -> eval, exact resume, same seed -> same metrics,
bf16-mixed on CPU, W&B run finished with a failing exit code when the job raises."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from srkan.cli import evaluate, train
from srkan.lit import NonFiniteLossError, SpikeClassifier
from test_framework_utils import CONFIGS, compose_cfg, tiny_overrides

MODEL_CONFIGS = sorted(p.stem for p in (Path(CONFIGS) / "model").glob("*.yaml"))
TWO_EPOCHS = ["trainer.max_epochs=2", "trainer.limit_train_batches=2", "~logger"]


def _weights(path: str) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["state_dict"]


@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_fast_dev_run_every_model_config(tmp_path, model):
    cfg = compose_cfg(tmp_path, tiny_overrides(model, "debug=fdr"))
    metrics, obj = train(cfg)
    assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["test/loss"])
    assert 0.0 <= metrics["test/acc"] <= 1.0


def test_train_then_eval_same_test_acc(tmp_path):
    cfg = compose_cfg(tmp_path / "train", tiny_overrides("rnn", "trainer.max_epochs=2"))
    metrics, obj = train(cfg)
    out = Path(obj["output_dir"])
    best = obj["best_ckpt"]
    assert Path(best).is_file() and (out / "checkpoints" / "last.ckpt").is_file()
    assert (out / "config_resolved.yaml").is_file()
    assert list(out.glob("csv/*/metrics.csv")), "metrics.csv missing from the run folder"
    ckpt = torch.load(best, map_location="cpu", weights_only=True)  # our checkpoints are weights_only-safe
    assert ckpt["hyper_parameters"]["run_config"]["model"]["n_hidden"] == 8
    for key in ("train/acc", "val/acc", "val/acc_best", "test/acc"):
        assert key in metrics

    # eval.py ckpt_path=...: model and data rebuilt from the checkpoint's stored config
    ecfg = compose_cfg(tmp_path / "eval", [f"ckpt_path={best}", "extras.print_config=false",
                                           "trainer.enable_progress_bar=false"], config_name="eval.yaml")
    emetrics, _ = evaluate(ecfg)
    assert emetrics["test/acc"] == metrics["test/acc"]
    assert emetrics["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-6)


@pytest.mark.parametrize("model", [m for m in ("rnn", "srkan") if m in MODEL_CONFIGS])
def test_resume_is_exact(tmp_path, model):
    # uninterrupted 2-epoch run
    full, fobj = train(compose_cfg(tmp_path / "full", tiny_overrides(model, *TWO_EPOCHS)))
    # same run stopped after epoch 1 (2 steps), then resumed from last.ckpt
    _, iobj = train(compose_cfg(tmp_path / "part", tiny_overrides(model, *TWO_EPOCHS, "trainer.max_steps=2", "test=false")))
    last = Path(iobj["output_dir"]) / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["epoch"] == 0
    # resumed in the same run folder (hydra.run.dir=<run>), so the best-checkpoint tracking continues too
    resumed, robj = train(compose_cfg(tmp_path / "part", tiny_overrides(model, *TWO_EPOCHS, f"ckpt_path={last}")))
    a = _weights(str(Path(fobj["output_dir"]) / "checkpoints" / "last.ckpt"))
    b = _weights(str(Path(robj["output_dir"]) / "checkpoints" / "last.ckpt"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs after resume"
    for k in ("train/loss", "val/acc", "val/loss", "val/acc_best", "test/acc", "test/loss"):
        assert resumed[k] == full[k], k


def test_same_seed_same_metrics(tmp_path):
    m1, _ = train(compose_cfg(tmp_path / "a", tiny_overrides("rnn", *TWO_EPOCHS, "seed=7")))
    m2, _ = train(compose_cfg(tmp_path / "b", tiny_overrides("rnn", *TWO_EPOCHS, "seed=7")))
    assert m1 == m2
    m3, _ = train(compose_cfg(tmp_path / "c", tiny_overrides("rnn", *TWO_EPOCHS, "seed=8")))
    assert m3["train/loss"] != m1["train/loss"]


def test_bf16_mixed_on_cpu(tmp_path):
    cfg = compose_cfg(tmp_path, tiny_overrides("rnn", "trainer.precision=bf16-mixed", "trainer.max_epochs=1",
                                               "trainer.limit_train_batches=2", "~logger"))
    metrics, obj = train(cfg)
    assert obj["trainer"].precision == "bf16-mixed"
    assert math.isfinite(metrics["train/loss"]) and math.isfinite(metrics["test/loss"])


def test_wandb_job_that_raises_finishes_run_with_failing_exit_code(tmp_path, monkeypatch):
    import wandb

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    calls = []
    real_finish = wandb.finish

    def finish(*args, **kwargs):
        calls.append(kwargs.get("exit_code", args[0] if args else None))
        return real_finish(*args, **kwargs)

    monkeypatch.setattr(wandb, "finish", finish)
    monkeypatch.setattr(SpikeClassifier, "forward", lambda self, x: torch.full(
        (x.shape[0], x.shape[1], 4), float("nan"), requires_grad=True))
    cfg = compose_cfg(tmp_path / "run", tiny_overrides("rnn", "logger=wandb", "trainer.max_epochs=1"))
    with pytest.raises(NonFiniteLossError, match="loss is nan"):
        train(cfg)
    assert calls == [1]
    assert wandb.run is None
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*")), "no offline W&B run written"


def test_train_main_returns_optimized_metric(tmp_path):
    from srkan.cli import train_main

    cfg = compose_cfg(tmp_path, tiny_overrides("rnn", "debug=fdr", "optimized_metric=val/acc_best"))
    value = train_main(cfg)
    assert isinstance(value, float) and 0.0 <= value <= 1.0


def test_logger_many_writes_csv_tensorboard_and_offline_wandb(tmp_path, offline_wandb):
    pytest.importorskip("tensorboard")
    cfg = compose_cfg(tmp_path, tiny_overrides("rnn", "logger=many", "trainer.max_epochs=1",
                                               "trainer.limit_train_batches=1", "test=false"))
    train(cfg)
    assert list(tmp_path.glob("csv/*/metrics.csv"))
    assert list(tmp_path.glob("tensorboard/**/events.out.tfevents.*"))
    assert list(tmp_path.glob("wandb/offline-run-*"))
    import os
    assert os.environ["WANDB_MODE"] == "offline"  # restored after the job


def test_wandb_logger_gets_synapse_and_firing_rate_figures(tmp_path, offline_wandb):
    cfg = compose_cfg(tmp_path, tiny_overrides("srkan", "logger=wandb", "trainer.max_epochs=1",
                                               "trainer.limit_train_batches=1", "test=false"))
    train(cfg)
    names = sorted(p.name for p in tmp_path.glob("wandb/offline-run-*/files/media/images/**/*.png"))
    assert any(n.startswith("synapses_layer0") for n in names), names
    assert any(n.startswith("firing_rates") for n in names), names


def test_figures_without_wandb(tmp_path):
    from srkan import SRKAN
    from srkan.lit.figures import firing_rate_figure, synapse_curves_figure, top_synapse_edges

    model = SRKAN(n_in=12, n_hidden=6, n_out=3, n_layers=2, n_proj=6)
    fig, edges = synapse_curves_figure(model, layer_index=1, top=5)
    assert len(edges) == 5 and all(0 <= i < 6 and 0 <= j < 6 for i, j, _ in edges)
    z, phi, _, _ = top_synapse_edges(model, 0, top=3, points=50)
    assert phi.shape == (50, 6, 6)
    with pytest.raises(ValueError, match="synaptic layers"):
        synapse_curves_figure(model, layer_index=2)
    assert firing_rate_figure(tmp_path / "missing.jsonl") is None
    (tmp_path / "r.jsonl").write_text('{"epoch": 0, "val/layers/block0/rate": 0.1, "val/layers/block0/threshold": 1.0}\n'
                                      '{"epoch": 1, "val/layers/block0/rate": 0.12, "val/layers/block0/threshold": 0.9}\n')
    assert firing_rate_figure(tmp_path / "r.jsonl") is not None
