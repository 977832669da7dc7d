"""Closed-form fields against autograd in float64."""
import math

import pytest
import torch

from pde_kan.problems import manufactured as mf

DT = torch.float64


def autograd_field(fn, x):
    """Value, gradient and Hessian diagonal of ``fn: (N, D) -> (N,)`` by autograd."""
    x = x.clone().requires_grad_(True)
    u = fn(x)
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    hd = torch.stack([torch.autograd.grad(g[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1])], 1)
    return u.detach(), g.detach(), hd.detach()


def points(n, d, seed, scale=0.9):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=DT) * 2 - 1) * scale


@pytest.mark.parametrize("d", [2, 3, 5])
def test_two_body_derivatives_match_autograd(d):
    x = points(40, d, d)
    c = torch.randn(d - 1, generator=torch.Generator().manual_seed(1), dtype=DT)
    f = mf.two_body(x, c)
    u, g, hd = autograd_field(lambda z: mf.two_body(z, c).value, x)
    torch.testing.assert_close(f.grad, g, rtol=0, atol=1e-12)
    torch.testing.assert_close(f.hess_diag, hd, rtol=0, atol=1e-12)
    # the value is the documented formula, written independently
    theta = x[:, :-1] + torch.cos(x[:, 1:]) + x[:, 1:] * torch.cos(x[:, :-1])
    expected = (1 - (x * x).sum(-1)) * (torch.sin(theta) * c).sum(-1)
    torch.testing.assert_close(f.value, expected, rtol=0, atol=1e-14)


def test_two_body_rejects_wrong_coefficient_count():
    with pytest.raises(ValueError, match=r"coeffs must have shape \(2,\)"):
        mf.two_body(torch.zeros(4, 3, dtype=DT), torch.zeros(3, dtype=DT))


@pytest.mark.parametrize("fn", [mf.sine_sum, mf.sine_product], ids=["sine_sum", "sine_product"])
@pytest.mark.parametrize("d", [2, 3])
def test_sine_fields_match_autograd(fn, d):
    x = points(30, d, 10 + d, scale=1.0)
    f = fn(x)
    u, g, hd = autograd_field(lambda z: fn(z).value, x)
    torch.testing.assert_close(f.value, u, rtol=0, atol=1e-14)
    torch.testing.assert_close(f.grad, g, rtol=0, atol=1e-12)
    torch.testing.assert_close(f.hess_diag, hd, rtol=0, atol=1e-12)


def test_sine_product_gradient_on_grid_lines():
    # prefix/suffix products (no division by sin): exact where one factor vanishes
    x = torch.tensor([[0.0, 0.5], [1.0, 0.25]], dtype=DT)
    f = mf.sine_product(x)
    expected = torch.tensor([[math.pi, 0.0], [-math.pi * math.sin(math.pi / 4), 0.0]], dtype=DT)
    torch.testing.assert_close(f.grad, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("c", [0.0, -0.7, 2.0])
def test_allen_cahn_time_field_matches_autograd(d, c):
    g = torch.Generator().manual_seed(d)
    xs = points(40, d, 20 + d, scale=0.95)
    xs = xs[torch.linalg.vector_norm(xs, dim=1) > 1e-2]  # |x| is not differentiable at 0 for autograd
    x = torch.cat([xs, torch.rand(xs.shape[0], 1, generator=g, dtype=DT)], 1)
    f = mf.allen_cahn_time(x, c, d)
    u, grad, hd = autograd_field(lambda z: mf.allen_cahn_time(z, c, d).value, x)
    torch.testing.assert_close(f.value, u, rtol=0, atol=1e-14)
    torch.testing.assert_close(f.grad, grad, rtol=0, atol=1e-11)
    torch.testing.assert_close(f.hess_diag, hd, rtol=0, atol=1e-10)
    r = torch.linalg.vector_norm(xs, dim=1)
    expected = torch.exp(-x[:, d]) * (torch.sin(math.pi / 2 * (1 - r).abs() ** 2.5) + c * torch.sin(math.pi / 2 * (1 - r)))
    torch.testing.assert_close(f.value, expected, rtol=0, atol=1e-14)


def test_allen_cahn_profile_is_finite_and_continuous_at_origin():
    c = 1.0
    r = torch.tensor([0.0, 1e-12, 1e-8, 1e-4], dtype=DT)
    g, g1, g1_r, g2 = mf.allen_cahn_profile(r, c)
    limit = -(math.pi / 2) ** 2 * (6.25 + c)  # g''(0) = lim g'(r)/r
    assert torch.isfinite(torch.stack([g, g1, g1_r, g2])).all()
    torch.testing.assert_close(g1_r, torch.full_like(r, limit), rtol=1e-3, atol=0)
    torch.testing.assert_close(g2[:3], torch.full_like(r[:3], limit), rtol=1e-6, atol=0)
    assert g1[0] == 0
    # the field at the origin: gradient (0, -u), spatial Hessian g''(0) I, Laplacian d g''(0)
    f = mf.allen_cahn_time(torch.zeros(1, 3, dtype=DT), c, 2)
    torch.testing.assert_close(f.grad, torch.tensor([[0.0, 0.0, -2.0]], dtype=DT))
    torch.testing.assert_close(f.laplacian, torch.tensor([2 * limit], dtype=DT))


def test_allen_cahn_profile_matches_finite_differences_near_origin_and_boundary():
    # g' and g'' from the cancellation-free formulas agree with central differences of g
    c, h = 0.4, 1e-5
    r = torch.tensor([0.05, 0.3, 0.49, 0.51, 0.9, 0.999], dtype=DT)
    g, g1, _, g2 = mf.allen_cahn_profile(r, c)
    gp, gm = mf.allen_cahn_profile(r + h, c)[0], mf.allen_cahn_profile(r - h, c)[0]
    torch.testing.assert_close(g1, (gp - gm) / (2 * h), rtol=0, atol=1e-8)
    torch.testing.assert_close(g2, (gp - 2 * g + gm) / h ** 2, rtol=0, atol=2e-5)
