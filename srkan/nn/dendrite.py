"""DendriticGate: a slow distal compartment that gates the fast proximal current.

``fast`` is the synapse (KAN) output; the distal compartment low-pass filters a cheap gate drive, a
rank-``r`` linear map of the same modal state ``z``:  ``g[t] = a g[t-1] + (1 - a) (W_2 W_1 z[t] + c)``,
with ``a = exp(-dt/τ_distal)`` learnable per neuron; the somatic current is ``fast ⊙ σ(g)``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .scan import linear_scan


class DendriticGate(nn.Module):
    """Args: d_state (modal state width), d_out (neurons), rank (gate drive rank), dt and tau_distal (ms)."""

    def __init__(self, d_state: int, d_out: int, rank: int, dt: float, tau_distal: float):
        super().__init__()
        if rank < 1:
            raise ValueError(f"gate_rank must be >= 1, got {rank}")
        self.d_out = d_out
        self.down = nn.Linear(d_state, rank, bias=False)
        self.up = nn.Linear(rank, d_out)
        nn.init.constant_(self.up.bias, 2.0)  # σ(2) ≈ 0.88: the gate starts mostly open
        self.log_tau = nn.Parameter(torch.full((d_out,), math.log(tau_distal)))
        self.dt = dt

    def decay(self) -> Tensor:
        return torch.exp(-self.dt / self.log_tau.exp().clamp_min(self.dt * 0.5))

    def init_state(self, batch: int, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch, self.d_out, device=device, dtype=dtype)

    def forward(self, z: Tensor, g0: Tensor) -> tuple[Tensor, Tensor]:
        """``z [B, L, d_state]``, ``g0 [B, d_out]`` → ``(gate σ(g) [B, L, d_out], g [B, L, d_out])``."""
        a = self.decay()
        gain = 1 - a  # folded into the up-projection: a parameter-sized product, not an activation-sized one
        drive = F.linear(self.down(z), self.up.weight * gain[:, None], self.up.bias * gain)
        g = linear_scan(a, drive, g0)
        return torch.sigmoid(g), g
