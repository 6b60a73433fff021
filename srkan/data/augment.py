"""Augmentations on batch tensors ``x`` of shape ``[B, T, C]`` (``uint8`` frames), on any device.

All draw from torch's global RNG (seeded by ``seed_everything``) unless a ``generator`` is given, and
return a new ``uint8`` tensor of the same shape. The datamodules apply them to training batches only.

- :func:`channel_shift`: every sample is shifted along the channel axis by its own integer drawn
  uniformly from ``[-max_shift, max_shift]`` (the whole cochlea moved up/down; channels shifted past
  the edge are lost, vacated channels are zero).
- :func:`event_drop`: every event is dropped independently with probability ``p`` (a count ``c``
  becomes ``Binomial(c, 1 - p)``).
- :func:`time_jitter`: every non-zero (bin, channel) entry moves in time by its own integer drawn
  uniformly from ``[-max_jitter, max_jitter]`` bins; entries moved outside ``[0, T)`` are lost. Where
  two entries land in the same place, binary frames keep 1 and count frames add (a sum above 255 raises).
"""

from __future__ import annotations

import torch


def _check(x: torch.Tensor) -> None:
    if x.dim() != 3:
        raise ValueError(f"augmentations expect a batch [B, T, C], got shape {tuple(x.shape)}")


def channel_shift(x: torch.Tensor, max_shift: int, generator: torch.Generator | None = None) -> torch.Tensor:
    _check(x)
    max_shift = int(max_shift)
    if max_shift <= 0:
        return x
    B, T, C = x.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (B,), generator=generator).tolist()
    out = torch.zeros_like(x)
    for i, s in enumerate(shifts):  # one slice copy per sample: out[c] = x[c - s]
        if s >= 0:
            out[i, :, s:] = x[i, :, : C - s]
        else:
            out[i, :, :s] = x[i, :, -s:]
    return out


def event_drop(
    x: torch.Tensor, p: float, generator: torch.Generator | None = None, binary: bool | None = None
) -> torch.Tensor:
    _check(x)
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"event_drop probability must be in [0, 1], got {p}")
    if p == 0.0:
        return x
    flat = x.reshape(-1).clone()
    nz = torch.nonzero(flat).squeeze(1)  # random numbers only for the (sparse) non-zero entries
    if binary is None:
        binary = bool((flat[nz] <= 1).all())
    if binary:
        drop = torch.rand(nz.shape, device=x.device, generator=generator) < p
        flat[nz[drop]] = 0
    else:
        keep_p = torch.full(nz.shape, 1.0 - p, device=x.device)
        flat[nz] = torch.binomial(flat[nz].float(), keep_p, generator=generator).to(x.dtype)
    return flat.view_as(x)


def time_jitter(
    x: torch.Tensor, max_jitter: int, generator: torch.Generator | None = None, binary: bool | None = None
) -> torch.Tensor:
    _check(x)
    j = int(max_jitter)
    if j <= 0:
        return x
    B, T, C = x.shape
    if binary is None:
        binary = int(x.max()) <= 1 if x.numel() else True
    flat = x.reshape(-1)
    nz = torch.nonzero(flat).squeeze(1)  # only the (sparse) non-zero entries move
    t = (nz // C) % T
    d = torch.randint(-j, j + 1, nz.shape, device=x.device, generator=generator)
    ok = (t + d >= 0) & (t + d < T)
    dst = nz[ok] + d[ok] * C
    if binary:
        out = torch.zeros_like(flat)
        out[dst] = 1
        return out.view_as(x)
    acc = torch.zeros(flat.shape, dtype=torch.int32, device=x.device)
    acc.index_add_(0, dst, flat[nz[ok]].to(torch.int32))
    if acc.numel() and int(acc.max()) > 255:
        raise ValueError("time_jitter produced a count above 255 in a uint8 count frame; use a smaller jitter")
    return acc.to(torch.uint8).view_as(x)


def augment_batch(
    x: torch.Tensor,
    *,
    channel_shift_max: int = 0,
    event_drop_p: float = 0.0,
    time_jitter_max: int = 0,
    binary: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply the enabled augmentations in a fixed order: event drop, time jitter, channel shift."""
    if event_drop_p:
        x = event_drop(x, event_drop_p, generator, binary=binary)
    if time_jitter_max:
        x = time_jitter(x, time_jitter_max, generator, binary=binary)
    if channel_shift_max:
        x = channel_shift(x, channel_shift_max, generator)
    return x
