"""The control-variate Laplacian of the unit-ball ansatz (``pde_kan.diff.ball_ansatz_derivatives``): exact with
the exact engine, unbiased with the stochastic ones (the plain estimator's expectation, the exact Laplacian of
``u``), and of smaller variance than the plain estimator at the same number of probes. float64 throughout."""
import torch
import pytest

from pde_kan import KAN
from pde_kan.diff import ball_ansatz_derivatives
from pde_kan.problems import AllenCahn, Poisson
from pde_kan.solvers import ControlVariateTask, PDETask, SamplingConfig, TrainConfig, fit

D, N, M = 12, 6, 3000


def _setup():
    problem = Poisson.two_body(D, seed=0)
    model = KAN([D, 8, 1], seed=3)
    x = problem.sample_interior(N, torch.Generator().manual_seed(1))
    return problem, model, x


def test_exact_engine_gives_the_exact_laplacian_of_the_ansatz():
    problem, model, x = _setup()
    cv = ball_ansatz_derivatives(model, x, "jet")
    exact = problem.derivatives(model, x, "jet")
    assert cv.value.dtype == torch.float64
    torch.testing.assert_close(cv.value, exact.value, rtol=0, atol=1e-14)
    torch.testing.assert_close(cv.laplacian, exact.laplacian, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ["sdgd", "hutchinson"])
def test_unbiased_with_the_plain_estimators_expectation_and_smaller_variance(engine):
    problem, model, x = _setup()
    exact = problem.derivatives(model, x, "jet").laplacian  # E[plain estimate] = the exact Laplacian
    g_cv, g_plain = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    with torch.no_grad():
        cv = torch.stack([ball_ansatz_derivatives(model, x, engine, n_probes=3, generator=g_cv).laplacian
                          for _ in range(M)])
        plain = torch.stack([problem.derivatives(model, x, engine, n_probes=3, generator=g_plain).laplacian
                             for _ in range(M)])
    for draws in (cv, plain):  # both within 5 standard errors of the exact Laplacian at every point
        se = draws.std(0) / M ** 0.5
        assert bool(((draws.mean(0) - exact).abs() <= 5 * se + 1e-12).all()), (draws.mean(0) - exact) / se
    assert bool((cv.var(0) < plain.var(0)).all())


def test_control_variate_task_trains_and_refuses_other_ansatze():
    problem = Poisson.two_body(4, seed=0)
    sampling = SamplingConfig(n_interior=16, engine="sdgd", n_probes=2, n_eval=64)
    config = TrainConfig(steps=3, lr=1e-2, eval_every=0, device="cpu")
    sol = fit(ControlVariateTask(problem, sampling, seed=config.seed), KAN([4, 4, 1], seed=0), config)
    plain = fit(PDETask(problem, sampling, seed=config.seed), KAN([4, 4, 1], seed=0), config)
    assert sol.metrics["steps"] == 3 and sol.history[0]["loss"] != plain.history[0]["loss"]
    assert ControlVariateTask(AllenCahn.two_body(4), sampling).problem.name == "allen-cahn-two-body"
    with pytest.raises(ValueError, match=r"ControlVariateTask: the control variate is written for the ansatz "
                                         r"\(1 - \|x\|\^2\) raw of 'poisson-two-body', 'allen-cahn-two-body', got "
                                         r"problem 'poisson-sine-square'; use PDETask"):
        ControlVariateTask(Poisson.sine_square(), sampling)
    with pytest.raises(ValueError, match=r"engine 'autograd' is not a jet engine"):
        ball_ansatz_derivatives(KAN([4, 4, 1]), torch.zeros(2, 4, dtype=torch.float64), "autograd")
