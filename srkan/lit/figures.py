"""Figures of a model and a run, shared by ``scripts/plot_*.py`` and the W&B figure callback.

- ``synapse_curves_figure``: the most influential learned synaptic curves ``φ_ij(z)`` of one layer
  (SRKAN's ``ModalSynapse`` or the KAN baseline's ``KANLayer``) — a KAN's interpretability.
- ``firing_rate_figure``: each layer's mean firing rate and threshold per epoch, from the
  ``firing_rates.jsonl`` that ``FiringRateMonitor`` writes.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def synapse_layers(model: nn.Module) -> list:
    """The layers of ``model`` that hold learnable synaptic curves, in order."""
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


def top_synapse_edges(model: nn.Module, layer_index: int = 0, top: int = 12, points: int = 200):
    """The ``top`` edges of one layer by influence (mean ``|φ_ij|`` over the grid range).

    Returns ``(z [points], φ [points, I, J], [(i, j, influence), ...], grid_range)``.
    Raises ``ValueError`` when the model has no such layer.
    """
    layers = synapse_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no learnable synaptic curves (SRKAN or KAN only)")
    if not 0 <= layer_index < len(layers):
        raise ValueError(f"layer {layer_index}: the model has {len(layers)} synaptic layers (0..{len(layers) - 1})")
    layer = layers[layer_index]
    r = grid_range(layer)
    z = torch.linspace(-1.5 * r, 1.5 * r, points)
    phi = all_edges(layer, z)
    influence = phi[z.abs() <= r].abs().mean(0)  # [I, J]
    best = torch.topk(influence.flatten(), min(top, influence.numel()))
    n_j = influence.shape[1]
    edges = [(int(k) // n_j, int(k) % n_j, float(v)) for v, k in zip(best.values, best.indices)]
    return z, phi, edges, r


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def synapse_curves_figure(model: nn.Module, layer_index: int = 0, top: int = 12, points: int = 200,
                          title: str = ""):
    """A grid of the ``top`` most influential curves of one layer → ``(figure, edges)``."""
    z, phi, edges, r = top_synapse_edges(model, layer_index, top, points)
    plt = _pyplot()
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
    fig.suptitle(f"{title + ': ' if title else ''}layer {layer_index}, top {len(edges)} edges by mean |φ| "
                 f"(grey: grid range)", fontsize=10)
    fig.tight_layout()
    return fig, edges


def firing_rate_figure(jsonl: str | Path):
    """Per-layer mean rate (spikes/step) and threshold per epoch from ``firing_rates.jsonl``;
    ``None`` when the file is missing or holds no layer statistics."""
    path = Path(jsonl)
    if not path.is_file():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    keys = sorted({k for r in rows for k in r if "/layers/" in k and k.split("/")[-1] in ("rate", "threshold")})
    if not rows or not keys:
        return None
    plt = _pyplot()
    fig, (ax_rate, ax_theta) = plt.subplots(1, 2, figsize=(10, 3.4))
    for key in keys:
        stage, _, layer, stat = key.split("/")
        ax = ax_rate if stat == "rate" else ax_theta
        points = [(r["epoch"], r[key]) for r in rows if key in r]
        ax.plot([p[0] for p in points], [p[1] for p in points], marker=".", label=f"{stage} {layer}")
    ax_rate.set(xlabel="epoch", ylabel="spikes / step", title="firing rate")
    ax_theta.set(xlabel="epoch", ylabel="θ (mean)", title="threshold")
    ax_rate.legend(fontsize=7)
    fig.tight_layout()
    return fig
