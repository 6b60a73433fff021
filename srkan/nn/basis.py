"""Basis functions for the learnable synaptic curves: uniform B-splines and a safe rational (Padé) unit.

B-splines live on a uniform grid of ``grid`` intervals over ``[lo, hi]``, extended by ``order`` knots on
each side (as in KAN), so there are ``grid + order`` basis functions, all zero outside
``[lo - order·h, hi + order·h]`` with ``h = (hi - lo) / grid``.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor


def uniform_knots(grid: int, order: int, lo: float, hi: float, device=None, dtype=None) -> Tensor:
    """The ``grid + 2·order + 1`` knots of the extended uniform grid."""
    h = (hi - lo) / grid
    idx = torch.arange(-order, grid + order + 1, device=device, dtype=dtype or torch.float32)
    return lo + idx * h


def bspline_basis_reference(z: Tensor, grid: int, order: int, lo: float, hi: float) -> Tensor:
    """Cox–de Boor recursion over all knots (any order): ``[...]`` → ``[..., grid + order]``.

    Half-open intervals ``[t_k, t_{k+1})``, as ``scipy.interpolate.BSpline`` evaluates them.
    Used for orders other than 3 and as the reference the cubic fast path is tested against.
    """
    t = uniform_knots(grid, order, lo, hi, device=z.device, dtype=z.dtype)
    x = z.unsqueeze(-1)
    basis = ((x >= t[:-1]) & (x < t[1:])).to(z.dtype)  # degree 0: [..., n_knots - 1]
    for p in range(1, order + 1):
        left = (x - t[: -(p + 1)]) / (t[p:-1] - t[: -(p + 1)]) * basis[..., :-1]
        right = (t[p + 1:] - x) / (t[p + 1:] - t[1:-p]) * basis[..., 1:]
        basis = left + right
    return basis


def cubic_bspline_basis(z: Tensor, grid: int, lo: float, hi: float) -> Tensor:
    """Closed-form uniform cubic B-spline basis: ``[...]`` → ``[..., grid + 3]``.

    On a uniform grid only four bases are non-zero at any point: the interval index ``m`` and the
    local fraction ``f`` give their weights directly, which are scattered into the dense basis.
    This replaces the recursion over all knots (the dominant elementwise cost of a KAN layer).
    """
    order = 3
    n_basis = grid + order
    h = (hi - lo) / grid
    u = (z - lo) / h + order  # position in knot-interval units, 0 at the first extended knot
    m = torch.floor(u)
    f = u - m
    f2, f3 = f * f, f * f * f
    weights = torch.stack(
        [
            (1 - f) ** 3 / 6,
            (3 * f3 - 6 * f2 + 4) / 6,
            (-3 * f3 + 3 * f2 + 3 * f + 1) / 6,
            f3 / 6,
        ],
        dim=-1,
    )  # weights of bases m-3, m-2, m-1, m
    m = m.long()
    inside = (m >= 0) & (m < n_basis + order)
    weights = weights * inside.unsqueeze(-1).to(z.dtype)
    # Pad by `order` slots on both sides so the four neighbours of any interval can be scattered.
    idx = (m.clamp(0, n_basis + order - 1)).unsqueeze(-1) + torch.arange(4, device=z.device)
    padded = torch.zeros(*z.shape, n_basis + 2 * order, device=z.device, dtype=z.dtype)
    padded = padded.scatter(-1, idx, weights)
    return padded[..., order: order + n_basis]


def bspline_basis(z: Tensor, grid: int, order: int, lo: float, hi: float) -> Tensor:
    """Uniform B-spline basis ``[...]`` → ``[..., grid + order]`` (closed form for cubic splines)."""
    if order == 3:
        return cubic_bspline_basis(z, grid, lo, hi)
    return bspline_basis_reference(z, grid, order, lo, hi)


@functools.lru_cache(maxsize=None)
def local_polynomials(order: int) -> Tensor:
    """``[order+1, order+1]`` matrix ``C[p, j]``: on one knot interval, with local fraction ``f`` in
    [0, 1), the ``j``-th non-zero uniform B-spline (``j = 0`` the earliest) is ``Σ_p C[p, j] f^p``.

    Solved once from the reference recursion on a Vandermonde system (exact: the pieces are
    polynomials of degree ``order``)."""
    f = (torch.arange(order + 1, dtype=torch.float64) + 0.5) / (order + 1)
    values = bspline_basis_reference(f, 1, order, 0.0, 1.0)  # [order+1 points, order+1 bases]
    vandermonde = f[:, None] ** torch.arange(order + 1, dtype=torch.float64)
    return torch.linalg.solve(vandermonde, values)


def spline_curves(z: Tensor, coefficients: Tensor, grid: int, order: int, lo: float, hi: float) -> Tensor:
    """Evaluate ``R`` B-spline curves per input, ``ψ_ir(z_i) = Σ_k M[i,k,r] B_k(z_i)``, without
    building the dense basis.

    The curves are converted once per call (parameter-sized work) to piecewise polynomials, one per
    knot interval; each input gathers its interval's coefficients and runs Horner's rule. The result
    equals ``bspline_basis(z) @ M`` (tested) at a fraction of the memory traffic: no ``[..., D, K]``
    tensor is ever built.

    Args:
        z: ``[..., D]`` inputs. coefficients: ``[D, grid + order, R]`` B-spline coefficients ``M``.

    Returns:
        ``[R, ..., D]`` (curve-major, so each curve's plane is contiguous); zero outside the
        extended grid ``[lo - order·h, hi + order·h)``.
    """
    D, n_basis, R = coefficients.shape
    if z.shape[-1] != D or n_basis != grid + order:
        raise ValueError(f"expected z [..., {D}] and coefficients [D, grid+order={grid + order}, R], "
                         f"got z {list(z.shape)} and coefficients {list(coefficients.shape)}")
    n_intervals = grid + 2 * order
    local = local_polynomials(order).to(dtype=coefficients.dtype, device=coefficients.device)
    # Interval m (0-based from the first extended knot) sees bases m-order .. m; pad so every window
    # exists, and add one all-zero interval at each end for inputs outside the extended grid.
    padded = torch.nn.functional.pad(coefficients, (0, 0, order, order))  # [D, K + 2·order, R]
    windows = padded.unfold(1, order + 1, 1)  # [D, n_intervals, R, order+1 (j)]
    # Contract the window with the local polynomials as one small matmul over the last axis (an
    # einsum here is lowered to a batched matmul that costs more than the rest of the layer).
    poly = (windows @ local.t()).permute(3, 2, 0, 1)  # [P, R, D, n_intervals]
    poly = torch.nn.functional.pad(poly, (1, 1)).reshape(order + 1, R, D * (n_intervals + 2))
    h = (hi - lo) / grid
    u = z.mul(1.0 / h).add_(order - lo / h)  # position in knot intervals from the first extended knot
    m = torch.floor(u)
    f = (u - m).reshape(-1)
    # Row of each input's interval in the padded table (row 0 and the last row are the zero intervals).
    offsets = torch.arange(D, device=z.device, dtype=z.dtype) * (n_intervals + 2) + 1
    # A NaN input reads the zero interval and stays NaN through f, so it reaches the loss (and its
    # clear error) instead of becoming an out-of-range int64 index.
    rows = m.nan_to_num_(nan=-1.0).clamp_(-1, n_intervals).add_(offsets).reshape(-1).to(torch.int64)
    # Gather along the last dim of a 2-D table: ~10× faster on CPU than a 3-D index_select.
    c = poly.reshape((order + 1) * R, -1).index_select(1, rows).view(order + 1, R, -1)  # [P, R, N·D]
    planes = c.unbind(0)  # unbind, not indexing: its backward stacks instead of zero-filling
    out = planes[order]
    for p in range(order - 1, -1, -1):
        out = torch.addcmul(planes[p], out, f)
    return out.reshape(R, *z.shape)


def safe_rational(z: Tensor, numerator: Tensor, denominator: Tensor) -> Tensor:
    """Safe Padé unit ``P(z) / (1 + Σ_k |b_k z^k|)``, evaluated per group of inputs.

    Args:
        z: ``[..., G, S]`` inputs, ``G`` groups of ``S`` inputs that share coefficients.
        numerator: ``[G, R, m+1]`` coefficients ``a_0..a_m`` of ``R`` curves per group.
        denominator: ``[G, R, n]`` coefficients ``b_1..b_n``.

    Returns:
        ``[R, ..., G, S]``: ``R`` curves per input (curve-major, like ``spline_curves``). The
        denominator is ≥ 1, so the unit has no poles.
    """
    m = numerator.shape[-1] - 1
    n = denominator.shape[-1]
    powers = z.unsqueeze(-1) ** torch.arange(max(m, n) + 1, device=z.device, dtype=z.dtype)  # [...,G,S,P]
    num = torch.einsum("...gsp,grp->r...gs", powers[..., : m + 1], numerator)
    den = 1 + torch.einsum("...gsp,grp->r...gs", powers[..., 1: n + 1].abs(), denominator.abs())
    return num / den
