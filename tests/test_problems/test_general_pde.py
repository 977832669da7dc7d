"""The general PDE: derivatives of the lazy object against autograd, routing, hard and soft conditions, shipped
problems at their exact solutions, checks on user functions, exact solution optional, reference data."""
import math

import h5py
import numpy as np
import pytest
import torch

from conftest import gen
from pde_kan import KAN
from pde_kan.problems import (PDE, Ball, Box, Dirichlet, FunctionModel, Initial, InitialVelocity, Neumann,
                              Periodic, Poisson, Robin, SpaceTime, get_problem, load_reference)
from pde_kan.solvers import PDETask, SamplingConfig, TrainConfig, solve

DT = torch.float64
PI = math.pi
SHIPPED = ["heat-sine", "wave-1d", "helmholtz-2d", "burgers-1d", "anisotropic-advection-diffusion"]


def kan(d, seed=0):
    torch.manual_seed(seed)  # test-only: initialise the weights reproducibly
    return KAN([d, 6, 5, 1]).to(DT)


def everything(x, u):
    """Every request at once (so the test reads each entry from U)."""
    return u.value + u.dt + u.dtt + u.laplacian + u.d(0) + u.d2(0, 0) + u.d2(0, 1) + u.d2(1, 2) + u.grad.sum(1)


def g_data(x):
    return torch.sin(x[:, 0]) + x[:, 1] * x[:, 2]


def u0_data(x):
    return torch.cos(x[:, 0] + 0.5 * x[:, 1])


def reference_derivatives(fn, x):
    """value, gradient and full Hessian of ``fn: (N, D) -> (N,)`` by torch.autograd.functional per point."""
    vals, grads, hess = [], [], []
    for xi in x:
        f = lambda z: fn(z.unsqueeze(0))[0]  # noqa: E731
        vals.append(f(xi))
        grads.append(torch.autograd.functional.jacobian(f, xi))
        hess.append(torch.autograd.functional.hessian(f, xi))
    return torch.stack(vals), torch.stack(grads), torch.stack(hess)


