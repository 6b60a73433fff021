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
    shift = torch.randint(-max_shift, max_shift + 1, (B,), device=x.device, generator=generator)
    src = torch.arange(C, device=x.device)[None, :] - shift[:, None]  # out[c] = x[c - shift]
    valid = (src >= 0) & (src < C)
    idx = src.clamp(0, C - 1)[:, None, :].expand(B, T, C)
    out = torch.gather(x, 2, idx)
    return out * valid[:, None, :].to(x.dtype)


def event_drop(
    x: torch.Tensor, p: float, generator: torch.Generator | None = None, binary: bool | None = None
) -> torch.Tensor:
    _check(x)
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"event_drop probability must be in [0, 1], got {p}")
    if p == 0.0:
        return x
    if binary is None:
        binary = int(x.max()) <= 1 if x.numel() else True
    if binary:  # binary frames: a Bernoulli mask
        keep = torch.rand(x.shape, device=x.device, generator=generator) >= p
        return x * keep.to(x.dtype)
    kept = torch.binomial(x.float(), torch.full(x.shape, 1.0 - p, device=x.device), generator=generator)
    return kept.to(torch.uint8)


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
    b, t, c = torch.nonzero(x, as_tuple=True)
    d = torch.randint(-j, j + 1, b.shape, device=x.device, generator=generator)
    t2 = t + d
    ok = (t2 >= 0) & (t2 < T)
    out = torch.zeros((B, T, C), dtype=torch.int32, device=x.device)
    out.index_put_((b[ok], t2[ok], c[ok]), x[b[ok], t[ok], c[ok]].to(torch.int32), accumulate=True)
    if binary:
        return (out > 0).to(torch.uint8)
    if out.numel() and int(out.max()) > 255:
        raise ValueError("time_jitter produced a count above 255 in a uint8 count frame; use a smaller jitter")
    return out.to(torch.uint8)


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
