"""Baseline classifiers for spike-frame input ``[B, T, C]`` (torch only).

Every baseline follows the model contract of the experiment framework: ``forward(x)`` takes
``[B, T, C]`` frames (uint8 / bool / float) and returns per-step outputs ``[B, T', n_out]``
(``T' = T`` for recurrent models, ``T' = 1`` for the MLP, which sees the whole sequence at once).

* :class:`RNNClassifier` — a GRU (or LSTM) with a linear readout at every step. With the defaults
  (``n_hidden=192``, one GRU layer) it has 518,804 parameters at 700 inputs / 20 classes (~520 K).
* :class:`MLPClassifier` — an MLP on the time-flattened input ``[B, T*C]``. With the defaults
  (one hidden layer of 260) it has 18,205,480 parameters at T=100, 700 inputs, 20 classes (~18.2 M).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

__all__ = ["RNNClassifier", "MLPClassifier", "check_input"]


def check_input(x: torch.Tensor, n_in: int, T: int | None = None) -> torch.Tensor:
    """Validate a ``[B, T, n_in]`` spike tensor and return it as float32.

    Raises ``ValueError`` naming the expected shape and what was received.
    """
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"expected a torch.Tensor of shape [B, T, {n_in}], got {type(x).__name__}")
    want_t = "T" if T is None else str(T)
    if x.dim() != 3:
        raise ValueError(f"expected input of shape [B, {want_t}, {n_in}], got shape {list(x.shape)}")
    if x.shape[-1] != n_in:
        raise ValueError(
            f"expected input of shape [B, {want_t}, {n_in}] ({n_in} channels), got shape {list(x.shape)}"
        )
    if T is not None and x.shape[1] != T:
        raise ValueError(f"expected input of shape [B, {T}, {n_in}] (T={T} steps), got shape {list(x.shape)}")
    if x.is_floating_point():
        if not torch.isfinite(x).all():
            raise ValueError("input contains non-finite values (NaN or Inf)")
        return x
    return x.float()


class RNNClassifier(nn.Module):
    """GRU/LSTM over time with a per-step linear readout: ``[B, T, n_in] -> [B, T, n_out]`` logits."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        n_hidden: int = 192,
        n_layers: int = 1,
        cell: str = "gru",
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_out", n_out), ("n_hidden", n_hidden), ("n_layers", n_layers)):
            if int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        if cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.n_in, self.n_out, self.n_hidden = int(n_in), int(n_out), int(n_hidden)
        rnn_cls = nn.GRU if cell == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            input_size=self.n_in,
            hidden_size=self.n_hidden,
            num_layers=int(n_layers),
            batch_first=True,
            dropout=dropout if n_layers > 1 else 0.0,
            bidirectional=bidirectional,
        )
        self.readout = nn.Linear(self.n_hidden * (2 if bidirectional else 1), self.n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.n_in)
        h, _ = self.rnn(x)
        return self.readout(h)


