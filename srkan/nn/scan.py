"""ChunkedScan: the one operator for every linear recurrence in srkan.

``h[t] = a ⊙ h[t-1] + b[t]`` with a per-channel constant decay ``a`` (the traces of the modal synapses,
the distal dendritic compartment and the readout integrator all have this form). Inside a chunk of
``L`` steps the recurrence is solved without autograd bookkeeping — on accelerators in parallel (a
doubling scan, ``log2 L`` vectorised passes), on CPUs with ``L`` fused multiply-adds, which is faster
there — and its backward pass is the same scan run backwards in time; across chunks only the carry
``h`` is sequential.
"""
from __future__ import annotations

import torch
from torch import Tensor


def carry_powers(decay: Tensor, length: int) -> Tensor:
    """``[L, D]`` with ``P[t, d] = a_d^(t+1)``: how much of the carry survives to step ``t``."""
    steps = torch.arange(1, length + 1, device=decay.device, dtype=decay.dtype)
    return torch.exp(steps[:, None] * torch.log(decay.clamp_min(1e-30))[None, :])


def _doubling_scan(decay: Tensor, drive: Tensor) -> Tensor:
    """Zero-carry scan ``h[t] = a h[t-1] + drive[t]`` in ``ceil(log2 L)`` vectorised passes (Hillis–Steele:
    after the pass with offset ``k`` each step holds the decayed sum of its last ``2k`` drives). No
    division by decay powers, so it is stable for any decay in (0, 1]."""
    length = drive.shape[1]
    h = drive.clone()
    power = decay
    k = 1
    while k < length:
        h[:, k:] += power * h[:, :-k].clone()
        power = power * power
        k *= 2
    return h


def _stepwise_scan(decay: Tensor, drive: Tensor) -> Tensor:
    """Zero-carry scan one step at a time: ``L`` fused multiply-adds over ``[B, D]``. On a CPU this
    moves the least memory (one pass over ``drive``) and beats the doubling scan ~3× for chunk sizes
    up to a few dozen; accelerators, which pay per kernel launch, get the doubling scan."""
    h = torch.zeros_like(drive[:, 0])
    out = []
    for step in drive.unbind(1):
        h = torch.addcmul(step, decay, h)
        out.append(h)
    return torch.stack(out, dim=1)


def _zero_carry_scan(decay: Tensor, drive: Tensor) -> Tensor:
    if drive.device.type == "cpu":
        return _stepwise_scan(decay, drive)
    return _doubling_scan(decay, drive)


class _LinearScan(torch.autograd.Function):
    """Forward: the doubling scan plus the carry. Backward: the adjoint recurrence is the same scan run
    backwards in time, ``g̃[t] = ∂L/∂h[t] + a g̃[t+1]``; then ``∂L/∂drive = g̃``,
    ``∂L/∂h0 = a g̃[0]`` and ``∂L/∂a = Σ_{b,t} g̃[t] h[t-1]``."""

    @staticmethod
    def forward(ctx, decay, drive, h0):
        h = _zero_carry_scan(decay, drive) + carry_powers(decay, drive.shape[1])[None] * h0[:, None, :]
        # Save h[t-1] as a new tensor, never the output itself: a custom Function that saves its own
        # output keeps it alive even inside a checkpointed region, which would make memory O(T).
        ctx.save_for_backward(decay, torch.cat([h0[:, None], h[:, :-1]], dim=1))
        return h

    @staticmethod
    def backward(ctx, grad_h):
        decay, h_prev = ctx.saved_tensors
        adjoint = _zero_carry_scan(decay, grad_h.flip(1)).flip(1)
        grad_decay = (adjoint * h_prev).sum(dim=(0, 1)) if ctx.needs_input_grad[0] else None
        grad_h0 = decay * adjoint[:, 0] if ctx.needs_input_grad[2] else None
        return grad_decay, adjoint, grad_h0


def linear_scan(decay: Tensor, drive: Tensor, h0: Tensor) -> Tensor:
    """Solve ``h[t] = decay ⊙ h[t-1] + drive[t]`` over one chunk, in parallel over time.

    Args:
        decay: ``[D]`` per-channel decay in (0, 1].
        drive: ``[B, L, D]`` input added at each step.
        h0: ``[B, D]`` state before the first step of the chunk.

    Returns:
        ``[B, L, D]`` states after each step; ``h[:, -1]`` is the carry into the next chunk.
    """
    if drive.dim() != 3 or decay.shape != drive.shape[-1:] or h0.shape != (drive.shape[0], drive.shape[2]):
        raise ValueError(f"linear_scan expects decay [D], drive [B, L, D], h0 [B, D]; got "
                         f"{list(decay.shape)}, {list(drive.shape)}, {list(h0.shape)}")
    return _LinearScan.apply(decay, drive, h0)


def chunked_linear_scan(decay: Tensor, drive: Tensor, h0: Tensor, chunk_size: int | None) -> Tensor:
    """``linear_scan`` over a whole sequence, chunk by chunk, carrying the state between chunks.

    Args:
        decay: ``[D]``; drive: ``[B, T, D]``; h0: ``[B, D]``; chunk_size: steps per chunk
            (``None`` or 0: the whole sequence in one chunk).

    Returns:
        ``[B, T, D]``.
    """
    T = drive.shape[1]
    L = T if not chunk_size else chunk_size
    outs = []
    h = h0
    for start in range(0, T, L):
        chunk = linear_scan(decay, drive[:, start:start + L], h)
        h = chunk[:, -1].clone()
        outs.append(chunk)
    return torch.cat(outs, dim=1)
