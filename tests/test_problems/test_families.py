"""Every problem family: exact solutions solve their PDE (autograd and jet paths, float64), ansatzes satisfy
the boundary / initial conditions, and the jet transforms agree with autograd on a random KAN."""
import math

import pytest
import torch

from pde_kan import KAN
from pde_kan.diff import hutchinson, pde_derivatives
from pde_kan.problems import AllenCahn, AllenCahnTime, Ball, Box, Poisson, get_problem
from pde_kan.problems.base import closed_jet

DT = torch.float64


def make(name, d):
    if name == "poisson-two-body":
        return Poisson.two_body(d, seed=d)
    if name == "allen-cahn-two-body":
        return AllenCahn.two_body(d, seed=d + 1)
    if name == "poisson-sine-cube":
        return Poisson.sine_cube(d)
    if name == "poisson-sine-square":
        return Poisson.sine_square()
    return AllenCahn.time(d, c=0.5 * d - 1.0)


CASES = [(name, d) for name in ("poisson-two-body", "allen-cahn-two-body", "poisson-sine-cube", "allen-cahn-time")
         for d in (2, 3, 5)] + [("poisson-sine-square", 2)]
HARD = [c for c in CASES if c[0] != "poisson-sine-cube"]


def interior(problem, n=64, seed=0):
    x = problem.sample_interior(n, torch.Generator().manual_seed(seed))
    # |x| is not differentiable at the origin (radial Allen-Cahn profile); keep points off it
    return x[torch.linalg.vector_norm(x[:, :problem.spatial_dim], dim=1) > 1e-3]


def exact_model(problem):
    return lambda z: problem.exact(z).unsqueeze(-1)


def scale_of(problem, x):
    return 1.0 + problem.source(x).abs().max().item()


@pytest.mark.parametrize("name,d", CASES)
def test_exact_solution_has_zero_residual_autograd(name, d):
    p = make(name, d)
    x = interior(p)
    deriv = pde_derivatives(exact_model(p), x, "autograd", spatial_dim=p.spatial_dim, first_order=p.first_order)
    r = p.residual(x, deriv)
    assert r.shape == (x.shape[0],)
    assert r.abs().max().item() < 1e-10 * scale_of(p, x)


@pytest.mark.parametrize("name,d", CASES)
def test_exact_solution_has_zero_residual_jet(name, d):
    # the exact field as a closed-form jet transform (diagonal Hessian suffices for coordinate directions)
    p = make(name, d)
    x = interior(p)

    def exact_jet(z, raw_jet):
        f = p.solution(z)
        return closed_jet(raw_jet, f.value, f.grad, f.hess_diag)

    net = KAN([p.dim, 3, 1], seed=0)
    deriv = pde_derivatives(net, x, "jet", spatial_dim=p.spatial_dim, first_order=p.first_order, transform=exact_jet)
    torch.testing.assert_close(deriv.value, p.exact(x), rtol=0, atol=1e-14)
    assert p.residual(x, deriv).abs().max().item() < 1e-10 * scale_of(p, x)


def test_sources_match_their_published_closed_forms():
    x = Poisson.sine_cube(5).sample_interior(50, torch.Generator().manual_seed(3))
    expected = (math.pi ** 2 / 4) * torch.sin(math.pi * x / 2).sum(-1)
    torch.testing.assert_close(Poisson.sine_cube(5).source(x), expected, rtol=1e-13, atol=0)
    sq = Poisson.sine_square()
    y = sq.sample_interior(50, torch.Generator().manual_seed(4))
    expected = 2 * math.pi ** 2 * torch.sin(math.pi * y[:, 0]) * torch.sin(math.pi * y[:, 1])
    torch.testing.assert_close(sq.source(y), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("d", [2, 4])
def test_two_body_source_is_autograd_laplacian(d):
    p, ac = Poisson.two_body(d, seed=7), AllenCahn.two_body(d, seed=7)
    x = interior(p)
    z = x.clone().requires_grad_(True)
    u = p.exact(z)
    (g,) = torch.autograd.grad(u.sum(), z, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), z, retain_graph=True)[0][:, i] for i in range(d))
    torch.testing.assert_close(p.source(x), lap.detach(), rtol=0, atol=1e-11)
    u = u.detach()
    torch.testing.assert_close(ac.source(x), lap.detach() + u - u ** 3, rtol=0, atol=1e-11)


def test_allen_cahn_time_source_from_autograd():
    p = AllenCahn.time(3, c=1.5)
    x = interior(p)
    z = x.clone().requires_grad_(True)
    u = p.exact(z)
    (g,) = torch.autograd.grad(u.sum(), z, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), z, retain_graph=True)[0][:, i] for i in range(3))
    u, u_t = u.detach(), g[:, 3].detach()
    torch.testing.assert_close(u_t, -u, rtol=0, atol=1e-14)
    torch.testing.assert_close(p.source(x), u_t - lap.detach() - u + u ** 3, rtol=0, atol=1e-11)


