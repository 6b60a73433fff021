"""Surrogate gradients for the Heaviside spike, in one place.

Every surrogate is a pair: a smooth *primitive* ``S(u)`` (a soft step) and its *derivative* ``S'(u)``,
used in the backward pass of the spike in place of the Dirac delta. ``u = v - θ`` is the distance of
the membrane from threshold (in threshold units when θ≈1).

``saltation`` (the default) adds the exact-timing term of hybrid-systems theory. When the membrane
crosses threshold between two steps, the spike time inside the step is ``τ* = (θ - v[t-1]) / Δv`` with
``Δv = v[t] - v[t-1]`` (linear interpolation); the part of the step spent above threshold is
``f(u, Δv) = clamp(u / Δv, 0, 1)``, and ``∂f/∂u = 1/|Δv|`` inside the crossing window ``0 ≤ u ≤ Δv``:
the jump is scaled by the inverse speed of the membrane through threshold (the saltation matrix). To
stay finite, ``|Δv|`` is clamped from below by ``min_speed``. The backward pass blends both:

    ∂s/∂u ≈ (1 - λ) · S'(u) + λ · 1[0 ≤ u ≤ Δv] / max(|Δv|, min_speed)

with the blend ``λ = saltation_weight`` and the smooth part ``S'`` the fast-sigmoid derivative
``1 / (1 + k|u|)^2``. No gradient flows into ``Δv``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

SURROGATES = ("saltation", "sigmoid", "rectangle", "atan")
# Default sharpness per surrogate. The rectangle is the STBP one (Wu et al. 2018): width 1, height 1
# in threshold units. A width-1/5 rectangle has height 5, and BPTT through the soft reset then
# explodes (measured here: gradient norm inf from the first step on spoken-digits-dev).
DEFAULT_SLOPES = {"saltation": 5.0, "sigmoid": 5.0, "rectangle": 1.0, "atan": 5.0}


@dataclass(frozen=True)
class Surrogate:
    """A surrogate spike derivative and the smooth primitive it differentiates.

    Attributes:
        name: one of ``SURROGATES``.
        slope: sharpness ``k`` of the smooth part (for ``rectangle``: ``1/width``, which is also its
            height); ``None`` = ``DEFAULT_SLOPES[name]`` (5, but 1 for the rectangle).
        saltation_weight: blend ``λ`` of the exact-timing term (``saltation`` only).
        min_speed: lower clamp of ``|Δv|`` in the exact-timing term (``saltation`` only).
    """

    name: str = "saltation"
    slope: float | None = None
    saltation_weight: float = 0.3
    min_speed: float = 0.25

    def __post_init__(self):
        if self.name not in SURROGATES:
            raise ValueError(f"surrogate must be one of {SURROGATES}, got {self.name!r}")
        if self.slope is None:
            object.__setattr__(self, "slope", DEFAULT_SLOPES[self.name])  # frozen dataclass
        if not self.slope > 0:
            raise ValueError(f"surrogate_slope must be > 0, got {self.slope}")
        if not 0.0 <= self.saltation_weight <= 1.0:
            raise ValueError(f"saltation_weight must be in [0, 1], got {self.saltation_weight}")
        if not self.min_speed > 0:
            raise ValueError(f"min_speed must be > 0, got {self.min_speed}")

    def primitive(self, u: Tensor) -> Tensor:
        """Smooth soft step ``S(u)`` whose derivative is the smooth surrogate."""
        k = self.slope
        if self.name == "sigmoid":
            return torch.sigmoid(k * u)
        if self.name == "rectangle":
            return torch.clamp(k * u + 0.5, 0.0, 1.0)
        if self.name == "atan":
            return 0.5 + torch.atan(math.pi / 2 * k * u) / math.pi
        # saltation's smooth part: fast sigmoid  0.5 + 0.5 * k u / (1 + k|u|)
        return 0.5 + 0.5 * k * u / (1 + k * u.abs())

    def derivative(self, u: Tensor) -> Tensor:
        """Smooth surrogate derivative ``S'(u)``."""
        k = self.slope
        if self.name == "sigmoid":
            s = torch.sigmoid(k * u)
            return k * s * (1 - s)
        if self.name == "rectangle":
            return (u.abs() < 0.5 / k).to(u.dtype) * k
        if self.name == "atan":
            return (k / 2) / (1 + (math.pi / 2 * k * u) ** 2)
        return 0.5 * k / (1 + k * u.abs()) ** 2

    def timing_fraction(self, u: Tensor, dv: Tensor) -> Tensor:
        """Part of the step spent above threshold after an upward crossing, ``clamp(u/Δv, 0, 1)``."""
        return torch.clamp(u / dv.clamp_min(self.min_speed), 0.0, 1.0)

    def timing_derivative(self, u: Tensor, dv: Tensor) -> Tensor:
        """Exact-timing (saltation) term ``1[0 ≤ u ≤ Δv] / max(|Δv|, min_speed)``."""
        crossing = (u >= 0) & (u <= dv)
        return crossing.to(u.dtype) / dv.abs().clamp_min(self.min_speed)

    def grad(self, u: Tensor, dv: Tensor | None) -> Tensor:
        """Full backward factor ``∂s/∂u`` used for the spike."""
        smooth = self.derivative(u)
        if self.name != "saltation" or dv is None or self.saltation_weight == 0:
            return smooth
        w = self.saltation_weight
        return (1 - w) * smooth + w * self.timing_derivative(u, dv)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, dv, surrogate):
        ctx.save_for_backward(u, dv)
        ctx.surrogate = surrogate
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out):
        u, dv = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(u, dv), None, None


def spike(u: Tensor, dv: Tensor, surrogate: Surrogate) -> Tensor:
    """Heaviside spike ``s = 1[u ≥ 0]`` with the surrogate's backward pass.

    Args:
        u: ``[...]`` membrane minus threshold.
        dv: ``[...]`` membrane change over the step (used by ``saltation`` only; no gradient).
        surrogate: the surrogate to use in the backward pass.
    """
    return _Spike.apply(u, dv.detach(), surrogate)


class SmoothProxy(torch.autograd.Function):
    """Forward: the surrogate's primitive; backward: its derivative. For gradcheck of the pair."""

    @staticmethod
    def forward(ctx, u, surrogate):
        ctx.save_for_backward(u)
        ctx.surrogate = surrogate
        return surrogate.primitive(u)

    @staticmethod
    def backward(ctx, grad_out):
        (u,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.derivative(u), None
