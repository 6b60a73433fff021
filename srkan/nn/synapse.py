"""ModalSynapse: modal traces → normalised into the grid → per-edge learnable curves, summed per target.

1. **Modal traces.** ``u[t] = a ⊙ u[t-1] + (1 - a) ⊙ x[t]`` with ``n_modes`` learnable decays
   ``a = exp(-dt/τ)`` per input channel, initialised log-uniformly over ``tau_range`` (ms). A B-spline
   of a binary spike takes two values; of a trace it is a real nonlinear curve.
2. **Normalisation.** Each step's state vector is layer-normalised (no affine; as FastKAN does), so
   that most values fall inside the spline grid ``[-grid_range, grid_range]`` whatever the input rate;
   the fraction outside is reported as ``outside_grid``.
3. **Edge functions.** ``φ_ij(z) = w_b[i,j] silu(z) + Σ_r W[i,r,j] ψ_ir(z)`` with ``R = rank`` curves
   per input ``ψ_ir(z) = Σ_k M[i,r,k] B_k(z)`` (B-spline) or a grouped safe rational unit. This is the
   factorisation ``c[i,j,k] = Σ_r W[i,r,j] M[i,r,k]`` of the KAN coefficients; ``R = grid + order``
   spans every coefficient tensor, i.e. recovers the full KAN. All ``(R + 1)`` linear maps are one
   matmul over the concatenated features ``[silu(z), ψ_1(z) … ψ_R(z)]``.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .basis import safe_rational, spline_curves
from .scan import linear_scan

BASES = ("bspline", "rational")


class ModalSynapse(nn.Module):
    """Args:
        d_in: input channels. d_out: output currents.
        grid, order: B-spline intervals and order. basis: ``bspline`` or ``rational``.
        rank: curves per input ``R``. n_modes: trace time constants per channel.
        dt: step (ms). tau_range: ``(min, max)`` initial trace time constants (ms).
        grid_range: the grid covers ``[-grid_range, grid_range]`` (units of the normalised state).
        rational_groups: inputs sharing one set of rational coefficients; rational_order: ``(m, n)``.
        gain: initial std of the output current (threshold units).
    """

    def __init__(self, d_in: int, d_out: int, grid: int, order: int, basis: str, rank: int,
                 n_modes: int, dt: float, tau_range: tuple[float, float], grid_range: float = 2.0,
                 rational_groups: int = 8, rational_order: tuple[int, int] = (5, 4), gain: float = 1.0):
        super().__init__()
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        if rank < 1:
            raise ValueError(f"synapse_rank must be >= 1, got {rank}")
        if n_modes < 1:
            raise ValueError(f"n_modes must be >= 1, got {n_modes}")
        self.d_in, self.d_out, self.n_modes = d_in, d_out, n_modes
        self.grid, self.order, self.basis, self.rank = grid, order, basis, rank
        self.dt, self.grid_range = dt, grid_range
        d_state = d_in * n_modes
        self.d_state = d_state
        lo, hi = tau_range
        # Spread the time constants: channel i, mode m gets a distinct point of a log-uniform sweep.
        spread = torch.rand(d_state, generator=torch.Generator().manual_seed(d_state))
        self.log_tau = nn.Parameter(math.log(lo) + spread * (math.log(hi) - math.log(lo)))
        if basis == "bspline":
            self.curves = nn.Parameter(torch.randn(d_state, grid + order, rank) * 0.5)
        else:
            groups = math.gcd(rational_groups, d_state)
            self.groups = groups
            m, n = rational_order
            numerator = torch.randn(groups, rank, m + 1) * 0.3
            numerator[:, :, 1] += 1.0  # start near identity-like curves
            self.numerator = nn.Parameter(numerator)
            self.denominator = nn.Parameter(torch.randn(groups, rank, n) * 0.1)
        self.mix = nn.Linear(d_state * (rank + 1), d_out)
        with torch.no_grad():
            # Features are O(1) after normalisation: set the current's std to `gain` at init.
            nn.init.normal_(self.mix.weight, std=gain / math.sqrt(d_state * (rank + 1) * 0.5))
            self.mix.bias.zero_()

    def decay(self) -> Tensor:
        """``[d_state]`` per-mode trace decays ``exp(-dt/τ)``."""
        return torch.exp(-self.dt / self.log_tau.exp().clamp_min(self.dt * 0.1))

    def init_state(self, batch: int, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch, self.d_state, device=device, dtype=dtype)

    def curves_at(self, z: Tensor) -> Tensor:
        """Per-input learnable curves ``ψ``: ``z [..., d_state]`` → ``[R, ..., d_state]``."""
        if self.basis == "bspline":
            return spline_curves(z, self.curves, self.grid, self.order, -self.grid_range, self.grid_range)
        grouped = z.reshape(*z.shape[:-1], self.groups, self.d_state // self.groups)
        psi = safe_rational(grouped, self.numerator, self.denominator)
        return psi.reshape(self.rank, *z.shape)

    def edge_function(self, z: Tensor, i: int, j: int) -> Tensor:
        """The learned curve ``φ_ij(z)`` of one synapse (input state ``i`` → neuron ``j``), for plots."""
        onehot = torch.zeros(z.shape[0], self.d_state, dtype=z.dtype, device=z.device)
        onehot[:, i] = z
        psi = self.curves_at(onehot)[:, :, i]  # [R, n]
        w = self.mix.weight[j].reshape(self.rank + 1, self.d_state)[:, i]  # [R+1]
        return F.silu(z) * w[0] + w[1:] @ psi

    def forward(self, x: Tensor, u0: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One chunk.

        Args:
            x: ``[B, L, d_in]`` input (spikes or currents). u0: ``[B, d_state]`` trace carry.

        Returns:
            ``(current [B, L, d_out], z [B, L, d_state], u_last [B, d_state], outside_grid)`` where
            ``outside_grid`` is the (detached) fraction of normalised states outside the grid.
        """
        a = self.decay()
        if self.n_modes > 1:
            x = x.repeat_interleave(self.n_modes, dim=-1)
        u = linear_scan(a, (1 - a) * x, u0)
        z = F.layer_norm(u, (self.d_state,))
        # A training diagnostic (logged per layer); skipped in inference, where it is ~5 % of the time.
        outside = (torch.count_nonzero(z.detach().abs() > self.grid_range) / z.numel()
                   if self.training else z.new_zeros(()))
        psi = self.curves_at(z)  # [R, B, L, D]
        # Σ over the R + 1 feature planes of plane @ W_r, accumulated in place: no [B, L, (R+1)·D]
        # feature tensor is built (the weight slices are views; their gradients are parameter-sized).
        weight = self.mix.weight
        D = self.d_state
        flat = z.reshape(-1, D)
        current = torch.addmm(self.mix.bias, F.silu(flat), weight[:, :D].t())
        for r in range(self.rank):
            current = current.addmm(psi[r].reshape(-1, D), weight[:, (r + 1) * D:(r + 2) * D].t())
        # The carry is copied: a view of u would keep the whole chunk's trace alive across chunks.
        return current.view(*z.shape[:-1], self.d_out), z, u[:, -1].clone(), outside
