"""Gradient bias of the surrogate gradients: agreement with a finite-difference gradient of a smoothed loss.

The spiking loss ``L(W)`` is piecewise constant in the weights, so its true gradient is zero almost
everywhere; the quantity a surrogate should estimate is the gradient of the Gaussian-smoothed loss
``L_σ(W) = E_ε L(W + σε)``, which is smooth. On a small net — input spikes → one layer of srkan's
AdaptiveLIF neurons (the model's own ``lif_chunk``, so ``saltation`` gets its exact-timing term) →
leaky non-spiking readout → cross-entropy of the time-averaged readout — this script compares, for the
input weights ``W``:

* ``g_fd``: central finite differences of ``L_σ`` per weight, ``(L_σ(W + h e_k) − L_σ(W − h e_k)) / 2h``,
  with the same ``N`` noise draws on both sides (common random numbers), ``h = σ``;
* ``g_sur``: each surrogate's gradient averaged over the same noise draws, ``E_ε ∇_sur L(W + σε)``;

and reports their cosine similarity and sign agreement, mean ± std over ``--seeds`` random nets and
data, per noise scale ``σ`` (relative to the weights' std). ``ceiling`` is the cosine between two
halves of the noise draws' finite-difference estimates (how well ``g_fd`` agrees with itself).
Prints JSON lines and a markdown table; writes a PNG bar chart.

    python scripts/surrogate_bias.py                 # 5 nets, σ ∈ {0.05, 0.1, 0.2}, N=128 (a few minutes on 2 cores)
    python scripts/surrogate_bias.py --quick         # 2 nets, σ = 0.1, N=32 (well under a minute)
    python scripts/surrogate_bias.py --surrogates saltation rectangle:0.5   # NAME[:SLOPE]; default slope 5, rectangle 1
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from srkan.nn.neuron import lif_chunk
from srkan.nn.scan import linear_scan
from srkan.nn.surrogate import Surrogate

SURROGATE_NAMES = ("saltation", "rectangle", "sigmoid", "atan")
# rectangle:5 = the width-1/5, height-5 window (the rectangle's default before it became the unit window)
DEFAULT_SPECS = ("saltation", "rectangle", "rectangle:5", "sigmoid", "atan")


def surrogate_spec(spec: str) -> Surrogate:
    """``name`` or ``name:slope`` (e.g. ``rectangle:5``) → a :class:`Surrogate`."""
    name, _, slope = spec.partition(":")
    if name not in SURROGATE_NAMES:
        raise argparse.ArgumentTypeError(f"surrogate must be one of {SURROGATE_NAMES} (optionally :slope), got {spec!r}")
    try:
        return Surrogate(name, float(slope) if slope else None)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{spec!r}: {exc}") from exc


class SmallNet:
    """``x [B, T, n_in]`` → LIF(H) → leaky readout(n_out); loss for K weight sets at once."""

    def __init__(self, n_in: int, n_hidden: int, n_out: int, T: int, B: int, seed: int, density: float = 0.2):
        g = torch.Generator().manual_seed(seed)
        self.x = (torch.rand(B, T, n_in, generator=g) < density).float()
        self.y = torch.randint(0, n_out, (B,), generator=g)
        self.W = torch.randn(n_in, n_hidden, generator=g) * (1.5 / math.sqrt(n_in * density))
        self.W2 = torch.randn(n_hidden, n_out, generator=g) * (3.0 / math.sqrt(n_hidden))
        self.theta = torch.ones(n_hidden)
        self.alpha = torch.full((n_hidden,), math.exp(-10 / 20))
        self.rho = torch.full((n_hidden,), math.exp(-10 / 200))
        self.beta = torch.full((n_hidden,), 0.2)
        self.kappa = torch.full((n_out,), math.exp(-10 / 50))

    def losses(self, W: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
        """``W [K, n_in, H]`` → per-weight-set loss ``[K]``."""
        K = W.shape[0]
        B, T, _ = self.x.shape
        H = W.shape[-1]
        cur = torch.einsum("btn,knh->kbth", self.x, W).reshape(K * B, T, H)
        z = cur.new_zeros(K * B, H)
        s, _ = lif_chunk(cur, (z, z, z), self.theta, self.alpha, self.rho, self.beta, surrogate)
        drive = (1 - self.kappa) * (s @ self.W2)
        v = linear_scan(self.kappa, drive, drive.new_zeros(K * B, drive.shape[-1]))
        ce = F.cross_entropy(v.mean(1), self.y.repeat(K), reduction="none")
        return ce.view(K, B).mean(1)


def fd_gradient(net: SmallNet, eps: torch.Tensor, sigma: float, chunk: int) -> torch.Tensor:
    """Central differences of the smoothed loss, per noise draw: ``[N, P]`` (mean over N = estimate)."""
    W = net.W
    P = W.numel()
    h = sigma
    N = eps.shape[0]
    out = torch.empty(N, P)
    sur = Surrogate("rectangle")  # forward only: the surrogate does not matter
    basis = torch.eye(P).view(P, *W.shape)
    with torch.no_grad():
        for n in range(N):
            base = W + sigma * eps[n]
            Ws = torch.cat([base + h * basis, base - h * basis])  # [2P, n_in, H]
            vals = torch.cat([net.losses(Ws[i:i + chunk], sur) for i in range(0, 2 * P, chunk)])
            out[n] = (vals[:P] - vals[P:]) / (2 * h)
    return out


def surrogate_gradient(net: SmallNet, eps: torch.Tensor, sigma: float, surrogate: Surrogate) -> torch.Tensor:
    Ws = (net.W + sigma * eps).requires_grad_(True)
    net.losses(Ws, surrogate).sum().backward()
    return Ws.grad.mean(0).flatten()


def cosine(a, b) -> float:
    return float(F.cosine_similarity(a.flatten(), b.flatten(), dim=0))


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--sigmas", nargs="+", type=float, default=[0.05, 0.1, 0.2], help="noise std / weight std")
    ap.add_argument("--noise", type=int, default=128, help="noise draws N")
    ap.add_argument("--n-in", type=int, default=12)
    ap.add_argument("--hidden", type=int, default=8)
    ap.add_argument("--T", type=int, default=25)
    ap.add_argument("--B", type=int, default=16)
    ap.add_argument("--surrogates", nargs="+", default=list(DEFAULT_SPECS), metavar="NAME[:SLOPE]",
                    help=f"surrogates to compare, each {SURROGATE_NAMES} with an optional :slope "
                         f"(default slope: 5, 1 for rectangle); default {' '.join(DEFAULT_SPECS)}")
    ap.add_argument("--quick", action="store_true", help="2 nets, sigma 0.1, N=32")
    ap.add_argument("--png", default="logs/benchmarks/surrogate_bias.png")
    ap.add_argument("--out", default=None, help="also write the JSON lines to this file")
    args = ap.parse_args(argv)
    try:
        specs = {spec: surrogate_spec(spec) for spec in args.surrogates}
    except argparse.ArgumentTypeError as exc:
        ap.error(str(exc))
    if args.quick:
        args.seeds, args.sigmas, args.noise = 2, [0.1], 32
    rows = []
    for rel in args.sigmas:
        for seed in range(args.seeds):
            net = SmallNet(args.n_in, args.hidden, 4, args.T, args.B, seed)
            sigma = rel * float(net.W.std())
            eps = torch.randn(args.noise, *net.W.shape, generator=torch.Generator().manual_seed(1000 + seed))
            per_draw = fd_gradient(net, eps, sigma, chunk=256)
            g_fd = per_draw.mean(0)
            half = args.noise // 2
            ceiling = cosine(per_draw[:half].mean(0), per_draw[half:].mean(0))
            for name, surrogate in specs.items():
                g = surrogate_gradient(net, eps, sigma, surrogate)
                mask = g_fd != 0
                row = {"bench": "surrogate_bias", "surrogate": name, "slope": surrogate.slope,
                       "sigma_rel": rel, "seed": seed,
                       "cosine": cosine(g, g_fd),
                       "sign_agreement": float((torch.sign(g[mask]) == torch.sign(g_fd[mask])).float().mean()) if mask.any() else float("nan"),
                       "norm_ratio": float(g.norm() / g_fd.norm().clamp_min(1e-12)), "fd_ceiling": ceiling,
                       "noise_draws": args.noise}
                print(json.dumps(row), flush=True)
                rows.append(row)
    if args.out:
        Path(args.out).write_text("".join(json.dumps(r) + "\n" for r in rows))

    def ms(vals):
        return (statistics.mean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0)

    print("\n| σ / std(W) | surrogate | cosine with FD | sign agreement | ‖g‖/‖g_fd‖ | FD ceiling |")
    print("|---:|---|---:|---:|---:|---:|")
    summary = {}
    for rel in args.sigmas:
        for name in specs:
            rs = [r for r in rows if r["sigma_rel"] == rel and r["surrogate"] == name]
            c, a, n, ce = (ms([r[k] for r in rs]) for k in ("cosine", "sign_agreement", "norm_ratio", "fd_ceiling"))
            summary[(rel, name)] = c
            print(f"| {rel} | {name} | {c[0]:.3f} ± {c[1]:.3f} | {a[0]:.3f} ± {a[1]:.3f} | {n[0]:.2f} | {ce[0]:.3f} |")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    width = 0.8 / len(specs)
    for k, name in enumerate(specs):
        xs = [i + k * width for i in range(len(args.sigmas))]
        ax.bar(xs, [summary[(r, name)][0] for r in args.sigmas], width, yerr=[summary[(r, name)][1] for r in args.sigmas],
               label=name, capsize=3)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(args.sigmas))])
    ax.set_xticklabels([f"σ={r}·std(W)" for r in args.sigmas])
    ax.set_ylabel("cosine(surrogate grad, FD grad of L_σ)")
    ax.set_title(f"surrogate gradient vs smoothed-loss FD gradient ({args.seeds} nets, N={args.noise})", fontsize=9)
    ax.axhline(0, color="k", lw=0.6)
    ax.legend(fontsize=8)
    fig.tight_layout()
    from _common import save_figure

    save_figure(fig, args.png, dpi=120)
    print(f"\nplot: {args.png}")
    return rows


if __name__ == "__main__":
    main()
