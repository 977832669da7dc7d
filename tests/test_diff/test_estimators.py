"""Stochastic Laplacian estimators: unbiased, correctly scaled, reproducible from an explicit generator."""
import itertools
import math

import pytest
import torch

from pde_kan.diff import (Coordinates, Dense, Jet, forward_jet, hutchinson, laplacian, make_directions,
                          pde_derivatives, sdgd)
from pde_kan.nn import get_backbone

D = 5


@pytest.fixture(scope="module")
def model():
    return get_backbone("kan", [D, 6, 4, 1], grid_size=4, seed=2)


@pytest.fixture(scope="module")
def x():
    g = torch.Generator().manual_seed(0)
    return 2.4 * torch.rand(6, D, generator=g, dtype=torch.float64) - 1.2


def hessians(fn, x):
    """Per-point Hessians ``(N, d, d)`` of ``fn: (N, d) -> (N,)`` by autograd."""
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(fn(xr).sum(), xr, create_graph=True)
    rows = [torch.autograd.grad(g[:, i].sum(), xr, retain_graph=True)[0] for i in range(x.shape[1])]
    return torch.stack(rows, dim=1).detach()


def test_scale_factors():
    g = torch.Generator().manual_seed(0)
    s = sdgd(10, 4, g)
    assert s.scale == 10 / 4 and s.n_probes == 4 and s.index.unique().numel() == 4
    h = hutchinson(3, 10, 4, g)
    assert h.scale == 1 / 4 and h.vectors.shape == (3, 10, 4)
    assert set(h.vectors.unique().tolist()) == {-1.0, 1.0}
    assert make_directions("sdgd", 3, 10, n_probes=4, generator=g).scale == 2.5
    assert make_directions("hutchinson", 3, 10, n_probes=4, generator=g, distribution="gaussian").scale == 0.25
    assert make_directions("jet", 3, 10).scale == 1.0


def test_sdgd_estimate_is_scaled_sum_of_chosen_hessian_diagonal(model, x):
    k = 2
    est = laplacian(model, x, "sdgd", n_probes=k, generator=torch.Generator().manual_seed(5))
    index = sdgd(D, k, torch.Generator().manual_seed(5)).index  # the same draw
    h = hessians(lambda z: model(z)[:, 0], x)
    expected = (D / k) * h[:, index, index].sum(-1)
    torch.testing.assert_close(est, expected, atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_estimate_is_mean_of_probe_quadratic_forms(model, x, distribution):
    k = 3
    est = laplacian(model, x, "hutchinson", n_probes=k, generator=torch.Generator().manual_seed(6),
                    distribution=distribution)
    v = hutchinson(x.shape[0], D, k, torch.Generator().manual_seed(6), distribution=distribution).vectors
    h = hessians(lambda z: model(z)[:, 0], x)
    expected = torch.einsum("ndk,nde,nek->n", v, h, v) / k
    torch.testing.assert_close(est, expected, atol=1e-10, rtol=1e-10)


def test_sdgd_averaged_over_every_subset_is_exact(model, x):
    exact = laplacian(model, x, "jet")
    k = 2
    subsets = list(itertools.combinations(range(D), k))
    total = sum(forward_jet(model, x, Coordinates(torch.tensor(s), D, D / k)).laplacian[:, 0] for s in subsets)
    torch.testing.assert_close(total / len(subsets), exact, atol=1e-10, rtol=1e-10)


def test_rademacher_averaged_over_every_sign_vector_is_exact(model, x):
    """sum over all 2^d sign vectors of v v^T = 2^d I, so probing with all of them (scale 2^-d) is exact."""
    signs = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=D)), dtype=torch.float64).T  # (d, 2^d)
    dirs = Dense(signs.expand(x.shape[0], -1, -1), 1.0 / signs.shape[1])
    torch.testing.assert_close(forward_jet(model, x, dirs).laplacian[:, 0], laplacian(model, x, "jet"),
                               atol=1e-10, rtol=1e-10)


