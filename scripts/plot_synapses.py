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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import build, load_checkpoint_model, save_figure  # noqa: E402

from srkan.lit.figures import synapse_curves_figure  # noqa: E402


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
    try:
        fig, edges = synapse_curves_figure(model, args.layer, args.top, args.points, title=title)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    rows = []
    for i, j, v in edges:
        row = {"plot": "synapse", "layer": args.layer, "i": i, "j": j, "influence": v}
        print(json.dumps(row))
        rows.append(row)
    save_figure(fig, args.out)
    print(f"plot: {args.out}")
    return rows


if __name__ == "__main__":
    main()
