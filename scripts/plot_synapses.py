"""Plot a checkpoint's learned synaptic curves φ_ij(z) — the KAN's interpretability — for the most
influential edges.

Influence of edge i→j = mean |φ_ij(z)| over the grid range (a data-free proxy of its contribution;
the normalised synaptic state is ~N(0, 1) by construction). Works for SRKAN (``ModalSynapse`` of each
block) and the KAN baseline (``KANLayer``). Writes a PNG grid of the top-k curves and prints JSON lines
(edge, influence). ``--wandb`` also logs the figure to the active/offline W&B run of ``--wandb-dir``.

    python scripts/plot_synapses.py logs/train/runs/<run>/checkpoints/epoch_XXX.ckpt --layer 0 --top 12
    python scripts/plot_synapses.py --untrained srkan --out logs/plots/synapses_init.png   # no checkpoint
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import build, load_checkpoint_model  # noqa: E402


def synapse_layers(model) -> list:
    from srkan.nn.baselines import KANLayer
    from srkan.nn.synapse import ModalSynapse

    return [m for m in model.modules() if isinstance(m, (ModalSynapse, KANLayer))]


@torch.no_grad()
def all_edges(layer, z: torch.Tensor) -> torch.Tensor:
    """``φ[n, i, j]`` for every edge of one layer on the points ``z [n]`` (vectorised)."""
    from srkan.nn.baselines import KANLayer

    if isinstance(layer, KANLayer):
        zz = z[:, None].expand(-1, layer.d_in)
        basis = layer.basis(zz)  # [n, D, K]
        c = layer.spline_weight.view(layer.d_in, -1, layer.d_out)
        return F.silu(zz)[..., None] * layer.base_weight.t()[None] + torch.einsum("ndk,dkj->ndj", basis, c)
    D, R = layer.d_state, layer.rank
    zz = z[:, None].expand(-1, D).contiguous()
    psi = layer.curves_at(zz)  # [R, n, D]
    feats = torch.cat([F.silu(zz)[None], psi], 0)  # [R+1, n, D]
    w = layer.mix.weight.view(layer.d_out, R + 1, D)  # [J, R+1, D]
    return torch.einsum("rnd,jrd->ndj", feats, w)


def grid_range(layer) -> float:
    return float(getattr(layer, "grid_range", None) or layer.hi)


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt", nargs="?", help="checkpoint written by train.py")
    ap.add_argument("--untrained", choices=["srkan", "kan"], help="plot a freshly built model instead")
    ap.add_argument("--layer", type=int, default=0, help="which synaptic layer (0 = first block)")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--points", type=int, default=200)
    ap.add_argument("--out", default="logs/plots/synapses.png")
    ap.add_argument("--small", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if bool(args.ckpt) == bool(args.untrained):
        ap.error("give a checkpoint or --untrained NAME (one of them)")
    if args.ckpt:
        model, _ = load_checkpoint_model(args.ckpt)
        title = Path(args.ckpt).name
    else:
        small = {"srkan": dict(n_hidden=8, n_layers=1, n_proj=8), "kan": dict(hidden=[4])}[args.untrained] if args.small else {}
        model = build(args.untrained, **small).eval()
        title = f"untrained {args.untrained}"
    layers = synapse_layers(model)
    if not layers:
        raise SystemExit(f"{type(model).__name__} has no learnable synaptic curves (SRKAN or KAN only)")
    if not 0 <= args.layer < len(layers):
        raise SystemExit(f"--layer {args.layer}: the model has {len(layers)} synaptic layers (0..{len(layers) - 1})")
    layer = layers[args.layer]
    r = grid_range(layer)
    z = torch.linspace(-1.5 * r, 1.5 * r, args.points)
    phi = all_edges(layer, z)  # [n, I, J]
    inside = z.abs() <= r
    influence = phi[inside].abs().mean(0)  # [I, J]
    top = torch.topk(influence.flatten(), min(args.top, influence.numel()))
    n_j = influence.shape[1]
    edges = [(int(k) // n_j, int(k) % n_j, float(v)) for v, k in zip(top.values, top.indices)]
    rows = []
    for i, j, v in edges:
        row = {"plot": "synapse", "layer": args.layer, "i": i, "j": j, "influence": v}
        print(json.dumps(row))
        rows.append(row)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(edges))
    nrows = (len(edges) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.0 * cols, 2.4 * nrows), squeeze=False)
    for ax, (i, j, v) in zip(axes.flat, edges):
        ax.plot(z, phi[:, i, j], lw=1.6)
        ax.axvspan(-r, r, color="0.92", zorder=0)
        ax.set_title(f"φ[{i}→{j}]  |φ|={v:.2f}", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(edges):]:
        ax.axis("off")
    fig.suptitle(f"{title}: layer {args.layer}, top {len(edges)} edges by mean |φ| (grey: grid range)", fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    plt.close(fig)
    print(f"plot: {args.out}")
    return rows


if __name__ == "__main__":
    main()