@pytest.mark.parametrize("hard", [False, True], ids=["soft", "hard-ansatz"])
@pytest.mark.parametrize("method", ["jet", "autograd"])
def test_every_derivative_matches_autograd_float64(method, hard):
    dom = SpaceTime(Box.cube(2, 0.0, 1.0), 0.0, 1.0)
    conds = [Dirichlet(g_data, hard=None if hard else False), Initial(u0_data, hard=None if hard else False)]
    p = PDE(everything, domain=dom, conditions=conds)
    assert bool(p.hard_conditions) == hard
    model = kan(3)
    x = p.sample_interior(7, gen(1))
    u = p.derivatives(model, x, method)
    ufn = (lambda z: p.ansatz(z, model(z)))
    v, g, h = reference_derivatives(ufn, x)
    torch.testing.assert_close(u.value, v, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.grad, g[:, :2], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.d(0), g[:, 0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.dt, g[:, 2], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.laplacian, h[:, 0, 0] + h[:, 1, 1], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.d2(0, 0), h[:, 0, 0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.dtt, h[:, 2, 2], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.d2(0, 1), h[:, 0, 1], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.d2(2, 1), h[:, 1, 2], rtol=1e-10, atol=1e-12)


def test_hard_ansatz_satisfies_its_conditions():
    dom = SpaceTime(Box.cube(2, 0.0, 1.0), 0.0, 1.0)

    def g(x):  # compatible with u0 at t = 0 on the boundary: g(x, 0) = u0(x) there
        return torch.sin(x[:, 0]) * (1 + x[:, 2]) + x[:, 1]

    def u0(x):
        return torch.sin(x[:, 0]) + x[:, 1] + x[:, 0] * (1 - x[:, 0]) * x[:, 1] * (1 - x[:, 1])

    p = PDE(lambda x, u: u.laplacian, domain=dom, conditions=[Dirichlet(g), Initial(u0)])
    model = kan(3)
    xb = dom.sample_boundary(50, gen(2))
    torch.testing.assert_close(p.ansatz(xb, model(xb)), g(xb), rtol=1e-12, atol=1e-12)
    x0 = dom.sample_initial(50, gen(3))
    torch.testing.assert_close(p.ansatz(x0, model(x0)), u0(x0), rtol=1e-12, atol=1e-12)
    # a ball and a single box face
    ball = PDE(lambda x, u: u.laplacian, domain=Ball(3, radius=2.0, center=0.5), conditions=[Dirichlet(g_data)])
    xs = ball.domain.sample_boundary(40, gen(4))
    torch.testing.assert_close(ball.ansatz(xs, kan(3)(xs)), g_data(xs), rtol=1e-12, atol=1e-12)
    face = PDE(lambda x, u: u.laplacian, domain=Box((0, -1), (2, 1)),
               conditions=[Dirichlet(1.5, on="x1_high"), Neumann(0.0, on="x1_low")])
    assert [type(c).__name__ for c in face.hard_conditions] == ["Dirichlet"]
    assert list(face.soft_conditions) == ["neumann"]
    xf = torch.rand(30, 2, generator=gen(5), dtype=DT) * 2 - 1
    xf[:, 1] = 1.0
    torch.testing.assert_close(face.ansatz(xf, kan(2)(xf)), torch.full((30,), 1.5, dtype=DT))


class CountGrad:
    def __init__(self):
        self.calls = 0
        self.grad = torch.autograd.grad

    def __call__(self, *a, **kw):
        self.calls += 1
        return self.grad(*a, **kw)


@pytest.mark.parametrize("data", [0.0, "function"])
def test_laplacian_only_residual_takes_no_autograd_pass(monkeypatch, data):
    """Routing: value + u_t + Laplacian are one forward jet — no torch.autograd.grad call on the network, for
    soft conditions and for a hard ansatz with constant data (data functions are differentiated alone)."""
    dom = SpaceTime(Box.cube(2), 0.0, 1.0)
    conds = [Dirichlet(0.0, hard=False), Initial(0.0, hard=False)] if data == 0.0 else [Dirichlet(0.0), Initial(0.0)]
    p = PDE(lambda x, u: u.dt - u.laplacian - x[:, 0], domain=dom, conditions=conds)
    assert p.routing("jet") == {"u.value": "jet", "u.d(2)": "jet", "u.laplacian": "jet"}
    task = PDETask(p, SamplingConfig(n_interior=16, n_boundary=8, n_eval=10))
    task.prepare(DT, torch.device("cpu"))
    batch = task.batch(0, gen(), DT, torch.device("cpu"))
    counter = CountGrad()
    monkeypatch.setattr(torch.autograd, "grad", counter)
    loss, logs = task.loss(kan(3), batch)
    assert counter.calls == 0
    assert set(logs) == ({"loss_pde", "loss_dirichlet", "loss_initial"} if data == 0.0 else {"loss_pde"})
    loss.backward()  # the loss is differentiable w.r.t. the parameters as usual


def test_mixed_derivative_goes_to_autograd(monkeypatch):
    p = PDE(lambda x, u: u.d2(0, 1) + u.laplacian, domain=Box.cube(2), conditions=[Dirichlet(0.0)])
    assert p.routing("jet") == {"u.value": "jet", "u.laplacian": "jet", "u.d2(0, 1)": "autograd"}
    assert p.routing("autograd")["u.laplacian"] == "autograd"
    counter = CountGrad()
    monkeypatch.setattr(torch.autograd, "grad", counter)
    p.residual(torch.rand(5, 2, dtype=DT), p.derivatives(kan(2), torch.rand(5, 2, dtype=DT)))
    assert counter.calls == 2  # the gradient, then one Hessian row


def test_stochastic_laplacian_is_the_builtin_estimate():
    builtin = Poisson.sine_cube(4)
    p = PDE(lambda x, u: -u.laplacian - builtin.source(x), domain=Box.cube(4), conditions=[Dirichlet(builtin.exact, hard=False)])
    model = kan(4)
    x = builtin.sample_interior(20, gen(7))
    for method in ("jet", "sdgd", "hutchinson", "autograd", "sdgd_autograd"):
        a = builtin.residual(x, builtin.derivatives(model, x, method, n_probes=2, generator=gen(8)))
        b = p.residual(x, p.derivatives(model, x, method, n_probes=2, generator=gen(8)))
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    xb = builtin.sample_boundary(20, gen(9))
    torch.testing.assert_close(builtin.condition_residual("bc", model, xb), p.condition_residual("dirichlet", model, xb),
                               rtol=0, atol=0)


@pytest.mark.parametrize("method", ["jet", "autograd"])
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_residual_vanishes_at_exact_solution(name, method):
    p = get_problem(name)
    x = p.sample_interior(64, gen(11))
    if name == "burgers-1d":  # the Cole-Hopf derivatives grow like 1/sqrt(t) near t = 0
        x[:, 1] = x[:, 1].clamp_min(0.05)
    r = p.residual_of(p.exact, x, method).detach()
    assert r.shape == (64,)
    assert float(r.abs().max()) < 1e-8


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_conditions_hold_at_exact_solution(name):
    p = get_problem(name)
    model = FunctionModel(p.exact, p.dim)
    plain = type(p)(p.equation, domain=p.domain, exact=p.exact,
                    conditions=[type(c)(**{**c.__dict__, "hard": False}) for c in p.conditions])
    assert not plain.hard_conditions and plain.soft_conditions
    pts = plain.sample_conditions(40, gen(12))
    for cname, x in pts.items():
        for method in ("jet", "autograd"):
            r = plain.condition_residual(cname, model, x, method)
            assert float(r.detach().abs().max()) < 1e-8, (cname, method)


def test_burgers_reference_matches_known_values():
    p = get_problem("burgers-1d")
    x = torch.tensor([[0.5, 0.0], [0.0, 0.5], [-0.5, 0.25], [0.25, 1.0]], dtype=DT)
    u = p.exact(x)
    assert abs(float(u[0]) + 1.0) < 1e-12  # u0 = -sin(pi/2)
    assert abs(float(u[1])) < 1e-12  # odd in x: zero at the centre
    assert float(u[2]) > 0.5 and float(u[3]) < -0.1
    # the default quadrature agrees with a finer one
    finer = get_problem("burgers-1d", n_quad=16001)
    xs = p.sample_interior(50, gen(13))
    assert float((finer.exact(xs) - p.exact(xs)).abs().max()) < 1e-7


def test_neumann_robin_periodic_initial_velocity_residuals():
    def sol(x):
        return torch.cos(PI * x[:, 0]) * torch.exp(x[:, 1]) + torch.sin(2 * PI * x[:, 0]) * x[:, 2] ** 2

    dom = SpaceTime(Box((0.0, 0.0), (2.0, 1.0)), 0.0, 1.0)

    def dn(x):  # outward normal derivative on the x1 faces: -u_y at y = 0, u_y at y = 1
        uy = torch.cos(PI * x[:, 0]) * torch.exp(x[:, 1])
        return torch.where(x[:, 1] > 0.5, uy, -uy)

    p = PDE(lambda x, u: u.laplacian, domain=dom, exact=sol, conditions=[
        Neumann(dn, on=("x1_low", "x1_high")), Robin(2.0, 0.5, lambda x: 2 * sol(x) + 0.5 * dn(x), on="x1_high"),
        Periodic(axis=0), InitialVelocity(lambda x: torch.zeros_like(x[:, 0])),
        Initial(lambda x: torch.cos(PI * x[:, 0]) * torch.exp(x[:, 1]), hard=False)])
    assert list(p.soft_conditions) == ["neumann", "robin", "periodic", "initial_velocity", "initial"]
    model = FunctionModel(sol, 3)
    for name, x in p.sample_conditions(30, gen(14)).items():
        for method in ("jet", "autograd"):
            assert float(p.condition_residual(name, model, x, method).detach().abs().max()) < 1e-10, (name, method)
    # and they do measure something: a wrong field violates each
    wrong = FunctionModel(lambda x: sol(x) + x[:, 0] * x[:, 1] + x[:, 2], 3)
    for name, x in p.sample_conditions(30, gen(14)).items():
        assert float(p.condition_residual(name, wrong, x).detach().abs().max()) > 1e-3, name


# --- checks on user functions ---------------------------------------------------------------------------------


def test_n1_source_is_normalised_and_broadcasting_is_an_error():
    box = Box.cube(2)

    def ok(x, u):  # (N, 1) residual: accepted and normalised
        return (u.laplacian - x[:, 0]).reshape(-1, 1)

    def bad(x, u):  # the DeepXDE habit: an (N, 1) source against (N,) derivatives broadcasts to (N, N)
        return u.laplacian - torch.sin(x[:, 0:1])

    x = torch.rand(6, 2, dtype=DT)
    p = PDE(ok, domain=box)
    assert p.residual(x, p.derivatives(kan(2), x)).shape == (6,)
    with pytest.raises(ValueError, match=r"residual returned shape \(2, 2\) for x of shape \(2, 2\); expected "
                                         r"\(2,\) or \(2, 1\).*broadcasts to \(N, N\)"):
        PDE(bad, domain=box).plan()
    with pytest.raises(ValueError, match=r"exact returned shape \(6, 2\) for x of shape \(6, 2\); expected \(6,\)"):
        PDE(ok, domain=box, exact=lambda x: x).exact(x)


def test_non_finite_outputs_are_named():
    box = Box.cube(2)
    x = torch.rand(6, 2, dtype=DT)
    p = PDE(lambda x, u: u.laplacian / 0.0, domain=box)
    with pytest.raises(ValueError, match=r"residual returned \d+ non-finite value\(s\) \(NaN or inf\) of 6"):
        p.residual(x, p.derivatives(kan(2), x))
    q = PDE(lambda x, u: u.laplacian, domain=box, conditions=[Dirichlet(lambda x: torch.log(x[:, 0] - 2))])
    with pytest.raises(ValueError, match=r"Dirichlet\(on='boundary'\)\.g returned \d+ non-finite value"):
        q.ansatz(x, kan(2)(x))
    with pytest.raises(ValueError, match=r"Initial\(on='initial'\)\.u0 must be finite, got nan"):
        Initial(float("nan"))


def test_bad_problem_definitions_are_clear_errors():
    box = Box.cube(2)
    with pytest.raises(ValueError, match=r"residual: u.dt needs a time coordinate, but the problem's domain has none"):
        PDE(lambda x, u: u.dt - u.laplacian, domain=box).plan()
    with pytest.raises(ValueError, match=r"residual: u.d\(3\): coordinate index 3 is out of range; x has 2 columns"):
        PDE(lambda x, u: u.d(3), domain=box).plan()
    with pytest.raises(ValueError, match=r"Dirichlet\(on='top'\): the domain Box has no boundary part 'top'; valid "
                                         r"parts: 'boundary', 'x0_low'"):
        PDE(lambda x, u: u.laplacian, domain=box, conditions=[Dirichlet(0.0, on="top")])
    with pytest.raises(ValueError, match=r"Initial\(on='initial'\) needs a time coordinate"):
        PDE(lambda x, u: u.laplacian, domain=box, conditions=[Initial(0.0)])
    with pytest.raises(ValueError, match=r"Periodic\(axis=0\) needs a box"):
        PDE(lambda x, u: u.laplacian, domain=Ball(2), conditions=[Periodic(0)])
    with pytest.raises(ValueError, match=r"Dirichlet\(on='x0_low'\) has hard=True but cannot be imposed exactly"):
        PDE(lambda x, u: u.laplacian, domain=box, conditions=[Dirichlet(0.0), Dirichlet(1.0, on="x0_low", hard=True)])
    with pytest.raises(ValueError, match=r"Neumann\(on='boundary'\): hard=True is not available"):
        Neumann(0.0, hard=True)
    with pytest.raises(TypeError, match=r"PDE: domain must be a Ball, Box or SpaceTime"):
        PDE(lambda x, u: u.laplacian, domain=None)
    with pytest.raises(TypeError, match=r"Dirichlet\(on='boundary'\)\.g must be a function of the points"):
        Dirichlet("zero")
    with pytest.raises(ValueError, match=r"SamplingConfig: n_boundary=0 would drop the soft condition\(s\) "
                                         r"\['neumann'\]"):
        PDETask(PDE(lambda x, u: u.laplacian, domain=box, conditions=[Neumann(0.0)]),
                SamplingConfig(n_boundary=0))
    calls = []

    def branching(x, u):
        calls.append(1)
        return u.laplacian if len(calls) == 1 else u.d(0)

    p = PDE(branching, domain=box)
    x = torch.rand(4, 2, dtype=DT)
    with pytest.raises(RuntimeError, match=r"residual: requested u.d\(0\), which it did not request at its first"):
        p.residual(x, p.derivatives(kan(2), x))


# --- exact optional, reference data -----------------------------------------------------------------------------


def test_without_exact_metrics_are_losses_only(tmp_path):
    p = PDE(lambda x, u: u.dt - 0.1 * u.laplacian, domain=SpaceTime(Box.cube(1), 0, 1),
            conditions=[Dirichlet(0.0, hard=False), Initial(lambda x: torch.sin(PI * x[:, 0]))])
    sol = solve(p, KAN([2, 5, 1]), TrainConfig(steps=3, device="cpu"),
                SamplingConfig(n_interior=16, n_boundary=8, n_eval=50))
    assert "rel_l2" not in sol.metrics and "max_abs" not in sol.metrics
    assert {"residual_mse", "dirichlet_mse"} <= set(sol.metrics)
    assert all(math.isfinite(sol.metrics[k]) for k in ("residual_mse", "dirichlet_mse"))
    path = sol.save(tmp_path / "r.h5")
    with h5py.File(path) as f:
        assert set(f["evaluation"]) == {"x", "prediction"}


def test_reference_data_arrays_npz_and_h5(tmp_path):
    dom = Box.cube(2)
    x = torch.rand(40, 2, generator=gen(15), dtype=DT)
    u = torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1])
    np.savez(tmp_path / "ref.npz", x=x.numpy(), u=u.numpy()[:, None])
    with h5py.File(tmp_path / "ref.h5", "w") as f:
        f["x"], f["u"] = x.numpy(), u.numpy()
    for ref in ((x, u), tmp_path / "ref.npz", str(tmp_path / "ref.h5")):
        p = PDE(lambda x, u: -u.laplacian - 2 * PI ** 2 * torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1]),
                domain=dom, conditions=[Dirichlet(0.0)], reference=ref)
        xe, ue = p.evaluation_set(10, gen(), dtype=DT)
        torch.testing.assert_close(xe, x)
        torch.testing.assert_close(ue, u)
    sol = solve(p, KAN([2, 5, 1]), TrainConfig(steps=2, device="cpu"), SamplingConfig(n_interior=16, n_eval=50))
    assert {"rel_l2", "rel_l1", "max_abs"} <= set(sol.metrics)
    np.savez(tmp_path / "bad.npz", y=x.numpy())
    with pytest.raises(ValueError, match=r"reference file .*bad.npz' must contain arrays 'x' and 'u', found \['y'\]"):
        load_reference(tmp_path / "bad.npz", 2)
    with pytest.raises(ValueError, match=r"reference x must have shape \(M, 3\), got \(40, 2\)"):
        load_reference((x, u), 3)
    with pytest.raises(ValueError, match=r"reference u must have shape \(40,\) or \(40, 1\) to match x, got \(39,\)"):
        load_reference((x, u[:-1]), 2)
    with pytest.raises(FileNotFoundError, match=r"reference file .*nope.npz' does not exist"):
        load_reference(tmp_path / "nope.npz", 2)