def _check_unbiased(samples, exact):
    """``samples (M, N)`` of an estimator; each point's mean lies within 5 standard errors of ``exact``.

    The sample mean of M i.i.d. draws has standard error std / sqrt(M); with M in the hundreds the CLT makes a
    5-SE deviation a ~1e-6 event per point, while a wrong scale factor (e.g. K/d or K instead of d/K or 1/K)
    misses by many SEs.
    """
    m = samples.shape[0]
    se = samples.std(0) / math.sqrt(m)
    assert (se > 0).all()  # the estimator really is random here
    z = (samples.mean(0) - exact).abs() / se
    assert (z < 5).all(), z
    return z


def test_sdgd_unbiased(model, x):
    exact = laplacian(model, x, "jet").detach()
    g = torch.Generator().manual_seed(7)
    samples = torch.stack([laplacian(model, x, "sdgd", n_probes=2, generator=g).detach() for _ in range(200)])
    _check_unbiased(samples, exact)
    # the same samples with the wrong scale (1 instead of d/K) are far off: the bound has power
    with pytest.raises(AssertionError):
        _check_unbiased(samples * 2 / D, exact)


@pytest.mark.parametrize("distribution,k", [("rademacher", 1), ("rademacher", 3), ("gaussian", 2)])
def test_hutchinson_unbiased(model, x, distribution, k):
    exact = laplacian(model, x, "jet").detach()
    m = 1000
    # probes are drawn per point, so M copies of the batch give M independent estimates in one pass
    est = laplacian(model, x.repeat(m, 1), "hutchinson", n_probes=k, generator=torch.Generator().manual_seed(8),
                    distribution=distribution).detach()
    _check_unbiased(est.reshape(m, -1), exact)


def test_same_seed_same_estimate_different_seed_differs(model, x):
    for method in ("sdgd", "hutchinson", "sdgd_autograd"):
        a = laplacian(model, x, method, n_probes=2, generator=torch.Generator().manual_seed(3))
        b = laplacian(model, x, method, n_probes=2, generator=torch.Generator().manual_seed(3))
        assert torch.equal(a, b), method
        others = [laplacian(model, x, method, n_probes=2, generator=torch.Generator().manual_seed(s))
                  for s in (4, 5, 6)]
        assert any(not torch.equal(a, o) for o in others), method


def test_stochastic_draws_leave_global_rng_alone(model, x):
    before = torch.random.get_rng_state()
    laplacian(model, x, "sdgd", n_probes=2, generator=torch.Generator().manual_seed(0))
    laplacian(model, x, "hutchinson", n_probes=2, generator=torch.Generator().manual_seed(0))
    assert torch.equal(torch.random.get_rng_state(), before)


def _time_transform(x, raw):
    """u = t * raw + sin(x_0) with t the last coordinate, in jet algebra."""
    dirs = raw.directions
    n, d = x.shape
    e = torch.eye(d, dtype=x.dtype)
    t = Jet.closed_form(x[:, -1], e[-1].expand(n, d), torch.zeros(n, dtype=x.dtype), dirs)
    hdiag = torch.zeros(n, d, dtype=x.dtype)
    hdiag[:, 0] = -torch.sin(x[:, 0])
    grad = torch.zeros(n, d, dtype=x.dtype)
    grad[:, 0] = torch.cos(x[:, 0])
    return t * raw + Jet.closed_form(torch.sin(x[:, 0]), grad, dirs.quad_diag(hdiag), dirs)


def test_hutchinson_pde_derivatives_with_transform_and_time(model, x):
    """Spatial Hutchinson estimate of the transformed field, exact first derivative in time from the same jet."""
    k, sd = 2, D - 1
    est = pde_derivatives(model, x, "hutchinson", spatial_dim=sd, first_order=(D - 1,), transform=_time_transform,
                          n_probes=k, generator=torch.Generator().manual_seed(9))
    v = hutchinson(x.shape[0], sd, k, torch.Generator().manual_seed(9)).vectors
    h = hessians(lambda z: z[:, -1] * model(z)[:, 0] + torch.sin(z[:, 0]), x)[:, :sd, :sd]
    torch.testing.assert_close(est.laplacian, torch.einsum("ndk,nde,nek->n", v, h, v) / k, atol=1e-10, rtol=1e-10)
    exact = pde_derivatives(model, x, "autograd", spatial_dim=sd, first_order=(D - 1,), transform=_time_transform)
    torch.testing.assert_close(est.value, exact.value, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(est.first, exact.first, atol=1e-10, rtol=1e-10)