class MLPClassifier(nn.Module):
    """MLP on the time-flattened input: ``[B, T, n_in] -> [B, 1, n_out]`` logits.

    The input length must equal ``T`` (the MLP has one weight per time step and channel).
    """

    def __init__(
        self,
        n_in: int,
        n_out: int,
        T: int = 100,
        hidden: Sequence[int] = (260,),
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_out", n_out), ("T", T)):
            if int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        hidden = [int(h) for h in hidden]
        if any(h <= 0 for h in hidden):
            raise ValueError(f"hidden sizes must be positive integers, got {hidden}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.n_in, self.n_out, self.T = int(n_in), int(n_out), int(T)
        layers: list[nn.Module] = []
        width = self.T * self.n_in
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, self.n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.n_in, self.T)
        return self.net(x.flatten(1)).unsqueeze(1)


# ---------------------------------------------------------------------------------------------
# Feed-forward KAN (per time step) and a recurrent LIF SNN
# ---------------------------------------------------------------------------------------------

from .basis import bspline_basis  # noqa: E402  (one basis, one place)
from .surrogate import Surrogate, spike  # noqa: E402

__all__ += ["KANLayer", "KANClassifier", "LIFSNNClassifier"]


class KANLayer(nn.Module):
    """One Kolmogorov–Arnold layer (efficient-KAN style): ``y_j = Σ_i w_b[j,i]·silu(z_i) + Σ_{i,k} c[j,i,k]·B_k(z_i)``.

    Every edge ``(i, j)`` has its own curve: a SiLU base term plus a uniform B-spline with ``grid``
    intervals of order ``spline_order`` on ``[-grid_range, grid_range]`` (the basis is
    :func:`srkan.nn.basis.bspline_basis`). Parameters: ``d_out·d_in·(grid + order + 1)`` + ``d_out`` bias.
    """

    def __init__(self, d_in: int, d_out: int, grid: int = 5, spline_order: int = 3,
                 grid_range: float = 1.0, spline_init: float = 0.1) -> None:
        super().__init__()
        for name, val in (("d_in", d_in), ("d_out", d_out), ("grid", grid)):
            if int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        if int(spline_order) < 0:
            raise ValueError(f"spline_order must be >= 0, got {spline_order!r}")
        if not grid_range > 0:
            raise ValueError(f"grid_range must be > 0, got {grid_range!r}")
        self.d_in, self.d_out = int(d_in), int(d_out)
        self.grid, self.order, self.lo, self.hi = int(grid), int(spline_order), -float(grid_range), float(grid_range)
        n_basis = self.grid + self.order
        self.base_weight = nn.Parameter(torch.empty(self.d_out, self.d_in))
        nn.init.kaiming_uniform_(self.base_weight, a=5 ** 0.5)
        # spline coefficients, flattened as [d_in * n_basis, d_out] so one matmul contracts them
        self.spline_weight = nn.Parameter(torch.randn(self.d_in * n_basis, self.d_out) * (spline_init / self.d_in ** 0.5))
        self.bias = nn.Parameter(torch.zeros(self.d_out))

    def basis(self, z: torch.Tensor) -> torch.Tensor:
        """``[..., d_in]`` → ``[..., d_in, grid + order]``."""
        return bspline_basis(z, self.grid, self.order, self.lo, self.hi)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        base = nn.functional.linear(nn.functional.silu(z), self.base_weight, self.bias)
        spl = self.basis(z).flatten(-2) @ self.spline_weight
        return base + spl

    def edge_function(self, z: torch.Tensor, i: int, j: int) -> torch.Tensor:
        """The learned curve ``φ_ij(z)`` of edge input ``i`` → output ``j`` (for plots)."""
        n_basis = self.grid + self.order
        c = self.spline_weight.view(self.d_in, n_basis, self.d_out)[i, :, j]
        b = bspline_basis(z, self.grid, self.order, self.lo, self.hi)
        return self.base_weight[j, i] * nn.functional.silu(z) + b @ c


class KANClassifier(nn.Module):
    """Feed-forward KAN applied to every time step independently: ``[B, T, n_in] → [B, T, n_out]``.

    No memory across steps (the seed's "KAN feed-forward" row): the loss reduces the per-step
    outputs over time. With the defaults (``hidden=[20]``, grid 5, cubic) it has 129,640 parameters
    at 700 inputs / 20 classes (~132 K in the seed's table).
    """

    def __init__(self, n_in: int, n_out: int, hidden: Sequence[int] = (20,), grid: int = 5,
                 spline_order: int = 3, grid_range: float = 1.0) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_out", n_out)):
            if int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        hidden = [int(h) for h in hidden]
        if any(h <= 0 for h in hidden):
            raise ValueError(f"hidden sizes must be positive integers, got {hidden}")
        self.n_in, self.n_out = int(n_in), int(n_out)
        widths = [self.n_in, *hidden, self.n_out]
        self.layers = nn.ModuleList(
            KANLayer(a, b, grid, spline_order, grid_range) for a, b in zip(widths[:-1], widths[1:])
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = check_input(x, self.n_in)
        for layer in self.layers:
            z = layer(z)
        return z


class LIFSNNClassifier(nn.Module):
    """Recurrent LIF spiking network with a rectangle surrogate and a leaky readout membrane.

    ``v[t] = α v[t-1] + (1-α)(W_in x[t] + W_rec s[t-1]) − θ s[t-1]`` (soft reset), ``s[t] = H(v[t] − θ)``
    with the surrogate from :mod:`srkan.nn.surrogate` (``rectangle`` by default) in the backward pass;
    ``init_gain`` sets the initial input-current std (threshold units) for inputs with about
    ``input_density`` of their entries active. The output is the membrane of ``n_out`` non-spiking leaky integrators,
    ``y[t] = κ y[t-1] + (1-κ) W_out s[t]``, returned per step ``[B, T, n_out]``.
    With ``n_hidden=128`` it has 108,692 parameters at 700 inputs / 20 classes.
    """

    def __init__(self, n_in: int, n_out: int, n_hidden: int = 128, recurrent: bool = True,
                 surrogate: str = "rectangle", surrogate_slope: float = 1.0, dt: float = 10.0,
                 tau_mem: float = 20.0, tau_readout: float = 50.0, threshold: float = 1.0,
                 init_gain: float = 1.0, input_density: float = 0.05) -> None:
        super().__init__()
        for name, val in (("n_in", n_in), ("n_out", n_out), ("n_hidden", n_hidden)):
            if int(val) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {val!r}")
        for name, val in (("dt", dt), ("tau_mem", tau_mem), ("tau_readout", tau_readout), ("threshold", threshold)):
            if not float(val) > 0:
                raise ValueError(f"{name} must be > 0, got {val!r}")
        self.n_in, self.n_out, self.n_hidden = int(n_in), int(n_out), int(n_hidden)
        self.surrogate = Surrogate(surrogate, slope=surrogate_slope)
        self.threshold = float(threshold)
        self.alpha = math.exp(-dt / tau_mem)
        self.kappa = math.exp(-dt / tau_readout)
        self.fc_in = nn.Linear(self.n_in, self.n_hidden)
        with torch.no_grad():
            # input current std ≈ init_gain (threshold units) for inputs with `input_density` of
            # their entries active, so the layer fires from the first step
            nn.init.normal_(self.fc_in.weight, std=init_gain / math.sqrt(self.n_in * input_density))
            self.fc_in.bias.zero_()
        self.fc_rec = nn.Linear(self.n_hidden, self.n_hidden, bias=False) if recurrent else None
        if self.fc_rec is not None:
            nn.init.orthogonal_(self.fc_rec.weight, gain=0.5)
        self.readout = nn.Linear(self.n_hidden, self.n_out)
        self._last_rate: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = check_input(x, self.n_in)
        B, T, _ = x.shape
        drive = self.fc_in(x)  # [B, T, H], one matmul for all steps
        v = drive.new_zeros(B, self.n_hidden)
        s = drive.new_zeros(B, self.n_hidden)
        zeros = drive.new_zeros(B, self.n_hidden)
        spikes = []
        for t in range(T):
            i_t = drive[:, t]
            if self.fc_rec is not None:
                i_t = i_t + self.fc_rec(s)
            v = self.alpha * v + (1 - self.alpha) * i_t - self.threshold * s
            s = spike(v - self.threshold, zeros, self.surrogate)
            spikes.append(s)
        s_all = torch.stack(spikes, 1)  # [B, T, H]
        self._last_rate = s_all.detach().mean(dim=(0, 1))
        current = self.readout(s_all)
        y = current.new_zeros(B, self.n_out)
        out = []
        for t in range(T):
            y = self.kappa * y + (1 - self.kappa) * current[:, t]
            out.append(y)
        return torch.stack(out, 1)

    def layer_stats(self) -> dict[str, dict[str, torch.Tensor]]:
        """Per-layer firing rates of the last forward pass (for the framework's monitors)."""
        if self._last_rate is None:
            return {}
        return {"hidden": {"rate": self._last_rate, "threshold": torch.full_like(self._last_rate, self.threshold)}}
