"""Stochastic Laplacian estimators at d = 1000: unbiasedness against exact Laplacians, and the SDGD jet's
first layer doing derivative work for the K chosen columns only.

Bounds. For a closed-form field the estimator's variance is known exactly:

* SDGD draws K of d coordinates without replacement and returns ``(d/K) sum_S h_i`` (``h`` the Hessian
  diagonal): ``Var = d^2 sigma^2 / K * (d - K) / (d - 1)`` with ``sigma^2`` the population variance of ``h``.
* Hutchinson with K probes: ``Var = (2/K) sum_{i != j} H_ij^2`` (Rademacher) or ``(2/K) ||H||_F^2`` (Gaussian).

The mean of M independent draws then has standard error ``sqrt(Var / M)``; it must lie within 5 standard
errors of the exact Laplacian (a false alarm has probability < 1e-6 under the normal approximation, which
M >= 100 draws of a bounded estimator justify; the seeds are fixed, so the test is deterministic). The sample
variance must match the formula within 25 % (its relative standard error at M >= 1000 is below 7 % here),
which checks the scale factor independently of the mean. Through a network, where the Hessian is not
available cheaply at d = 1000, the same 5-SE bound uses the sample standard deviation (CLT).
"""
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from pde_kan import KAN
from pde_kan.diff import hutchinson, pde_derivatives, sdgd
from pde_kan.problems import Poisson
from pde_kan.problems.manufactured import radial_parts, two_body

D = 1000


def ball_points(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return Poisson.two_body(d, seed=0).sample_interior(n, g)


def within_bound(draws, exact, var, m):
    """5-standard-error bound on the mean and 25 % on the sample variance, per point."""
    mean, sample_var = draws.mean(0), draws.var(0)
    se = torch.sqrt(var / m)
    assert bool(((mean - exact).abs() <= 5 * se).all()), ((mean - exact) / se)
    assert bool(((sample_var / var - 1).abs() <= 0.25).all()), sample_var / var


def test_sdgd_unbiased_for_two_body_field_at_d1000():
    x = ball_points(3, D, seed=1)
    coeffs = torch.randn(D - 1, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    field = two_body(x, coeffs)
    h, exact = field.hess_diag, field.laplacian
    m, k = 2000, 16
    g = torch.Generator().manual_seed(3)
    draws = torch.stack([(lambda dirs: dirs.scale * dirs.quad_diag(h))(sdgd(D, k, g)) for _ in range(m)])
    var = D * D * h.var(-1, unbiased=False) / k * (D - k) / (D - 1)
    # the bound is tight enough to see a wrong scale factor: d/(K-1) instead of d/K moves the mean 6 %
    assert bool((5 * torch.sqrt(var / m) < 0.01 * exact.abs()).all())
    within_bound(draws, exact, var, m)


@pytest.mark.slow
@pytest.mark.parametrize("distribution", ["rademacher", "gaussian"])
def test_hutchinson_unbiased_for_radial_field_at_d1000(distribution):
    # G(x) = g(|x|) (the Allen-Cahn profile): Hessian (g'/r) I + (g'' - g'/r) xhat xhat^T, diagonal plus rank one
    x = ball_points(3, D, seed=4)
    xhat, _, g1_r, kappa = radial_parts(x, 1.0)
    exact = D * g1_r + kappa
    m, k = 1000, 2
    g = torch.Generator().manual_seed(5)
    # all M draws at once: each of the 3 points repeated M times, independent probes per row
    dirs = hutchinson(3 * m, D, k, g, distribution=distribution)
    rep = lambda t: t.repeat(m, *([1] * (t.ndim - 1)))  # noqa: E731
    quad = dirs.quad_diag(rep(g1_r).unsqueeze(-1).expand(-1, D)) + rep(kappa) * dirs.cross(rep(xhat), rep(xhat))
    draws = (dirs.scale * quad).reshape(m, 3)
    fro2 = D * g1_r**2 + 2 * g1_r * kappa + kappa**2  # ||H||_F^2 with |xhat| = 1
    off2 = fro2 - ((g1_r.unsqueeze(-1) + kappa.unsqueeze(-1) * xhat**2) ** 2).sum(-1)
    var = 2 * (off2 if distribution == "rademacher" else fro2) / k
    within_bound(draws, exact, var, m)


@pytest.mark.slow
@pytest.mark.parametrize("method,k,m", [("sdgd", 16, 100), ("hutchinson", 4, 100)])
def test_jet_estimators_unbiased_through_kan_with_ansatz_at_d1000(method, k, m):
    problem = Poisson.two_body(D, seed=0)
    model = KAN([D, 6, 1], seed=0)
    x = ball_points(4, D, seed=6)
    with torch.no_grad():
        exact = problem.derivatives(model, x, "jet").laplacian
        g = torch.Generator().manual_seed(7)
        if method == "sdgd":  # one coordinate subset per call, shared by the points
            draws = torch.stack([problem.derivatives(model, x, "sdgd", n_probes=k, generator=g).laplacian
                                 for _ in range(m)])
        else:  # independent probes per row: all draws in one call
            draws = problem.derivatives(model, x.repeat(m, 1), "hutchinson", n_probes=k, generator=g).laplacian
            draws = draws.reshape(m, -1)
    sd = draws.std(0)
    assert bool((sd > 0).all())
    assert bool(((draws.mean(0) - exact).abs() <= 5 * sd / math.sqrt(m)).all())


class AllocatedBytes(TorchDispatchMode):
    """Bytes of every tensor storage the ops run inside create (forward and backward); views and in-place
    results (outputs sharing an input's storage) are not new memory."""

    def __init__(self):
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, torch.Tensor)}
        fresh = {}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                fresh[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        self.total += sum(fresh.values())
        return out


def derivative_bytes_per_point(d, method, k=8, width=8, sizes=(8, 24)):
    """Allocated bytes per collocation point that one loss + backward step with the Laplacian ``method`` costs
    on top of a value-only step (parameter-sized terms, which do not depend on N, cancel in the difference)."""
    model = KAN([d, width, width, 1], seed=0)

    def run(x, laplacian):
        with AllocatedBytes() as mode:
            if laplacian:
                out = pde_derivatives(model, x, method, n_probes=k,
                                      generator=torch.Generator().manual_seed(9)).laplacian
            else:
                out = model(x)
            (out**2).mean().backward()
        model.zero_grad(set_to_none=True)
        return mode.total

    extra = []
    for n in sizes:
        x = ball_points(n, d, seed=8)
        extra.append(run(x, True) - run(x, False))
    return (extra[1] - extra[0]) / (sizes[1] - sizes[0])


@pytest.mark.slow
def test_sdgd_derivative_memory_per_point_does_not_grow_with_d_but_exact_jet_does():
    # Allocation counts are deterministic (no timing, no allocator state). Per point, the derivatives cost
    # O(width * K) for SDGD (the first layer evaluates derivatives for the K chosen columns only) and
    # O(width * d) for the exact jet (d = 100 -> 500: about 5x).
    sdgd_small, sdgd_large = derivative_bytes_per_point(100, "sdgd"), derivative_bytes_per_point(1000, "sdgd")
    exact_small, exact_large = derivative_bytes_per_point(100, "jet"), derivative_bytes_per_point(500, "jet")
    assert sdgd_large <= 1.05 * sdgd_small, (sdgd_small, sdgd_large)
    assert exact_large >= 3.5 * exact_small, (exact_small, exact_large)
    assert exact_large >= 10 * sdgd_large, (exact_large, sdgd_large)
