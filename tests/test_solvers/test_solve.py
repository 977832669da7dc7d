"""PDE solves against analytic solutions, results files and plots."""
import h5py
import numpy as np
import pytest
import torch

from pde_kan import KAN, MLP, MetaKAN, SlimKAN
from pde_kan.problems import get_problem
from pde_kan.solvers import Checkpoint, TrainConfig, load_solution, plot_history, plot_slice, solve


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_sine_square_kan_reaches_stated_error():
    """A short float64 solve of -Δu = 2π² sin(πx) sin(πy) with a hard BC: rel L2 below 2%."""
    problem = get_problem("poisson-sine-square")
    sol = solve(problem, KAN([2, 8, 1]), TrainConfig(steps=250, lr=1e-2, eval_every=250, n_eval=2000,
                                                     device="cpu"))
    assert sol.metrics["rel_l2"] < 2e-2
    assert sol.history[0]["loss"] > 100 * sol.history[-1]["loss"]


@pytest.mark.parametrize("make, lr", [(lambda: MetaKAN([2, 8, 1], hyper_hidden=16), 3e-2),
                                      (lambda: SlimKAN([2, 8, 1]), 1e-2), (lambda: MLP([2, 16, 1]), 1e-2)])
def test_every_backbone_learns_sine_square(make, lr):
    problem = get_problem("poisson-sine-square")
    sol = solve(problem, make(), TrainConfig(steps=150, lr=lr, eval_every=0, n_eval=1000, device="cpu"))
    assert sol.metrics["rel_l2"] < 0.3


def test_two_body_stochastic_laplacian_trains():
    problem = get_problem("poisson-two-body", dim=6, seed=0)
    cfg = TrainConfig(steps=120, lr=1e-2, laplacian="sdgd", k=2, eval_every=0, n_eval=2000, device="cpu")
    sol = solve(problem, KAN([6, 8, 1]), cfg)
    first = solve(problem, KAN([6, 8, 1]), cfg.replace(steps=1))
    assert sol.metrics["rel_l2"] < 0.5 * first.metrics["rel_l2"]


def test_soft_boundary_problem_reports_boundary_loss():
    problem = get_problem("poisson-sine-cube", dim=3)
    sol = solve(problem, KAN([3, 6, 1]), TrainConfig(steps=60, lr=1e-2, n_boundary=60, eval_every=0,
                                                     n_eval=1000, device="cpu"))
    assert "loss_bc" in sol.history[-1]
    assert sol.metrics["rel_l2"] < 0.5


def test_time_dependent_allen_cahn_runs():
    problem = get_problem("allen-cahn-time", spatial_dim=2, c=0.5)
    sol = solve(problem, KAN([3, 6, 1]), TrainConfig(steps=30, lr=1e-2, eval_every=0, n_eval=500, device="cpu"))
    assert np.isfinite(sol.metrics["rel_l2"]) and sol.metrics["steps"] == 30


def test_pde_resume_bit_identical(tmp_path):
    problem = get_problem("poisson-two-body", dim=3, seed=1)
    cfg = TrainConfig(steps=20, lr=1e-2, laplacian="hutchinson", k=2, eval_every=0, n_eval=200, device="cpu")
    full = solve(problem, MetaKAN([3, 4, 1]), cfg)
    solve(problem, MetaKAN([3, 4, 1]), cfg.replace(steps=9), callbacks=[Checkpoint(tmp_path, every=3)])
    resumed = solve(problem, MetaKAN([3, 4, 1]), cfg, resume=tmp_path / "last.pt")
    assert torch.equal(params(full.model), params(resumed.model))


def test_results_h5_round_trip_and_plots(tmp_path):
    problem = get_problem("poisson-two-body", dim=3, seed=2)
    sol = solve(problem, KAN([3, 4, 1]), TrainConfig(steps=10, eval_every=5, n_eval=300, device="cpu"))
    path = sol.save(tmp_path / "results.h5")
    with h5py.File(path) as f:
        assert f["evaluation/x"].shape == (300, 3)
        np.testing.assert_allclose(f["evaluation/error"][()],
                                   f["evaluation/prediction"][()] - f["evaluation/exact"][()])
        assert f.attrs["pde_kan_version"]
    back = load_solution(path)
    assert back.metrics == sol.metrics
    assert back.attrs["problem"] == problem.params()
    x = problem.sample_interior(7, torch.Generator().manual_seed(0))
    assert torch.equal(back.model(x), sol.model(x))
    rel = np.linalg.norm(back.arrays["error"]) / np.linalg.norm(back.arrays["exact"])
    assert rel == pytest.approx(sol.metrics["rel_l2"], rel=1e-12)
    for p in (plot_history(sol, tmp_path / "h.png"), plot_slice(sol, tmp_path / "s.png")):
        assert p.stat().st_size > 1000 and p.read_bytes()[:4] == b"\x89PNG"


def test_model_problem_dimension_mismatch_is_clear():
    with pytest.raises(ValueError, match="10"):
        solve(get_problem("poisson-two-body", dim=10, seed=0), KAN([3, 4, 1]), TrainConfig(steps=1))
