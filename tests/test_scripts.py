"""Benchmark, table and plot scripts at tiny sizes (``--quick`` / ``--small``): they run, print JSON
lines, and write their tables and PNGs. One tiny SRKAN training run on the demo set feeds the
table / synapse / activity scripts. No assertion on wall-clock time."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import benchmark_latency  # noqa: E402
import benchmark_model  # noqa: E402
import benchmark_memory  # noqa: E402
import make_tables  # noqa: E402
import plot_activity  # noqa: E402
import plot_synapses  # noqa: E402
import surrogate_bias  # noqa: E402


def _png(path: Path) -> bool:
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_latency_quick(tmp_path, capsys):
    out = tmp_path / "lat.jsonl"
    rows = benchmark_latency.main(["--quick", "--small", "--batch", "1", "2", "--T", "12", "--out", str(out)])
    assert {r["model"] for r in rows} == {"srkan", "kan", "mlp", "rnn", "lif_snn"}
    assert all(r["ms_per_sample"] > 0 and r["B"] in (1, 2) for r in rows)
    assert len(out.read_text().splitlines()) == 10
    assert "| srkan |" in capsys.readouterr().out


def test_benchmark_memory_quick_writes_plot(tmp_path):
    png = tmp_path / "mem.png"
    rows = benchmark_memory.main(["--small", "--T", "16", "36", "--B", "2", "--variants", "srkan_ckpt", "rnn",
                                  "--png", str(png)])
    assert [(r["variant"], r["T"]) for r in rows] == [("srkan_ckpt", 16), ("srkan_ckpt", 36), ("rnn", 16), ("rnn", 36)]
    assert all(r["peak_mib"] >= 0 for r in rows)
    assert rows[1]["chunk_size"] == 6  # ≈ √T
    assert _png(png)


def test_benchmark_model_chunk_sizes():
    rows = benchmark_model.main(["--batch", "2", "--repeats", "1", "--threads", "1", "--chunk-sizes", "7", "0"])
    assert [r["metric"] for r in rows] == ["train_step_ms_B2_checkpoint_off", "train_step_ms_B2_checkpoint_on_L7",
                                           "train_step_ms_B2_checkpoint_on_L0"]
    assert all(r["srkan"] > 0 and r["gru"] > 0 for r in rows)
    with pytest.raises(SystemExit):
        benchmark_model.main(["--chunk-sizes", "-2"])


def test_benchmark_memory_chunk_sizes(tmp_path):
    rows = benchmark_memory.main(["--small", "--T", "16", "--B", "2", "--variants", "srkan_ckpt", "rnn",
                                  "--chunk-sizes", "4", "0", "--png", str(tmp_path / "mem.png")])
    assert [(r["variant"], r["chunk_size"]) for r in rows] == [("srkan_ckpt_L4", 4), ("srkan_ckpt_L0", 0),
                                                               ("rnn", None)]
    with pytest.raises(SystemExit):
        benchmark_memory.main(["--small", "--chunk-sizes", "-1"])


def test_surrogate_bias_quick(tmp_path):
    png = tmp_path / "bias.png"
    rows = surrogate_bias.main(["--seeds", "1", "--sigmas", "0.2", "--noise", "6", "--n-in", "5", "--hidden", "3",
                                "--T", "8", "--B", "4", "--png", str(png)])
    assert {r["surrogate"] for r in rows} == {"saltation", "rectangle", "rectangle:5", "sigmoid", "atan"}
    assert {r["surrogate"]: r["slope"] for r in rows}["rectangle"] == 1.0
    assert {r["surrogate"]: r["slope"] for r in rows}["rectangle:5"] == 5.0
    with pytest.raises(SystemExit):
        surrogate_bias.main(["--quick", "--surrogates", "rectangle:-1"])
    assert all(-1.0 <= r["cosine"] <= 1.0 for r in rows)
    assert _png(png)


def test_surrogate_bias_fd_matches_autograd_on_a_smooth_loss():
    """The finite-difference machinery is right: on a smooth stand-in (no spikes) it equals autograd."""
    import torch

    net = surrogate_bias.SmallNet(5, 3, 4, 6, 4, seed=0)
    W = net.W.clone().requires_grad_(True)

    def smooth(Ws, _sur=None):  # same shapes, differentiable everywhere
        cur = torch.einsum("btn,knh->kbth", net.x, Ws)
        return torch.tanh(cur).pow(2).mean(dim=(1, 2, 3))

    net.losses = smooth
    eps = torch.zeros(1, *W.shape)
    fd = surrogate_bias.fd_gradient(net, eps, 1e-3, chunk=64).mean(0)
    smooth(W[None]).sum().backward()
    assert torch.allclose(fd, W.grad.flatten(), atol=1e-3, rtol=1e-2)


@pytest.mark.parametrize("name", ["srkan", "kan"])
def test_plot_synapses_untrained(tmp_path, name):
    png = tmp_path / f"syn_{name}.png"
    rows = plot_synapses.main(["--untrained", name, "--small", "--top", "4", "--out", str(png)])
    assert len(rows) == 4 and rows[0]["influence"] >= rows[-1]["influence"]
    assert _png(png)


@pytest.mark.parametrize("name", ["srkan", "lif_snn"])
def test_plot_activity_untrained(tmp_path, name):
    rows = plot_activity.main(["--untrained", name, "--small", "--T", "15", "--out", str(tmp_path / "act")])
    assert rows[0]["layer"] == "input" and len(rows) >= 2
    assert _png(tmp_path / "act_raster.png") and _png(tmp_path / "act_rates.png")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from test_framework_utils import compose_cfg, tiny_overrides

    from srkan.cli import train

    out = tmp_path_factory.mktemp("tiny_srkan")
    train(compose_cfg(out, tiny_overrides("srkan", "trainer.max_epochs=2")))
    assert (out / "config_resolved.yaml").exists()
    return out


def test_make_tables_accuracy_and_ablation(tiny_run, tmp_path):
    table = make_tables.main(["accuracy", str(tiny_run), "--test-last", "--out", str(tmp_path)])
    assert "| SRKAN |" in table and "test (final)" in table
    row = json.loads((tmp_path / "accuracy.jsonl").read_text().splitlines()[0])
    assert row["epochs"] == 2 and 0 <= row["test_best_ckpt"] <= 1 and 0 <= row["test_final"] <= 1
    assert row["params"] > 0 and row["epoch_s"] > 0  # EpochTimer's time/train_epoch_s from metrics.csv
    grouped = make_tables.main(["homeostasis", str(tiny_run), "--out", str(tmp_path)])
    assert "| ema_deadband | 1 (" in grouped and "s/epoch (train)" in grouped
    assert _png(tmp_path / "homeostasis.png")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config_resolved"):
        make_tables.main(["accuracy", str(tmp_path / "empty"), "--out", str(tmp_path)])


def test_plots_from_a_checkpoint(tiny_run, tmp_path):
    ckpt = tiny_run / "checkpoints" / "last.ckpt"
    rows = plot_synapses.main([str(ckpt), "--top", "3", "--out", str(tmp_path / "syn.png")])
    assert len(rows) == 3 and _png(tmp_path / "syn.png")
    act = plot_activity.main([str(ckpt), "--out", str(tmp_path / "act")])
    assert [r["layer"] for r in act] == ["input", "block0", "output"]
    assert _png(tmp_path / "act_rates.png")
