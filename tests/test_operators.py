"""Operators against references: scan vs a loop, B-splines vs scipy, surrogates vs gradcheck and
finite differences, the fused AdaptiveLIF vs autograd through the step-by-step loop."""
import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from reference import lif_reference, scan_reference
from srkan.nn.basis import (bspline_basis, bspline_basis_reference, cubic_bspline_basis,
                            safe_rational, spline_curves, uniform_knots)
from srkan.nn.neuron import lif_chunk
from srkan.nn.scan import chunked_linear_scan, linear_scan
from srkan.nn.surrogate import SURROGATES, SmoothProxy, Surrogate, spike

f64 = torch.float64


# ------------------------------------------------------------------------------------ scan
@pytest.mark.parametrize("chunk_size", [1, 3, 10, 23, 0, 7])
def test_chunked_scan_matches_loop_outputs_and_gradients(chunk_size):
    torch.manual_seed(0)
    decay = (torch.rand(5, dtype=f64) * 0.9 + 0.05).requires_grad_()
    drive = torch.randn(3, 23, 5, dtype=f64, requires_grad=True)
    h0 = torch.randn(3, 5, dtype=f64, requires_grad=True)
    out = chunked_linear_scan(decay, drive, h0, chunk_size)
    ref = scan_reference(decay, drive, h0)
    torch.testing.assert_close(out, ref)
    w = torch.randn_like(out)
    for g, r in zip(torch.autograd.grad((out * w).sum(), (decay, drive, h0)),
                    torch.autograd.grad((ref * w).sum(), (decay, drive, h0))):
        torch.testing.assert_close(g, r)


def test_scan_gradcheck_and_extreme_decays():
    torch.manual_seed(0)
    decay = torch.tensor([1e-6, 0.5, 0.999999], dtype=f64, requires_grad=True)
    drive = torch.randn(2, 9, 3, dtype=f64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_scan, (decay, drive, h0))
    torch.testing.assert_close(linear_scan(decay, drive, h0), scan_reference(decay, drive, h0))


def test_scan_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match=r"decay \[D\], drive \[B, L, D\]"):
        linear_scan(torch.rand(4), torch.rand(2, 3, 5), torch.rand(2, 5))


# ------------------------------------------------------------------------------------ basis
def scipy_basis(z, grid, order, lo, hi):
    t = uniform_knots(grid, order, lo, hi, dtype=f64).numpy()
    cols = [np.nan_to_num(BSpline.basis_element(t[k:k + order + 2], extrapolate=False)(z))
            for k in range(grid + order)]
    return np.stack(cols, -1)


@pytest.mark.parametrize("grid, order", [(5, 3), (3, 1), (7, 2), (4, 4), (1, 3)])
def test_bspline_basis_matches_scipy(grid, order):
    z = torch.linspace(-6, 6, 2001, dtype=f64)
    expected = scipy_basis(z.numpy(), grid, order, -2.0, 2.0)
    np.testing.assert_allclose(bspline_basis_reference(z, grid, order, -2.0, 2.0).numpy(), expected, atol=1e-12)
    np.testing.assert_allclose(bspline_basis(z, grid, order, -2.0, 2.0).numpy(), expected, atol=1e-12)
    if order == 3:
        np.testing.assert_allclose(cubic_bspline_basis(z, grid, -2.0, 2.0).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_spline_curves_equal_dense_basis_contraction(order):
    torch.manual_seed(0)
    z = torch.randn(4, 3, 6, dtype=f64) * 3  # many points outside the grid as well
    coefficients = torch.randn(6, 5 + order, 2, dtype=f64, requires_grad=True)
    dense = torch.einsum("...dk,dkr->r...d", bspline_basis_reference(z, 5, order, -2.0, 2.0), coefficients)
    fast = spline_curves(z, coefficients, 5, order, -2.0, 2.0)
    torch.testing.assert_close(fast, dense)
    zg = z.clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda zz, c: spline_curves(zz, c, 5, order, -2.0, 2.0),
                                    (zg[:1, :1] * 0.37, coefficients))


