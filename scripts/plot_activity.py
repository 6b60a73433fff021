"""Spike rasters and firing-rate plots of a (trained) SRKAN or LIF-SNN.

For one input sample it records the spikes of every layer (input, each SRKAN block, the output layer)
with forward hooks, and writes
  * ``<out>_raster.png``: one raster per layer (time × neuron),
  * ``<out>_rates.png``: per-neuron firing-rate histograms per layer, and — when the checkpoint's run
    folder has ``firing_rates.jsonl`` — the per-layer mean rate and threshold per epoch.
Prints one JSON line per layer (mean rate, fraction silent / saturated).

    python scripts/plot_activity.py logs/train/runs/<run>/checkpoints/last.ckpt --sample 0   # a test sample of the run's data
    python scripts/plot_activity.py --untrained srkan --out logs/plots/activity_init          # random SHD-density input
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import build, load_checkpoint_model, save_figure, spikes  # noqa: E402


def record(model, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """``{layer: spikes [T, N]}`` for sample 0 of ``x``."""
    from srkan.nn.model import SRKANBlock
    from srkan.nn.neuron import AdaptiveLIF

    out: dict[str, list] = {}
    hooks = []

    def hook(name):
        def fn(_mod, _inp, res):
            out.setdefault(name, []).append(res[0].detach()[0])
        return fn

    blocks = [m for m in model.modules() if isinstance(m, SRKANBlock)]
    for k, b in enumerate(blocks):
        hooks.append(b.register_forward_hook(hook(f"block{k}")))
    if hasattr(model, "output") and isinstance(model.output, AdaptiveLIF):
        hooks.append(model.output.register_forward_hook(hook("output")))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    layers = {"input": x[0].float()}
    layers.update({k: torch.cat(v, 0) for k, v in out.items()})
    if len(layers) == 1 and hasattr(model, "fc_in"):  # LIF-SNN baseline: recompute its hidden spikes
        layers["hidden"] = _lif_hidden(model, x)
    return layers


def _lif_hidden(model, x):
    store = {}
    orig = model.readout.forward

    def grab(s):
        store["s"] = s.detach()[0]
        return orig(s)

    model.readout.forward = grab
    try:
        with torch.no_grad():
            model(x)
    finally:
        model.readout.forward = orig
    return store["s"]


def load_sample(run_cfg: dict, index: int) -> tuple[torch.Tensor, int]:
    import hydra
    from omegaconf import OmegaConf

    dm = hydra.utils.instantiate(OmegaConf.create(run_cfg["data"]), _convert_="all")
    dm.prepare_data()
    dm.setup("test")
    x, y = next(iter(dm.test_dataloader()))
    return x[index:index + 1], int(y[index])


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt", nargs="?")
    ap.add_argument("--untrained", choices=["srkan", "lif_snn"])
    ap.add_argument("--sample", type=int, default=0, help="index into the first test batch")
    ap.add_argument("--T", type=int, default=100, help="steps of the random input (--untrained)")
    ap.add_argument("--out", default="logs/plots/activity")
    ap.add_argument("--small", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if bool(args.ckpt) == bool(args.untrained):
        ap.error("give a checkpoint or --untrained NAME (one of them)")
    rates_log = []
    if args.ckpt:
        model, run_cfg = load_checkpoint_model(args.ckpt)
        x, label = load_sample(run_cfg, args.sample)
        title = f"{Path(args.ckpt).name}, test sample {args.sample} (label {label})"
        jl = Path(args.ckpt).resolve().parents[1] / "firing_rates.jsonl"
        if jl.exists():
            rates_log = [json.loads(line) for line in jl.read_text().splitlines() if line.strip()]
    else:
        small = {"srkan": dict(n_hidden=8, n_layers=1, n_proj=8), "lif_snn": dict(n_hidden=8)}[args.untrained] if args.small else {}
        model = build(args.untrained, T=args.T, **small).eval()
        x = spikes(1, args.T)
        title = f"untrained {args.untrained}, random input"
    layers = record(model, x)
    rows = []
    for name, s in layers.items():
        r = s.float().mean(0)
        row = {"plot": "activity", "layer": name, "neurons": s.shape[1], "mean_rate": float(r.mean()),
               "silent": float((r == 0).float().mean()), "saturated": float((r > 0.9).float().mean())}
        print(json.dumps(row))
        rows.append(row)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(layers)
    fig, axes = plt.subplots(n, 1, figsize=(8, 1.8 * n + 0.6), squeeze=False, sharex=True)
    for ax, (name, s) in zip(axes[:, 0], layers.items()):
        t, i = torch.nonzero(s > 0, as_tuple=True)
        ax.scatter(t, i, s=0.6, c="k", marker="|", linewidths=0.5)
        ax.set_ylabel(f"{name}\nneuron", fontsize=8)
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, f"{args.out}_raster.png")

    hidden = {k: v for k, v in layers.items() if k != "input"}
    ncol = 1 + (2 if rates_log else 0)
    fig, axes = plt.subplots(1, ncol, figsize=(4.2 * ncol, 3.4), squeeze=False)
    for name, s in hidden.items():
        axes[0, 0].hist(s.float().mean(0).numpy(), bins=20, range=(0, 1), alpha=0.5, label=name)
    axes[0, 0].set_xlabel("firing rate (spikes/step), this sample")
    axes[0, 0].set_ylabel("neurons")
    axes[0, 0].legend(fontsize=8)
    if rates_log:
        keys = sorted({k.split("/")[2] for e in rates_log for k in e if k.startswith("val/layers/")})
        for k in keys:
            axes[0, 1].plot([e.get(f"val/layers/{k}/rate") for e in rates_log], label=k)
            axes[0, 2].plot([e.get(f"val/layers/{k}/threshold") for e in rates_log], label=k)
        axes[0, 1].set_title("mean rate per epoch (val)")
        axes[0, 2].set_title("mean threshold per epoch")
        for ax in axes[0, 1:]:
            ax.set_xlabel("epoch")
            ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, f"{args.out}_rates.png")
    print(f"plots: {args.out}_raster.png, {args.out}_rates.png")
    return rows


if __name__ == "__main__":
    main()
