"""Plain step-by-step references the optimised operators are tested against."""
from __future__ import annotations

import torch

from srkan.nn.surrogate import spike


def scan_reference(decay, drive, h0):
    """``h[t] = decay ⊙ h[t-1] + drive[t]``, one Python step at a time. ``[D], [B,T,D], [B,D] → [B,T,D]``."""
    h, out = h0, []
    for t in range(drive.shape[1]):
        h = decay * h + drive[:, t]
        out.append(h)
    return torch.stack(out, 1)


def lif_reference(current, state, theta, alpha, rho, beta, surrogate, detach_reset=False):
    """AdaptiveLIF through autograd, one step at a time (the spike's backward is ``surrogate.grad``;
    ``detach_reset``: the reset term is a constant for autograd)."""
    v, b, s = state
    spikes = []
    for t in range(current.shape[1]):
        b = rho * b + s
        threshold = theta + beta * b
        v_pre = alpha * v + (1 - alpha) * current[:, t]
        s = spike(v_pre - threshold, v_pre - v, surrogate)
        reset = threshold * s
        v = v_pre - (reset.detach() if detach_reset else reset)
        spikes.append(s)
    return torch.stack(spikes, 1), (v, b, s)


def srkan_reference(model, x):
    """The whole SRKAN forward written plainly: one Python step at a time for every recurrence, the
    dense Cox–de Boor basis for the synaptic curves, no chunks, no checkpointing. Uses the model's own
    parameters and thresholds. ``x [B, T, n_in]`` → ``(spikes, membrane)`` each ``[B, T, n_out]``."""
    import torch.nn.functional as F

    from srkan.nn.basis import bspline_basis_reference

    B = x.shape[0]
    h = model.projection(x.to(model.projection.weight.dtype))
    for blk in model.blocks:
        syn = blk.synapse
        a = syn.decay()
        inp = h.repeat_interleave(syn.n_modes, dim=-1) if syn.n_modes > 1 else h
        u = scan_reference(a, (1 - a) * inp, torch.zeros(B, syn.d_state, dtype=h.dtype))
        z = F.layer_norm(u, (syn.d_state,))
        if syn.basis == "bspline":
            basis = bspline_basis_reference(z, syn.grid, syn.order, -syn.grid_range, syn.grid_range)
            psi = torch.einsum("btdk,dkr->rbtd", basis, syn.curves)
        else:
            psi = syn.curves_at(z)
        features = torch.cat([F.silu(z)[None], psi], 0).permute(1, 2, 0, 3).flatten(-2)
        current = syn.mix(features)
        if blk.gate is not None:
            ag = blk.gate.decay()
            g = scan_reference(ag, (1 - ag) * blk.gate.up(blk.gate.down(z)),
                               torch.zeros(B, blk.gate.d_out, dtype=h.dtype))
            current = current * torch.sigmoid(g)
        neuron = blk.neuron
        zeros = torch.zeros(B, neuron.n, dtype=h.dtype)
        h, _ = lif_reference(current, (zeros, zeros, zeros), neuron.threshold, neuron.alpha(),
                             neuron.rho(), neuron.beta(), neuron.surrogate, neuron.detach_reset)
    current = model.readout(h)
    out = model.output
    zeros = torch.zeros(B, out.n, dtype=h.dtype)
    spikes, _ = lif_reference(current, (zeros, zeros, zeros), out.threshold, out.alpha(), out.rho(),
                              out.beta(), out.surrogate, out.detach_reset)
    ar = model.readout_decay()
    membrane = scan_reference(ar, (1 - ar) * current, zeros)
    return spikes, membrane
