"""SRKAN: Spiking Recurrent Kolmogorov–Arnold Network.

``x [B,T,n_in] → PreProjection → Block 1 → … → Block n_layers → output AdaptiveLIF → spikes | membrane``

Each block is ModalSynapse → DendriticGate → AdaptiveLIF (+ threshold homeostasis). The whole stack
runs chunk by chunk (``chunk_size`` steps), carrying every layer's state between chunks. In training
with ``checkpoint_chunks=True`` each chunk is recomputed in the backward pass, so only the input (kept
in its own dtype — bytes for spike data) and the chunk-boundary states are stored for the whole
sequence: activation memory grows as ``T/L + L``, i.e. O(√T) at ``L ≈ √T``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .allocator import release_freed_activations
from .dendrite import DendriticGate
from .neuron import AdaptiveLIF, Homeostasis
from .scan import linear_scan
from .surrogate import Surrogate
from .synapse import BASES, ModalSynapse

BlockState = tuple  # (u [B, d_state], g [B, N], v [B, N], b [B, N], s [B, N])
OutputState = tuple  # (v, b, s, readout [B, n_out])


class SRKANOutput(NamedTuple):
    spikes: Tensor  # [B, T, n_out] binary output spikes
    membrane: Tensor  # [B, T, n_out] readout membrane (no threshold, no reset)


class SRKANBlock(nn.Module):
    """ModalSynapse → DendriticGate → AdaptiveLIF, with the block's homeostasis."""

    def __init__(self, d_in: int, d_out: int, *, grid: int, spline_order: int, basis: str,
                 synapse_rank: int, n_modes: int, dendritic_gate: bool, gate_rank: int, dt: float,
                 tau_trace: tuple[float, float], tau_mem: float, tau_adapt: float, tau_distal: float,
                 adapt_beta: float, threshold: float, grid_range: float, init_gain: float,
                 surrogate: Surrogate, homeostasis: Homeostasis, detach_reset: bool = False):
        super().__init__()
        self.synapse = ModalSynapse(d_in, d_out, grid, spline_order, basis, synapse_rank, n_modes,
                                    dt, tau_trace, grid_range=grid_range, gain=init_gain)
        self.gate = (DendriticGate(self.synapse.d_state, d_out, gate_rank, dt, tau_distal)
                     if dendritic_gate else None)
        self.neuron = AdaptiveLIF(d_out, dt, tau_mem, tau_adapt, adapt_beta, threshold, surrogate, detach_reset)
        self.homeostasis = homeostasis

    def init_state(self, batch: int, device=None, dtype=None) -> BlockState:
        u = self.synapse.init_state(batch, device, dtype)
        g = (self.gate.init_state(batch, device, dtype) if self.gate is not None
             else torch.zeros(batch, 0, device=device, dtype=dtype))
        return (u, g, *self.neuron.init_state(batch, device, dtype))

    def forward(self, x: Tensor, state: BlockState, theta: Tensor):
        """``x [B, L, d_in]`` → ``(spikes [B, L, d_out], state, outside_grid)``."""
        u, g, v, b, s = state
        current, z, u, outside = self.synapse(x, u)
        if self.gate is not None:
            gate, g_seq = self.gate(z, g)
            current = current * gate
            g = g_seq[:, -1].clone()  # a copy, not a view: a view would keep the whole chunk alive
        spikes, (v, b, s) = self.neuron(current, (v, b, s), theta)
        return spikes, (u, g, v, b, s), outside


