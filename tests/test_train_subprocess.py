"""What needs a real process: a Hydra multirun (two complete job folders, one offline W&B run each,
no API key, stdin never read) and DDP with two CPU processes (gloo)."""

from __future__ import annotations

import os
import subprocess as sp
import sys
from pathlib import Path

import torch

from test_framework_utils import ROOT, run_script, tiny_overrides

RNN_TINY = ["model.n_hidden=8", "trainer.max_epochs=1", "trainer.limit_train_batches=2"]


def _no_wandb_account(tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(HOME=str(tmp_path / "home"), NETRC=str(tmp_path / "home" / "no-netrc"), WANDB_SILENT="true")
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


def test_multirun_two_jobs_each_complete_with_own_offline_wandb_run(tmp_path):
    env = _no_wandb_account(tmp_path)
    sweep = tmp_path / "sweep"
    args = ["-m", *tiny_overrides("rnn", *RNN_TINY[1:], "logger=wandb", "model.n_hidden=8,12",
                                   f"hydra.sweep.dir={sweep}")]
    # stdin is a pipe that is never written to nor closed: any read would hang until the timeout
    p = sp.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=str(tmp_path), env={**env, "PYTHONUNBUFFERED": "1"},
                 stdin=sp.PIPE, stdout=sp.PIPE, stderr=sp.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=240)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, out[-4000:]
    assert out.count("W&B: no API key configured, logging offline") == 2, out[-4000:]
    assert "wandb sync" in out
    run_ids = set()
    for job, hidden in (("0", 8), ("1", 12)):
        d = sweep / job
        assert (d / ".hydra" / "config.yaml").is_file()
        assert (d / "config_resolved.yaml").is_file()
        assert f"n_hidden: {hidden}" in (d / "config_resolved.yaml").read_text()
        assert (d / "checkpoints" / "last.ckpt").is_file()
        assert list((d / "checkpoints").glob("epoch_*.ckpt"))
        assert (d / "train.log").is_file()
        runs = list((d / "wandb").glob("offline-run-*"))
        assert len(runs) == 1, runs
        run_ids.add(runs[0].name.rsplit("-", 1)[-1])
    assert len(run_ids) == 2


def test_ddp_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "run"
    args = [*tiny_overrides("rnn", *RNN_TINY, "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
                            "~logger", f"hydra.run.dir={run_dir}")]
    res = run_script("train.py", args, cwd=tmp_path, timeout=300, env={"OMP_NUM_THREADS": "1"})
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert "distributed_backend=gloo" in out and "All distributed processes registered" in out, out[-4000:]
    assert "Starting with 2 processes" in out or "MEMBER: 2/2" in out, out[-4000:]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2