def test_spline_curves_propagate_non_finite_inputs_without_crashing():
    # a diverged network feeds NaN here; it must reach the loss as NaN, not fail as an int64 index
    z = torch.tensor([[0.3, float("nan"), float("inf"), -float("inf"), 1.7]])
    coefficients = torch.randn(5, 8, 2)
    out = spline_curves(z, coefficients, 5, 3, -2.0, 2.0)
    assert out.shape == (2, 1, 5)
    assert torch.isnan(out[:, 0, 1:3]).all() and torch.isfinite(out[:, 0, [0, 4]]).all()
    torch.testing.assert_close(out[:, 0, [0, 4]], spline_curves(z[:, [0, 4]], coefficients[[0, 4]], 5, 3, -2.0, 2.0)[:, 0])


def test_safe_rational_has_no_poles():
    torch.manual_seed(0)
    z = torch.linspace(-50, 50, 1001, dtype=f64).reshape(1, 1001, 1, 1).expand(1, 1001, 2, 3)
    out = safe_rational(z, torch.randn(2, 4, 6, dtype=f64), -torch.randn(2, 4, 4, dtype=f64))
    assert out.shape == (4, 1, 1001, 2, 3)
    assert torch.isfinite(out).all()


# ------------------------------------------------------------------------------------ surrogates
@pytest.mark.parametrize("name", SURROGATES)
def test_surrogate_derivative_is_the_derivative_of_its_primitive(name):
    sur = Surrogate(name)
    u = torch.linspace(-1.3, 1.3, 41, dtype=f64)
    if name == "rectangle":  # kinks at ±width/2: check the smooth parts only
        u = u[(u.abs() - 0.5 / sur.slope).abs() > 1e-3]
    u.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: SmoothProxy.apply(x, sur), (u,))


@pytest.mark.parametrize("name", SURROGATES)
def test_spike_forward_is_heaviside_and_backward_uses_the_surrogate(name):
    sur = Surrogate(name)
    u = torch.linspace(-1, 1, 21, dtype=f64, requires_grad=True)
    dv = torch.full_like(u, 0.7)
    s = spike(u, dv, sur)
    assert torch.equal(s, (u >= 0).to(f64))
    (g,) = torch.autograd.grad(s.sum(), u)
    torch.testing.assert_close(g, sur.grad(u.detach(), dv))


def test_saltation_term_matches_finite_differences_of_spike_timing():
    """Inside the crossing window the exact-timing term is ∂/∂u of the part of the step spent above
    threshold, clamp(u/Δv, 0, 1): check it by central differences."""
    sur = Surrogate("saltation")
    g = torch.Generator().manual_seed(0)
    dv = 0.3 + 2 * torch.rand(200, generator=g, dtype=f64)  # speeds above min_speed
    u = dv * (0.05 + 0.9 * torch.rand(200, generator=g, dtype=f64))  # strictly inside the window
    h = 1e-6
    fd = (sur.timing_fraction(u + h, dv) - sur.timing_fraction(u - h, dv)) / (2 * h)
    torch.testing.assert_close(sur.timing_derivative(u, dv), fd, rtol=1e-6, atol=1e-6)
    # Outside the window (no crossing in this step) the term vanishes, as the fraction is flat there.
    for outside in (-0.1 * dv, 1.2 * dv):
        assert torch.count_nonzero(sur.timing_derivative(outside, dv)) == 0
    # Slow crossings are clamped: finite, at most 1/min_speed.
    slow = sur.timing_derivative(torch.tensor([1e-9], dtype=f64), torch.tensor([1e-8], dtype=f64))
    assert float(slow) == pytest.approx(1 / sur.min_speed)
    # The blend: (1-λ)·smooth + λ·timing.
    u0, dv0 = torch.tensor([0.1], dtype=f64), torch.tensor([0.5], dtype=f64)
    expected = 0.7 * sur.derivative(u0) + 0.3 * (1 / 0.5)
    torch.testing.assert_close(sur.grad(u0, dv0), expected)