class SRKAN(nn.Module):
    """Spiking Recurrent Kolmogorov–Arnold Network.

    Args:
        n_in: input channels (700 for SHD/SSC). n_hidden: width of every block. n_out: classes.
        n_layers: number of blocks. T: nominal time steps (default ``chunk_size`` ≈ √T when
            ``chunk_size="auto"``; inputs of any length work). grid: B-spline intervals.
        chunk_size: steps per scan chunk; ``None``/``0`` = whole sequence in one chunk.
        n_proj: pre-projection width (``None``: ``n_hidden``). spline_order: B-spline order (3).
        basis: ``"bspline"`` | ``"rational"``. synapse_rank: learnable curves per input (``R``).
        n_modes: trace time constants per channel. surrogate: ``"saltation"`` | ``"sigmoid"`` |
            ``"rectangle"`` | ``"atan"``; surrogate_slope (``None``: 5, or 1 for the rectangle),
            saltation_weight, saltation_min_speed tune it. detach_reset: no gradient through the
            neurons' soft reset (see :mod:`srkan.nn.neuron`; it keeps steep surrogates from exploding).
        homeostasis: ``"ema_deadband"`` | ``"naive"`` | ``"none"``; target_rate (spikes/step),
            homeostasis_momentum (μ), homeostasis_deadband (δ), homeostasis_step (η), threshold_floor.
        dendritic_gate: use the two-compartment gate; gate_rank: rank of its drive.
        checkpoint_chunks: recompute chunks in the backward pass while training (O(√T) memory, ~1.6×
            the compute of a training step): ``True``, ``False`` or ``"auto"`` (default: on when the
            activations a plain backward pass would store exceed ``checkpoint_budget_mib``).
        checkpoint_budget_mib: the memory budget of ``"auto"`` (MiB).
        dt: step length (ms). tau_trace: ``(min, max)`` trace time constants (ms); tau_mem,
            tau_adapt, tau_distal, tau_readout: time constants (ms); adapt_beta: adaptation strength.
        threshold: initial θ. grid_range: the spline grid covers ``[-grid_range, grid_range]``.
        init_gain: initial std of each block's input current (threshold units).
    """

    def __init__(self, n_in: int, n_hidden: int = 256, n_out: int | None = None, n_layers: int = 4,
                 T: int = 100, grid: int = 5, chunk_size: int | str | None = 10, *,
                 n_proj: int | None = 128, spline_order: int = 3, basis: str = "bspline",
                 synapse_rank: int = 2, n_modes: int = 1, surrogate: str = "saltation",
                 surrogate_slope: float | None = None, saltation_weight: float = 0.3,
                 saltation_min_speed: float = 0.25, detach_reset: bool = False,
                 homeostasis: str = "ema_deadband",
                 target_rate: float = 0.1, homeostasis_momentum: float = 0.1,
                 homeostasis_deadband: float = 0.02, homeostasis_step: float = 0.1,
                 threshold_floor: float = 0.05, dendritic_gate: bool = True, gate_rank: int = 8,
                 checkpoint_chunks: bool | str = "auto", checkpoint_budget_mib: float = 1024.0,
                 dt: float = 10.0,
                 tau_trace: tuple[float, float] = (20.0, 500.0), tau_mem: float = 20.0,
                 tau_adapt: float = 200.0, tau_distal: float = 100.0, tau_readout: float = 50.0,
                 adapt_beta: float = 0.2, threshold: float = 1.0, grid_range: float = 2.0,
                 init_gain: float = 2.5):
        super().__init__()
        if n_out is None:
            raise ValueError("n_out (number of classes) is required")
        for name, value in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out),
                            ("n_layers", n_layers), ("T", T), ("grid", grid),
                            ("spline_order", spline_order), ("synapse_rank", synapse_rank)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if chunk_size == "auto":
            chunk_size = max(1, round(math.sqrt(T)))
        if chunk_size is not None and (not isinstance(chunk_size, int) or isinstance(chunk_size, bool)
                                       or chunk_size < 0):
            raise ValueError(f"chunk_size must be an integer >= 0, None or 'auto', got {chunk_size!r}")
        if basis not in BASES:
            raise ValueError(f"basis must be one of {BASES}, got {basis!r}")
        if checkpoint_chunks not in (True, False, "auto"):
            raise ValueError(f"checkpoint_chunks must be true, false or 'auto', got {checkpoint_chunks!r}")
        if not checkpoint_budget_mib > 0:
            raise ValueError(f"checkpoint_budget_mib must be > 0, got {checkpoint_budget_mib}")
        if not dt > 0:
            raise ValueError(f"dt must be > 0 (ms), got {dt}")
        for name, tau in (("tau_mem", tau_mem), ("tau_adapt", tau_adapt), ("tau_distal", tau_distal),
                          ("tau_readout", tau_readout)):
            if not tau > 0:
                raise ValueError(f"{name} must be > 0 (ms), got {tau}")
        if not (len(tau_trace) == 2 and 0 < tau_trace[0] <= tau_trace[1]):
            raise ValueError(f"tau_trace must be (min, max) with 0 < min <= max (ms), got {tau_trace}")
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        if not isinstance(detach_reset, bool):
            raise ValueError(f"detach_reset must be true or false, got {detach_reset!r}")
        self.surrogate = Surrogate(surrogate, surrogate_slope, saltation_weight, saltation_min_speed)
        self.n_in, self.n_hidden, self.n_out, self.n_layers = n_in, n_hidden, n_out, n_layers
        self.T, self.grid, self.chunk_size = T, grid, chunk_size or 0
        self.checkpoint_chunks = checkpoint_chunks
        self.checkpoint_budget_mib = checkpoint_budget_mib
        self.homeostasis_mode = homeostasis
        n_proj = n_proj or n_hidden
        self.projection = nn.Linear(n_in, n_proj)
        blocks = []
        for i in range(n_layers):
            blocks.append(SRKANBlock(
                n_proj if i == 0 else n_hidden, n_hidden, grid=grid, spline_order=spline_order,
                basis=basis, synapse_rank=synapse_rank, n_modes=n_modes,
                dendritic_gate=dendritic_gate, gate_rank=gate_rank, dt=dt,
                tau_trace=tuple(tau_trace), tau_mem=tau_mem, tau_adapt=tau_adapt,
                tau_distal=tau_distal, adapt_beta=adapt_beta, threshold=threshold,
                grid_range=grid_range, init_gain=init_gain, surrogate=self.surrogate,
                detach_reset=detach_reset,
                homeostasis=Homeostasis(n_hidden, homeostasis, target_rate, homeostasis_momentum,
                                        homeostasis_deadband, homeostasis_step, threshold_floor)))
        self.blocks = nn.ModuleList(blocks)
        self.readout = nn.Linear(n_hidden, n_out)
        with torch.no_grad():
            # The last block fires at ~target_rate: give the output current a std of ~init_gain.
            nn.init.normal_(self.readout.weight, std=init_gain / math.sqrt(n_hidden * target_rate))
            self.readout.bias.zero_()
        self.output = AdaptiveLIF(n_out, dt, tau_mem, tau_adapt, adapt_beta, threshold, self.surrogate,
                                  detach_reset)
        self.log_readout_tau = nn.Parameter(torch.tensor(math.log(tau_readout)))
        self.dt = dt
        self._stats: dict[str, dict[str, Tensor]] = {}

    # ----------------------------------------------------------------------------------- state
    def init_state(self, batch: int, device=None, dtype=None) -> list[tuple]:
        """Zero state for a stream of ``batch`` sequences: one tuple per block, then the output's."""
        p = next(self.parameters())
        device, dtype = device or p.device, dtype or p.dtype
        states = [blk.init_state(batch, device, dtype) for blk in self.blocks]
        out = self.output.init_state(batch, device, dtype)
        return states + [(*out, torch.zeros(batch, self.n_out, device=device, dtype=dtype))]

    def readout_decay(self) -> Tensor:
        return torch.exp(-self.dt / self.log_readout_tau.exp().clamp_min(self.dt * 0.5)).expand(self.n_out)

    # ----------------------------------------------------------------------------------- checks
    def _check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor):
            raise ValueError(f"expected a torch.Tensor [B, T, {self.n_in}], got {type(x).__name__}")
        if x.dim() != 3 or x.shape[-1] != self.n_in:
            raise ValueError(f"expected input of shape [B, T, {self.n_in}] (batch, time, channels), "
                             f"got {list(x.shape)}")
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"expected a non-empty batch and time axis, got shape {list(x.shape)}")
        if x.dtype in (torch.bool, torch.uint8):
            return  # cannot be negative or non-finite
        if not (x.is_floating_point() or x.dtype in (torch.int8, torch.int16, torch.int32, torch.int64)):
            raise ValueError(f"expected float, bool or integer spikes, got dtype {x.dtype}")
        lo, hi = torch.aminmax(x)  # one pass: NaN propagates into both, ±inf shows at an end
        if x.is_floating_point() and not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
            bad = int((~torch.isfinite(x)).sum())
            raise ValueError(f"input contains {bad} non-finite value(s) (NaN/inf); spikes must be finite")
        if bool(lo < 0):
            raise ValueError(f"input contains negative values (min {float(lo)}); spike counts must be >= 0")

    # ----------------------------------------------------------------------------------- core
    def _chunk(self, x: Tensor, states: list[tuple], thetas: list[Tensor]):
        """One chunk through the whole stack. ``x [B, L, n_in]`` (any dtype) →
        ``(spikes, membrane [B, L, n_out], states, hidden spike counts [n_layers, n_hidden],
        output spike counts [n_out], outside-grid fractions [n_layers])``."""
        dtype = self.projection.weight.dtype
        h = self.projection(x.to(dtype))
        new_states, rates, outside = [], [], []
        for blk, state, theta in zip(self.blocks, states, thetas):
            h, state, out_frac = blk(h, state, theta)
            new_states.append(state)
            rates.append(h.detach().sum(dim=(0, 1)))
            outside.append(out_frac)
        current = self.readout(h)
        v, b, s, r = states[-1]
        spikes, (v, b, s) = self.output(current, (v, b, s), thetas[-1])
        a = self.readout_decay()
        membrane = linear_scan(a, (1 - a) * current, r)
        new_states.append((v, b, s, membrane[:, -1].clone()))
        output_counts = spikes.detach().sum(dim=(0, 1))
        return spikes, membrane, new_states, torch.stack(rates), output_counts, torch.stack(outside)

    def _run(self, x: Tensor, states: list[tuple] | None) -> tuple[SRKANOutput, list[tuple]]:
        self._check_input(x)
        B, T, _ = x.shape
        if states is None:
            states = self.init_state(B, device=x.device)
        # Snapshot θ: homeostasis moves the buffers after this call, before any recomputation.
        thetas = [blk.neuron.threshold.clone() for blk in self.blocks] + [self.output.threshold.clone()]
        L = self.chunk_size or T
        use_ckpt = self.training and torch.is_grad_enabled() and L < T and self._should_checkpoint(B, T)
        if use_ckpt:
            release_freed_activations()
        spikes, membranes = [], []
        hidden_counts = torch.zeros(self.n_layers, self.n_hidden, device=x.device)
        output_counts = torch.zeros(self.n_out, device=x.device)
        outside_sum = torch.zeros(self.n_layers, device=x.device)
        n_chunks = 0
        for start in range(0, T, L):
            xc = x[:, start:start + L]
            if use_ckpt:
                result = checkpoint(self._chunk, xc, states, thetas, use_reentrant=False)
            else:
                result = self._chunk(xc, states, thetas)
            s_out, v_out, states, h_counts, o_counts, outside = result
            spikes.append(s_out)
            membranes.append(v_out)
            hidden_counts += h_counts.detach()
            output_counts += o_counts.detach()
            outside_sum += outside.detach()
            n_chunks += 1
        steps = B * T
        self._record_stats(hidden_counts / steps, output_counts / steps, outside_sum / n_chunks)
        if self.training:
            for blk, rate in zip(self.blocks, hidden_counts / steps):
                blk.homeostasis.update(blk.neuron.threshold, rate)
        return SRKANOutput(torch.cat(spikes, 1), torch.cat(membranes, 1)), states

    # Bytes a plain backward pass stores per neuron per step (measured: ~160 B at the defaults).
    _ACTIVATION_BYTES_PER_NEURON_STEP = 160

    def activation_mib(self, batch: int, steps: int) -> float:
        """Estimated activation memory (MiB) of a training step without chunk checkpointing."""
        neurons = self.n_layers * self.n_hidden
        return batch * steps * neurons * self._ACTIVATION_BYTES_PER_NEURON_STEP / 2**20

    def _should_checkpoint(self, batch: int, steps: int) -> bool:
        if self.checkpoint_chunks == "auto":
            return self.activation_mib(batch, steps) > self.checkpoint_budget_mib
        return bool(self.checkpoint_chunks)

    def _record_stats(self, hidden_rates: Tensor, output_rate: Tensor, outside: Tensor) -> None:
        stats = {}
        for i, blk in enumerate(self.blocks):
            stats[f"block{i}"] = {"rate": hidden_rates[i], "threshold": blk.neuron.threshold.detach().clone(),
                                  "outside_grid": outside[i]}
        stats["output"] = {"rate": output_rate, "threshold": self.output.threshold.detach().clone()}
        self._stats = stats

    # ----------------------------------------------------------------------------------- public
    def run(self, x: Tensor) -> SRKANOutput:
        """``x [B, T, n_in]`` → ``SRKANOutput(spikes, membrane)``, both ``[B, T, n_out]``, in one pass."""
        return self._run(x, None)[0]

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, T, n_in]`` spikes (float/bool/uint8) → output spikes ``[B, T, n_out]`` (0/1)."""
        return self.run(x).spikes

    def readout_membrane(self, x: Tensor) -> Tensor:
        """``x [B, T, n_in]`` → output membrane ``[B, T, n_out]``: a leaky integrator of the output
        layer's input current, without threshold or reset; differentiable everywhere."""
        return self.run(x).membrane

    def step_chunk(self, x_chunk: Tensor, state: list[tuple] | None = None, *, readout: str = "spikes"):
        """Streaming: consume ``x_chunk [B, L, n_in]`` given ``state`` (from ``init_state`` or the
        previous call) → ``(out [B, L, n_out], state)``; ``out`` is the spikes, or the membrane with
        ``readout="membrane"``. Successive calls equal one call on the concatenated input."""
        if readout not in ("spikes", "membrane"):
            raise ValueError(f"readout must be 'spikes' or 'membrane', got {readout!r}")
        out, state = self._run(x_chunk, state)
        return (out.spikes if readout == "spikes" else out.membrane), state

    def layer_stats(self) -> dict[str, dict[str, Tensor]]:
        """After a forward pass: per layer ``rate`` (spikes/step per neuron, ``[N]``), ``threshold``
        (``[N]``) and, for blocks, ``outside_grid`` (fraction of normalised states outside the grid)."""
        return self._stats

    def firing_rates(self) -> dict[str, float]:
        """Mean firing rate (spikes/step) per spiking layer in the last forward pass."""
        return {name: float(s["rate"].mean()) for name, s in self._stats.items()}
