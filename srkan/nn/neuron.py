"""AdaptiveLIF neurons and threshold homeostasis.

Per step ``t`` (state ``v`` after reset, adaptation ``b``, last spike ``s``)::

    b[t]      = ρ b[t-1] + s[t-1]                  spike-triggered adaptation
    θ_eff[t]  = θ + β b[t]
    v_pre[t]  = α v[t-1] + (1 - α) I[t]            leaky integration (I in threshold units)
    s[t]      = H(v_pre[t] - θ_eff[t])             surrogate / saltation backward
    v[t]      = v_pre[t] - θ_eff[t] s[t]           soft reset

which is DESIGN's ``v[t] = α v[t-1] + (1-α) I[t] − θ_eff·s[t-1]`` with the reset applied at the step
that spiked. ``α, ρ ∈ [lo, hi]`` and ``β ≥ 0`` are learnable per neuron and kept in range by a sigmoid
parametrisation. ``θ`` is a buffer moved only by homeostasis, never by the optimiser.

With ``detach_reset`` the reset term ``θ_eff[t] s[t]`` is a constant in the backward pass (SpikingJelly's
``detach_reset`` option): the adjoint of ``v`` then decays by ``α`` per step instead of being multiplied
by ``α(1 − σ θ_eff)``, which exceeds 1 in magnitude when the surrogate factor ``σ`` is large over a wide
band (e.g. a rectangle) and the neuron's effective threshold is high — and BPTT explodes.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .surrogate import Surrogate

HOMEOSTASIS = ("ema_deadband", "naive", "none")


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


class BoundedParameter(nn.Module):
    """A per-neuron learnable value kept inside ``[lo, hi]`` via ``lo + (hi - lo)·sigmoid(raw)``."""

    def __init__(self, init: Tensor, lo: float, hi: float):
        super().__init__()
        if not (lo < float(init.min()) and float(init.max()) < hi):
            raise ValueError(f"initial value must lie strictly inside ({lo}, {hi}), got {init}")
        self.lo, self.hi = lo, hi
        self.raw = nn.Parameter(torch.logit((init - lo) / (hi - lo)))

    def forward(self) -> Tensor:
        return self.lo + (self.hi - self.lo) * torch.sigmoid(self.raw)


class _LIFChunk(torch.autograd.Function):
    """The AdaptiveLIF recurrence over one chunk with a hand-written backward pass (BPTT).

    The forward loop runs without autograd bookkeeping and stores, per step, what the adjoint needs:
    ``v[t-1]``, ``b[t]``, ``θ_eff[t]``, ``s[t]`` and the surrogate factor ``σ[t] = ∂s/∂u``. The backward
    loop runs the adjoint recurrence in reverse (``G·`` = ∂L/∂·)::

        Gs  = ∂L/∂s[t] + Gb[t+1] − θ_eff[t] Gv          (reset and the next step's adaptation)
        Gu  = σ[t] Gs;   Gp = Gv + Gu;   Gθ = −s[t] Gv − Gu
        Gb[t] = β Gθ + ρ Gb[t+1];   Gv ← α Gp            (into v[t-1])

    and reduces the parameter gradients over batch and time afterwards. With ``detach_reset`` the
    reset contributes nothing: ``Gs = ∂L/∂s[t] + Gb[t+1]`` and ``Gθ = −Gu``. It matches autograd through
    the step-by-step reference (tested); about 3× fewer kernel launches per step.
    """

    @staticmethod
    def forward(ctx, current, v, b, s, theta, alpha, rho, beta, surrogate, detach_reset=False):
        drive = ((1 - alpha) * current).unbind(1)
        need_grad = any(ctx.needs_input_grad)
        b_init = b
        v_prev, v_pres, b_all, thresholds, spikes = [], [], [], [], []
        for v_drive in drive:  # six kernels per step; surrogate factors are computed in backward
            b = torch.addcmul(s, rho, b)
            threshold = torch.addcmul(theta, beta, b)
            v_pre = torch.addcmul(v_drive, alpha, v)
            s = (v_pre >= threshold).to(current.dtype)
            if need_grad:
                v_prev.append(v)
                v_pres.append(v_pre)
                b_all.append(b)
                thresholds.append(threshold)
            v = torch.addcmul(v_pre, threshold, s, value=-1.0)
            spikes.append(s)
        spikes = torch.stack(spikes, dim=1)
        if need_grad:
            ctx.surrogate, ctx.detach_reset = surrogate, detach_reset
            # The spikes are recomputed in backward rather than saved: a custom Function that saves
            # its own output keeps it alive even inside a checkpointed region (memory O(T)).
            ctx.save_for_backward(current, torch.stack(v_prev, 1), torch.stack(v_pres, 1),
                                  torch.stack(b_all, 1), torch.stack(thresholds, 1),
                                  alpha, rho, beta, b_init)
        return spikes, v, b, s

    @staticmethod
    def backward(ctx, grad_spikes, grad_v, grad_b, grad_s):
        current, v_prev, v_pre, b_all, thresholds, alpha, rho, beta, b0 = ctx.saved_tensors
        spikes = (v_pre >= thresholds).to(current.dtype)
        L = current.shape[1]
        factors = ctx.surrogate.grad(v_pre - thresholds, v_pre - v_prev).unbind(1)  # σ[t], vectorised
        thresholds_t, spikes_t = thresholds.unbind(1), spikes.unbind(1)
        zeros = torch.zeros_like(b0)
        gv = grad_v if grad_v is not None else zeros
        gb_next = zeros  # ∂L/∂b[t+1] (total); beyond the chunk b[L] is an output instead
        g_out = grad_spikes.unbind(1) if grad_spikes is not None else [zeros] * L
        gp_all, gtheta_all, gb_all = [None] * L, [None] * L, [None] * L
        for t in range(L - 1, -1, -1):
            gs = g_out[t] + gb_next
            if not ctx.detach_reset:
                gs = torch.addcmul(gs, thresholds_t[t], gv, value=-1.0)
            if t == L - 1 and grad_s is not None:
                gs = gs + grad_s
            gu = factors[t] * gs
            gp = gv + gu
            gtheta = gu.neg() if ctx.detach_reset else torch.addcmul(gu, spikes_t[t], gv).neg_()
            gb = torch.addcmul(rho * gb_next, beta, gtheta)
            if t == L - 1 and grad_b is not None:
                gb = gb + grad_b
            gv = alpha * gp
            gp_all[t], gtheta_all[t], gb_all[t] = gp, gtheta, gb
            gb_next = gb
        gp = torch.stack(gp_all, 1)
        gtheta = torch.stack(gtheta_all, 1)
        gb = torch.stack(gb_all, 1)
        b_before = torch.cat([b0[:, None], b_all[:, :-1]], 1)  # b[t-1]
        grad_current = (1 - alpha) * gp
        grad_alpha = ((v_prev - current) * gp).sum(dim=(0, 1))
        grad_beta = (b_all * gtheta).sum(dim=(0, 1))
        grad_rho = (b_before * gb).sum(dim=(0, 1))
        # Into the carried state: v[0] via α Gp[0]; b[0] via ρ Gb[1]; s[0] via Gb[1] (b[1] = ρ b[0] + s[0]).
        return grad_current, gv, rho * gb[:, 0], gb[:, 0], None, grad_alpha, grad_rho, grad_beta, None, None


def lif_chunk(current: Tensor, state: tuple[Tensor, Tensor, Tensor], theta: Tensor, alpha: Tensor,
              rho: Tensor, beta: Tensor, surrogate: Surrogate, detach_reset: bool = False):
    """Run the AdaptiveLIF recurrence over one chunk.

    Args:
        current: ``[B, L, N]`` input current (threshold units).
        state: ``(v, b, s)`` each ``[B, N]``: membrane after reset, adaptation, last spikes.
        theta: ``[N]`` base thresholds (no gradient); alpha, rho, beta: ``[N]`` neuron constants.
        surrogate: the spike's backward factor. detach_reset: no gradient through the soft reset.

    Returns:
        ``(spikes [B, L, N], (v, b, s))``.
    """
    v, b, s = state
    spikes, v, b, s = _LIFChunk.apply(current, v, b, s, theta.detach(), alpha, rho, beta, surrogate,
                                      bool(detach_reset))
    return spikes, (v, b, s)


class AdaptiveLIF(nn.Module):
    """A layer of ``n`` adaptive leaky integrate-and-fire neurons.

    Args:
        n: number of neurons.
        dt: time step (ms). tau_mem, tau_adapt: initial time constants (ms).
        beta: initial adaptation strength (threshold units per spike).
        threshold: initial base threshold θ.
        surrogate: the spike's backward pass. detach_reset: no gradient through the soft reset.
    """

    def __init__(self, n: int, dt: float, tau_mem: float, tau_adapt: float, beta: float,
                 threshold: float, surrogate: Surrogate, detach_reset: bool = False):
        super().__init__()
        self.n = n
        self.surrogate, self.detach_reset = surrogate, bool(detach_reset)
        self.alpha = BoundedParameter(torch.full((n,), math.exp(-dt / tau_mem)), 0.01, 0.999)
        self.rho = BoundedParameter(torch.full((n,), math.exp(-dt / tau_adapt)), 0.3, 0.9995)
        self.beta = BoundedParameter(torch.full((n,), beta), 0.0, 4.0)
        self.register_buffer("threshold", torch.full((n,), float(threshold)))

    def init_state(self, batch: int, device=None, dtype=None) -> tuple[Tensor, Tensor, Tensor]:
        z = torch.zeros(batch, self.n, device=device, dtype=dtype)
        return z, z.clone(), z.clone()

    def forward(self, current: Tensor, state, theta: Tensor):
        """``current [B, L, n]`` → ``(spikes [B, L, n], state)``; ``theta`` is the θ snapshot to use."""
        return lif_chunk(current, state, theta, self.alpha(), self.rho(), self.beta(), self.surrogate,
                         self.detach_reset)


class Homeostasis(nn.Module):
    """Threshold homeostasis toward a target firing rate (buffers only; no gradient).

    ``naive``:        ``θ ← θ + η (r_batch − r*)`` every training step.
    ``ema_deadband``: ``r̄ ← (1−μ) r̄ + μ r_batch``; ``θ ← θ + η (r̄ − r*)`` only where ``|r̄ − r*| > δ``.
    ``none``:         θ never moves.
    θ is clamped to ``≥ floor``. Rates are spikes per step per neuron.
    """

    def __init__(self, n: int, mode: str, target_rate: float, momentum: float, deadband: float,
                 step: float, floor: float):
        super().__init__()
        if mode not in HOMEOSTASIS:
            raise ValueError(f"homeostasis must be one of {HOMEOSTASIS}, got {mode!r}")
        if not 0 < target_rate < 1:
            raise ValueError(f"target_rate must be in (0, 1) spikes/step, got {target_rate}")
        if not 0 < momentum <= 1:
            raise ValueError(f"homeostasis momentum must be in (0, 1], got {momentum}")
        if deadband < 0 or step < 0 or floor <= 0:
            raise ValueError(f"need deadband >= 0, step >= 0, floor > 0; got {deadband}, {step}, {floor}")
        self.mode, self.target_rate = mode, target_rate
        self.momentum, self.deadband, self.step, self.floor = momentum, deadband, step, floor
        self.register_buffer("rate_ema", torch.full((n,), float(target_rate)))

    @torch.no_grad()
    def update(self, threshold: Tensor, batch_rate: Tensor) -> None:
        """Move ``threshold`` ``[n]`` in place given this batch's per-neuron rate ``[n]``."""
        if self.mode == "none":
            return
        if self.mode == "naive":
            threshold.add_(self.step * (batch_rate - self.target_rate))
        else:
            self.rate_ema.mul_(1 - self.momentum).add_(self.momentum * batch_rate)
            error = self.rate_ema - self.target_rate
            threshold.add_(self.step * error * (error.abs() > self.deadband))
        threshold.clamp_(min=self.floor)