@pytest.mark.parametrize("name,d", [c for c in HARD if c[0] != "allen-cahn-time"])
def test_hard_ansatz_vanishes_on_boundary(name, d):
    p = make(name, d)
    g = torch.Generator().manual_seed(5)
    if name == "poisson-sine-square":
        xb = Box((-1.0, -1.0), (1.0, 1.0)).sample_boundary(100, g)
    else:
        xb = Ball(d).sample_boundary(100, g)
    raw = torch.randn(100, 1, generator=g, dtype=DT) * 10
    u = p.ansatz(xb, raw)
    assert u.abs().max().item() < 1e-13
    torch.testing.assert_close(p.exact(xb), torch.zeros(100, dtype=DT), rtol=0, atol=1e-13)
    # and it is not trivially zero inside
    x = interior(p)
    assert p.ansatz(x, torch.ones(x.shape[0], dtype=DT)).abs().min() > 0


@pytest.mark.parametrize("d", [1, 2, 5])
def test_time_ansatz_initial_and_boundary_conditions(d):
    p = AllenCahn.time(d, c=0.8)
    g = torch.Generator().manual_seed(6)
    x0 = p.domain.sample_initial(100, g)
    raw = torch.randn(100, 1, generator=g, dtype=DT) * 10
    torch.testing.assert_close(p.ansatz(x0, raw), p.exact(x0), rtol=0, atol=1e-14)
    xb = p.domain.sample_boundary(100, g)
    assert p.ansatz(xb, raw).abs().max().item() < 1e-13
    assert p.exact(xb).abs().max().item() < 1e-13


def net_for(p, seed=0):
    # a random KAN with a non-trivial output scale
    return KAN([p.dim, 4, 1], seed=seed, init_scale=1.0)


def both_paths(name, d, n):
    """``(problem, x, net, autograd derivatives, jet derivatives)`` at ``n`` interior points."""
    p = make(name, d)
    x = interior(p, n)
    net = net_for(p)
    return p, x, net, p.derivatives(net, x, "autograd"), p.derivatives(net, x, "jet")


@pytest.mark.parametrize("name,d", HARD)
def test_transform_jet_matches_autograd(name, d):
    p, x, net, a, j = both_paths(name, d, 24)
    torch.testing.assert_close(j.value, a.value, rtol=0, atol=1e-12)
    torch.testing.assert_close(j.laplacian, a.laplacian, rtol=0, atol=1e-10)
    torch.testing.assert_close(j.first, a.first, rtol=0, atol=1e-12)
    torch.testing.assert_close(j.value, p.ansatz(x, net(x)), rtol=0, atol=1e-13)


@pytest.mark.parametrize("name,d", [c for c in HARD if c[1] == 3] + [("poisson-sine-square", 2)])
def test_transform_parameter_gradients_match_autograd(name, d):
    # the training loss backpropagates through the transform: parameter gradients agree across paths
    p, x, net, a, j = both_paths(name, d, 16)
    ga = torch.autograd.grad(a.laplacian.square().sum(), list(net.parameters()))
    gj = torch.autograd.grad(j.laplacian.square().sum(), list(net.parameters()))
    for u, v in zip(ga, gj):
        torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name,d", [("poisson-two-body", 3), ("allen-cahn-time", 3), ("poisson-sine-square", 2)])
def test_transform_with_sdgd_matches_sdgd_autograd(name, d):
    p = make(name, d)
    x = interior(p, 16)
    net = net_for(p)
    a = p.derivatives(net, x, "sdgd_autograd", n_probes=2, generator=torch.Generator().manual_seed(9))
    j = p.derivatives(net, x, "sdgd", n_probes=2, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(j.laplacian, a.laplacian, rtol=0, atol=1e-10)
    torch.testing.assert_close(j.first, a.first, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,d", [("poisson-two-body", 3), ("allen-cahn-time", 2), ("allen-cahn-time", 4),
                                    ("poisson-sine-square", 2)])
def test_transform_with_dense_probes_matches_autograd_hessian(name, d):
    # Hutchinson probes exercise the off-diagonal Hessian parts of the transforms (cross terms, radial x̂x̂ᵀ)
    p = make(name, d)
    x = interior(p, 12)
    net = net_for(p, seed=1)
    k = 3
    j = p.derivatives(net, x, "hutchinson", n_probes=k, generator=torch.Generator().manual_seed(11))
    v = hutchinson(x.shape[0], p.spatial_dim, k, torch.Generator().manual_seed(11), dtype=DT).vectors
    z = x.clone().requires_grad_(True)
    u = p.ansatz(z, net(z))
    (g,) = torch.autograd.grad(u.sum(), z, create_graph=True)
    sd = p.spatial_dim
    hess = torch.stack([torch.autograd.grad(g[:, i].sum(), z, retain_graph=True)[0][:, :sd] for i in range(sd)], 1)
    expected = torch.einsum("nik,nij,njk->n", v, hess, v) / k
    torch.testing.assert_close(j.laplacian, expected.detach(), rtol=0, atol=1e-10)
    torch.testing.assert_close(j.first, g[:, list(p.first_order)].detach(), rtol=0, atol=1e-12)


