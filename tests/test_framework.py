"""Framework unit tests: LightningModule (loss options, metrics, layer stats, non-finite loss),
baselines, config composition, and every refusal before training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException
from lightning.pytorch import Trainer
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from srkan.cli import ConfigError, build_model, train, wandb_api_key_configured
from srkan.lit import NonFiniteLossError, SpikeClassifier, layer_summary
from srkan.nn.baselines import MLPClassifier, RNNClassifier
from test_framework_utils import CONFIGS, compose_cfg, tiny_overrides


def _has_srkan() -> bool:
    try:
        from srkan import SRKAN  # noqa: F401
    except Exception:  # noqa: BLE001
        return False
    return (Path(CONFIGS) / "model" / "srkan.yaml").is_file()


# ----------------------------------------------------------------------------- baselines
def test_baseline_sizes_and_shapes():
    rnn, mlp = RNNClassifier(700, 20), MLPClassifier(700, 20, T=100)
    assert sum(p.numel() for p in rnn.parameters()) == 518_804  # ~520 K
    assert sum(p.numel() for p in mlp.parameters()) == 18_205_480  # ~18.2 M
    x = torch.randint(0, 2, (2, 100, 700), dtype=torch.uint8)
    assert rnn(x).shape == (2, 100, 20)
    assert mlp(x).shape == (2, 1, 20)
    assert RNNClassifier(700, 20, cell="lstm", n_hidden=8)(x.bool()).shape == (2, 100, 20)
    with pytest.raises(ValueError, match=r"\[B, T, 700\].*\[2, 100, 699\]"):
        rnn(torch.zeros(2, 100, 699))
    with pytest.raises(ValueError, match=r"T=100"):
        mlp(torch.zeros(2, 50, 700))


# ----------------------------------------------------------------------------- LightningModule
class _Stub(nn.Module):
    """forward returns 'spikes' that carry no gradient; readout_membrane is the differentiable output."""

    def __init__(self, n_in=6, n_out=3):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)
        self.membrane_calls = 0

    def forward(self, x):
        return (self.lin(x.float()) > 0).float()

    def readout_membrane(self, x):
        self.membrane_calls += 1
        self._rate = torch.tensor([0.0, 0.5, 0.95, 0.2])
        return self.lin(x.float())

    def layer_stats(self):
        return {"block0": {"rate": self._rate, "threshold": torch.tensor([1.0, 2.0, 3.0, 2.0])}}


def _opt(params):
    return torch.optim.SGD(params, lr=0.1)


def test_layer_summary():
    s = layer_summary({"l": {"rate": torch.tensor([0.0, 0.5, 0.95, 0.2]), "threshold": torch.tensor([1.0, 3.0])}})
    assert s["l/rate"].item() == pytest.approx(0.4125)
    assert s["l/silent"].item() == pytest.approx(0.25)
    assert s["l/saturated"].item() == pytest.approx(0.25)
    assert s["l/threshold"].item() == pytest.approx(2.0)


def test_module_loss_options_and_membrane():
    torch.manual_seed(0)
    x = torch.randint(0, 2, (4, 5, 6), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 1])
    stub = _Stub()
    m = SpikeClassifier(stub, num_classes=3, optimizer=_opt)
    loss, _, _ = m.model_step((x, y))
    v = stub.lin(x.float())
    assert stub.membrane_calls == 1  # readout_membrane, not forward
    assert torch.allclose(loss, nn.functional.cross_entropy(v.mean(1), y))
    m = SpikeClassifier(stub, num_classes=3, optimizer=_opt, time_reduce="max", label_smoothing=0.1)
    loss, _, _ = m.model_step((x, y))
    assert torch.allclose(loss, nn.functional.cross_entropy(v.amax(1), y, label_smoothing=0.1))
    with pytest.raises(ValueError, match="time_reduce"):
        SpikeClassifier(stub, num_classes=3, optimizer=_opt, time_reduce="median")


def _loader(n=16, T=5, C=6, n_cls=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 2, (n, T, C), dtype=torch.uint8, generator=g)
    y = torch.randint(0, n_cls, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=8)


def _trainer(tmp_path, **kw):
    return Trainer(default_root_dir=tmp_path, max_epochs=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, **kw)


def test_module_logs_metrics_and_layer_stats(tmp_path):
    sched = lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1)  # noqa: E731
    m = SpikeClassifier(_Stub(), num_classes=3, optimizer=_opt, scheduler=sched)
    trainer = _trainer(tmp_path)
    trainer.fit(m, _loader(), _loader())
    got = dict(trainer.callback_metrics)
    trainer.test(m, _loader())
    got.update(trainer.callback_metrics)
    for key in ("train/acc", "train/loss", "val/acc", "val/acc_best", "val/loss", "test/acc", "test/loss"):
        assert key in got, key
    assert 0 < got["train/grad_norm"].item() < float("inf")
    for stage in ("train", "val", "test"):
        assert got[f"{stage}/layers/block0/rate"].item() == pytest.approx(0.4125)
        assert got[f"{stage}/layers/block0/silent"].item() == pytest.approx(0.25)
        assert got[f"{stage}/layers/block0/saturated"].item() == pytest.approx(0.25)
        assert got[f"{stage}/layers/block0/threshold"].item() == pytest.approx(2.0)


def test_epoch_timer_logs_train_seconds_to_the_loggers_only(tmp_path):
    import csv

    from lightning.pytorch.loggers import CSVLogger

    from srkan.lit.callbacks import EpochTimer

    m = SpikeClassifier(_Stub(), num_classes=3, optimizer=_opt)
    trainer = Trainer(default_root_dir=tmp_path, max_epochs=2, logger=CSVLogger(tmp_path), callbacks=[EpochTimer()],
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(m, _loader(), _loader())
    rows = list(csv.DictReader(open(next(tmp_path.glob("lightning_logs/version_*/metrics.csv")))))
    times = {int(r["epoch"]): float(r["time/train_epoch_s"]) for r in rows if r.get("time/train_epoch_s")}
    assert sorted(times) == [0, 1] and all(t > 0 for t in times.values())
    # wall time stays out of callback_metrics: it must not steer checkpointing or break same-seed comparisons
    assert "time/train_epoch_s" not in trainer.callback_metrics


def test_overflowing_gradients_are_logged_and_warned(tmp_path, caplog):
    class Overflow(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, g):
            return g * 1e25  # finite, but the global norm overflows float32

    class Steep(_Stub):
        def readout_membrane(self, x):
            return Overflow.apply(super().readout_membrane(x))

    m = SpikeClassifier(Steep(), num_classes=3, optimizer=_opt)
    trainer = _trainer(tmp_path, gradient_clip_val=1.0)
    with caplog.at_level("WARNING", logger="srkan.lit.module"):
        trainer.fit(m, _loader())
    assert not torch.isfinite(trainer.callback_metrics["train/grad_norm"])
    assert all(torch.isfinite(p).all() for p in m.parameters())  # clipping turned them into zero updates
    assert any("train/grad_norm was" in r.getMessage() and "detach_reset" in r.getMessage() for r in caplog.records)


def test_nonfinite_loss_stops_with_clear_message(tmp_path):
    class NaNModel(_Stub):
        def readout_membrane(self, x):
            return super().readout_membrane(x) * float("nan")

    m = SpikeClassifier(NaNModel(), num_classes=3, optimizer=_opt)
    with pytest.raises(NonFiniteLossError, match=r"training loss is nan at epoch 0, batch 0.*learning rate"):
        _trainer(tmp_path).fit(m, _loader())


def test_failing_job_writes_its_traceback_to_the_job_log(tmp_path, monkeypatch, caplog):
    from srkan.cli import train_main

    def broken_forward(self, x):
        raise RuntimeError("boom in forward")

    monkeypatch.setattr(SpikeClassifier, "forward", broken_forward)
    cfg = compose_cfg(tmp_path, tiny_overrides("rnn", "trainer.max_epochs=1", "~logger"))
    with caplog.at_level("ERROR", logger="srkan"), pytest.raises(RuntimeError, match="boom in forward"):
        train_main(cfg)
    failures = [r for r in caplog.records if "training failed" in r.getMessage()]
    assert failures and failures[0].exc_info and "boom in forward" in str(failures[0].exc_info[1])


# ----------------------------------------------------------------------------- refusals
def _refused(tmp_path, overrides, match):
    cfg = compose_cfg(tmp_path / "run", tiny_overrides("rnn", *overrides), tiny_model=False)
    with pytest.raises(ConfigError, match=match):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before any training


@pytest.mark.parametrize("override", ["model.gird=3", "trainr.max_epochs=1", "module.optimizer.lrr=0.1"])
def test_refuse_unknown_override_keys(tmp_path, override):
    with pytest.raises(ConfigCompositionException, match=rf"Could not override '{override.split('=')[0]}'"):
        compose_cfg(tmp_path, tiny_overrides("rnn", override))


def test_refuse_model_data_mismatch(tmp_path):
    _refused(tmp_path, ["model.n_in=699"], r"^model\.n_in=699 does not match the data's 700 input channels")
    _refused(tmp_path, ["model.n_out=7"], r"^model\.n_out=7 does not match the data's 4 classes")
    # through the entry point of train.py: exit code 2, nothing trained
    from srkan.cli import train_main

    with pytest.raises(SystemExit) as exc:
        train_main(compose_cfg(tmp_path / "run2", tiny_overrides("rnn", "model.n_in=699"), tiny_model=False))
    assert exc.value.code == 2
    assert not (tmp_path / "run2" / "checkpoints").exists()


def test_refuse_bad_model_value_names_key(tmp_path):
    _refused(tmp_path, ["model.cell=transformer"], r"^model\.cell: cell must be 'gru' or 'lstm'")
    _refused(tmp_path, ["model.n_hidden=0"], r"^model\.n_hidden: ")


def test_refuse_missing_checkpoint(tmp_path):
    _refused(tmp_path, [f"ckpt_path={tmp_path}/nope.ckpt"], r"^ckpt_path: checkpoint file not found")


@pytest.mark.skipif(not _has_srkan(), reason="srkan.SRKAN / configs/model/srkan.yaml not available yet")
@pytest.mark.parametrize(
    "override,key",
    [
        ("model.grid=0", "model.grid"),
        ("model.grid=-2", "model.grid"),
        ("model.chunk_size=-1", "model.chunk_size"),
        ("model.homeostasis=magic", "model.homeostasis"),
        ("model.surrogate=magic", "model.surrogate"),
        ("model.basis=magic", "model.basis"),
        ("model.detach_reset=maybe", "model.detach_reset"),
        ("model.surrogate_slope=0", "model.surrogate_slope"),
    ],
)
def test_refuse_bad_srkan_values(tmp_path, override, key):
    cfg = compose_cfg(tmp_path / "run", tiny_overrides("srkan", override))
    with pytest.raises(ConfigError, match=rf"^{key}: "):
        train(cfg)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_build_model_maps_errors_to_keys():
    with pytest.raises(ConfigError, match=r"^model\.dropout: dropout must be in \[0, 1\)"):
        build_model({"_target_": "srkan.nn.baselines.RNNClassifier", "n_in": 7, "n_out": 2, "dropout": 1.5})
    with pytest.raises(ConfigError, match=r"^model\.wings: .*unexpected keyword argument 'wings'"):
        build_model({"_target_": "srkan.nn.baselines.RNNClassifier", "n_in": 7, "n_out": 2, "wings": 2})


def test_wandb_key_detection_reads_env_and_netrc(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / "netrc"))
    assert not wandb_api_key_configured()
    (tmp_path / "netrc").write_text("machine api.wandb.ai\n  login user\n  password abc123\n")
    assert wandb_api_key_configured()
    (tmp_path / "netrc").unlink()
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert wandb_api_key_configured()


def test_every_config_group_composes(tmp_path):
    """Each trainer / logger / debug / launcher option composes (training for them is tested elsewhere)."""
    for extra in (["trainer=cpu"], ["trainer=gpu"], ["trainer=ddp", "trainer.num_nodes=2"], ["logger=many"],
                  ["logger=tensorboard"], ["logger=wandb"], ["debug=fdr"], ["debug=limit"], ["debug=overfit"],
                  ["debug=profiler"], ["experiment=rnn_shd", "data=demo"], ["trainer.precision=16-mixed"]):
        cfg = compose_cfg(tmp_path, tiny_overrides("rnn", *extra))
        assert cfg.trainer._target_.endswith("Trainer")
    cfg = compose_cfg(tmp_path, tiny_overrides("rnn", "trainer=ddp", "trainer.num_nodes=2"))
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.num_nodes == 2