def test_default_slopes_make_the_rectangle_the_unit_stbp_window():
    from srkan import SRKAN

    assert Surrogate("rectangle").slope == 1.0 and Surrogate("saltation").slope == 5.0
    assert Surrogate("rectangle", 5.0).slope == 5.0  # an explicit slope wins
    u = torch.tensor([-0.6, -0.4, 0.0, 0.4, 0.6])
    assert Surrogate("rectangle").derivative(u).tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]
    assert SRKAN(8, 4, 2, n_layers=1, n_proj=4, surrogate="rectangle").surrogate.slope == 1.0
    with pytest.raises(ValueError, match="slope must be > 0"):
        Surrogate("sigmoid", 0.0)


def test_unknown_surrogate_is_refused():
    with pytest.raises(ValueError, match="surrogate must be one of"):
        Surrogate("tanh")


# ------------------------------------------------------------------------------------ neuron
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("name", SURROGATES)
def test_fused_lif_matches_autograd_reference(name, detach_reset):
    torch.manual_seed(0)
    B, L, N = 4, 13, 6
    sur = Surrogate(name)
    current = (torch.randn(B, L, N, dtype=f64) * 2 + 0.5).requires_grad_()
    state = [torch.rand(B, N, dtype=f64).requires_grad_() for _ in range(2)]
    state.append((torch.rand(B, N, dtype=f64) < 0.3).to(f64).requires_grad_())
    theta = torch.rand(N, dtype=f64) + 0.5
    alpha, rho, beta = [(torch.rand(N, dtype=f64) * 0.5 + 0.4).requires_grad_() for _ in range(3)]
    inputs = [current, *state, alpha, rho, beta]
    out, st = lif_chunk(current, tuple(state), theta, alpha, rho, beta, sur, detach_reset)
    ref, rst = lif_reference(current, tuple(state), theta, alpha, rho, beta, sur, detach_reset)
    assert out.sum() > 0 and torch.equal(out, ref)
    weights = [torch.randn_like(out)] + [torch.randn_like(x) for x in st]

    def loss(o, s):
        return (o * weights[0]).sum() + sum((a * w).sum() for a, w in zip(s, weights[1:]))

    for g, r in zip(torch.autograd.grad(loss(out, st), inputs), torch.autograd.grad(loss(ref, rst), inputs)):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)


def test_detach_reset_removes_the_reset_path_only():
    torch.manual_seed(1)
    B, L, N = 3, 20, 5
    current = (torch.randn(B, L, N, dtype=f64) + 1.0).requires_grad_()
    zeros = torch.zeros(B, N, dtype=f64)
    args = (torch.full((N,), 0.8, dtype=f64), torch.full((N,), 0.9, dtype=f64),
            torch.full((N,), 0.9, dtype=f64), torch.full((N,), 0.2, dtype=f64), Surrogate("rectangle"))
    out_a, _ = lif_chunk(current, (zeros, zeros, zeros), *args, False)
    out_b, _ = lif_chunk(current, (zeros, zeros, zeros), *args, True)
    assert torch.equal(out_a, out_b)  # the forward pass is unchanged
    g_a, = torch.autograd.grad(out_a.sum(), current)
    g_b, = torch.autograd.grad(out_b.sum(), current)
    assert not torch.allclose(g_a, g_b)


def test_doubling_and_stepwise_scans_agree():
    """The accelerator path (doubling) and the CPU path (stepwise) compute the same recurrence."""
    from srkan.nn.scan import _doubling_scan, _stepwise_scan

    torch.manual_seed(0)
    decay = torch.rand(6, dtype=f64)
    for length in (1, 2, 5, 16, 37):
        drive = torch.randn(3, length, 6, dtype=f64)
        torch.testing.assert_close(_doubling_scan(decay, drive), _stepwise_scan(decay, drive))