def test_solve_heat_soft_initial_condition_is_trained():
    """The issue's silent failure: a soft initial condition is a loss term, not ignored."""
    p = PDE(lambda x, u: u.dt - 0.1 * u.laplacian, domain=SpaceTime(Box.cube(1), 0, 1),
            conditions=[Dirichlet(0.0), Initial(lambda x: torch.sin(PI * x[:, 0]), hard=False, weight=3.0)])
    assert p.condition_weights() == {"initial": 3.0}
    sol = solve(p, KAN([2, 5, 1]), TrainConfig(steps=2, device="cpu"),
                SamplingConfig(n_interior=16, n_boundary=8, n_eval=50))
    assert "loss_initial" in sol.history[-1] and sol.history[-1]["loss_initial"] > 0


@pytest.mark.parametrize("method", ["hutchinson", "sdgd"])
def test_stochastic_laplacian_through_a_hard_ansatz_with_data(method):
    """The estimator's probe vectors go through the library-built ansatz (autograd on the data function alone):
    the estimate equals (scale) * sum_k v_k^T H v_k of the ansatz's exact Hessian H."""
    dom = SpaceTime(Box.cube(3), 0.0, 1.0)
    p = PDE(lambda x, u: u.laplacian + u.dt, domain=dom, conditions=[Dirichlet(g_data), Initial(u0_data)])
    model = kan(4)
    x = p.sample_interior(6, gen(21))
    u = p.derivatives(model, x, method, n_probes=2, generator=gen(22))
    _, grad, h = reference_derivatives(lambda z: p.ansatz(z, model(z)), x)
    hs = h[:, :3, :3]
    g = gen(22)
    if method == "hutchinson":
        v = torch.randint(0, 2, (6, 3, 2), generator=g).to(DT) * 2 - 1
        expected = torch.einsum("nik,nij,njk->n", v, hs, v) / 2
    else:
        idx = torch.randperm(3, generator=g)[:2]
        expected = 1.5 * hs[:, idx, idx].sum(-1)
    torch.testing.assert_close(u.laplacian, expected, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(u.dt, grad[:, 3], rtol=1e-10, atol=1e-12)


def test_ball_normal_and_space_time_ball_ansatz():
    ball = Ball(2, radius=1.5, center=(0.5, -0.5))
    c = torch.tensor([0.5, -0.5], dtype=DT)

    def sq(x):
        return ((x - c) ** 2).sum(1)

    p = PDE(lambda x, u: u.laplacian - 4.0, domain=ball, conditions=[Neumann(3.0), Robin(1.0, -1.0, 2.25 - 3.0)])
    for name, x in p.sample_conditions(20, gen(31)).items():
        for method in ("jet", "autograd"):
            assert float(p.condition_residual(name, FunctionModel(sq, 2), x, method).detach().abs().max()) < 1e-12
    st = PDE(lambda x, u: u.dt - u.laplacian, domain=SpaceTime(ball, 0.0, 2.0),
             conditions=[Dirichlet(lambda x: x[:, 2]), Initial(0.0)])
    xb = st.domain.sample_boundary(30, gen(32))
    torch.testing.assert_close(st.ansatz(xb, kan(3)(xb)), xb[:, 2], rtol=1e-12, atol=1e-12)
    x0 = st.domain.sample_initial(30, gen(33))
    torch.testing.assert_close(st.ansatz(x0, kan(3)(x0)), torch.zeros(30, dtype=DT), rtol=0, atol=1e-12)