def test_soft_boundary_problem():
    p = Poisson.sine_cube(3)
    g = torch.Generator().manual_seed(2)
    assert p.jet_transform is None and p.boundary_weight == 10.0
    xb = p.sample_boundary(64, g)
    assert xb.shape == (64, 3) and p.domain.on_boundary(xb).all()
    torch.testing.assert_close(p.boundary_residual(xb, p.exact(xb)), torch.zeros(64, dtype=DT))
    u = torch.ones(64, 1, dtype=DT)
    torch.testing.assert_close(p.boundary_residual(xb, u), 1 - p.exact(xb))
    x = p.sample_interior(8, g)
    raw = torch.randn(8, 1, generator=g, dtype=DT)
    torch.testing.assert_close(p.ansatz(x, raw), raw[:, 0])


@pytest.mark.parametrize("name", ["poisson-two-body", "poisson-sine-square", "allen-cahn-time"])
def test_hard_problems_have_no_boundary_loss(name):
    p = get_problem(name, dim=3) if name != "poisson-sine-square" else get_problem(name)
    g = torch.Generator().manual_seed(0)
    assert p.sample_boundary(10, g) is None
    assert p.boundary_residual(p.sample_interior(4, g), torch.zeros(4, dtype=DT)) is None
    assert p.boundary_weight == 0.0


def test_points_and_raw_shapes_are_checked():
    p = Poisson.two_body(4)
    with pytest.raises(ValueError, match=r"PoissonTwoBody: x must have shape \(N, 4\), got \(5, 3\)"):
        p.exact(torch.zeros(5, 3, dtype=DT))
    with pytest.raises(ValueError, match=r"raw must have shape \(5, 1\).*got \(5, 2\)"):
        p.ansatz(torch.zeros(5, 4, dtype=DT), torch.zeros(5, 2, dtype=DT))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        p.source([[0.0] * 4])


def test_time_problem_layout():
    p = AllenCahnTime(spatial_dim=3, c=0.3)
    assert (p.dim, p.spatial_dim, p.first_order) == (4, 3, (3,))
    x = p.sample_interior(500, torch.Generator().manual_seed(1))
    assert p.domain.contains(x).all()
    assert 0 <= x[:, 3].min() and x[:, 3].max() <= 1
    assert torch.linalg.vector_norm(x[:, :3], dim=1).max() <= 1


def test_time_allen_cahn_ansatz_does_not_contain_the_solution():
    """raw = 0 must leave a real error after t = 0 (an ansatz equal to the exact solution has nothing to learn)."""
    problem = get_problem("allen-cahn-time", spatial_dim=3, c=0.5)
    x = problem.sample_interior(2000, torch.Generator().manual_seed(0))
    u0 = problem.ansatz(x, torch.zeros(x.shape[0], 1, dtype=x.dtype))
    exact = problem.exact(x)
    late = x[:, -1] > 0.5
    assert ((u0 - exact)[late].norm() / exact[late].norm()) > 0.2
    at_zero = x.clone()
    at_zero[:, -1] = 0
    torch.testing.assert_close(problem.ansatz(at_zero, torch.randn(x.shape[0], 1, dtype=x.dtype,
                                                                     generator=torch.Generator().manual_seed(1))),
                               problem.exact(at_zero), rtol=0, atol=1e-12)


def test_two_body_numpy_rng_draws_the_reference_coefficients_without_global_state():
    import numpy as np

    from pde_kan.problems import AllenCahn, Poisson

    state = np.random.get_state()
    p = Poisson.two_body(10, seed=0, rng="numpy")
    # np.random.seed(0); np.random.randn(1, 9): the reference scripts' draw
    assert p.coeffs[:3] == pytest.approx((1.764052345967664, 0.4001572083672233, 0.9787379841057392), abs=1e-15)
    assert AllenCahn.two_body(10, seed=0, rng="numpy").coeffs == p.coeffs
    assert Poisson.two_body(10, seed=0).coeffs != p.coeffs  # the default torch draw is another one
    after = np.random.get_state()
    assert state[0] == after[0] and (state[1] == after[1]).all() and state[2:] == after[2:]
    with pytest.raises(ValueError, match=r"two_body: unknown rng 'random'; valid names: 'torch', 'numpy'"):
        Poisson.two_body(4, rng="random")


def test_two_body_takes_explicit_coefficients_from_the_registry_too():
    from pde_kan.problems import AllenCahn, Poisson, get_problem

    for cls, name in ((Poisson, "poisson-two-body"), (AllenCahn, "allen-cahn-two-body")):
        p = cls.two_body(3, coeffs=[0.5, 2.0])
        assert p.coeffs == (0.5, 2.0)
        assert get_problem(name, dim=3, seed=4, coeffs=[0.5, 2.0]).coeffs == (0.5, 2.0)  # the coefficients win
        with pytest.raises(ValueError, match="coeffs must have dim - 1 = 2 entries"):
            cls.two_body(3, coeffs=[1.0])
