"""PDE solves against analytic solutions, results files and plots."""
import h5py
import numpy as np
import pytest
import torch

from pde_kan import KAN, MLP, MetaKAN, SlimKAN
from pde_kan.problems import get_problem
from pde_kan.solvers import Checkpoint, SamplingConfig, TrainConfig, load_solution, plot_history, plot_slice, solve


@pytest.mark.slow
def test_sine_square_kan_reaches_stated_error():
    """A short float64 solve of -Δu = 2π² sin(πx) sin(πy) with a hard BC: rel L2 below 2%."""
    problem = get_problem("poisson-sine-square")
    sol = solve(problem, KAN([2, 8, 1]), TrainConfig(steps=250, lr=1e-2, eval_every=250, device="cpu"),
                SamplingConfig(n_eval=2000))
    assert sol.metrics["rel_l2"] < 2e-2
    assert sol.history[0]["loss"] > 100 * sol.history[-1]["loss"]


@pytest.mark.slow
@pytest.mark.parametrize("make, lr", [(lambda: MetaKAN([2, 8, 1], hyper_hidden=16), 3e-2),
                                      (lambda: SlimKAN([2, 8, 1]), 1e-2), (lambda: MLP([2, 16, 1]), 1e-2)])
def test_every_backbone_learns_sine_square(make, lr):
    problem = get_problem("poisson-sine-square")
    sol = solve(problem, make(), TrainConfig(steps=150, lr=lr, eval_every=0, device="cpu"), SamplingConfig(n_eval=1000))
    assert sol.metrics["rel_l2"] < 0.3


def test_two_body_stochastic_laplacian_trains():
    problem = get_problem("poisson-two-body", dim=6, seed=0)
    cfg = TrainConfig(steps=120, lr=1e-2, eval_every=0, device="cpu")
    smp = SamplingConfig(engine="sdgd", n_probes=2, n_eval=2000)
    sol = solve(problem, KAN([6, 8, 1]), cfg, smp)
    first = solve(problem, KAN([6, 8, 1]), cfg.replace(steps=1), smp)
    assert sol.metrics["rel_l2"] < 0.5 * first.metrics["rel_l2"]


def test_soft_boundary_problem_reports_boundary_loss():
    problem = get_problem("poisson-sine-cube", dim=3)
    sol = solve(problem, KAN([3, 6, 1]), TrainConfig(steps=60, lr=1e-2, eval_every=0, device="cpu"),
                SamplingConfig(n_boundary=60, n_eval=1000))
    assert "loss_bc" in sol.history[-1]
    assert sol.metrics["rel_l2"] < 0.5


def test_time_dependent_allen_cahn_runs():
    problem = get_problem("allen-cahn-time", spatial_dim=2, c=0.5)
    sol = solve(problem, KAN([3, 6, 1]), TrainConfig(steps=30, lr=1e-2, eval_every=0, device="cpu"),
                SamplingConfig(n_eval=500))
    assert np.isfinite(sol.metrics["rel_l2"]) and sol.metrics["steps"] == 30


def test_results_h5_round_trip_and_plots(tmp_path):
    problem = get_problem("poisson-two-body", dim=3, seed=2)
    sol = solve(problem, KAN([3, 4, 1]), TrainConfig(steps=10, eval_every=5, device="cpu"), SamplingConfig(n_eval=300))
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


def test_predict_applies_the_ansatz_and_evaluate_scores_other_problems(tmp_path):
    problem = get_problem("poisson-two-body", dim=3, seed=2)
    sol = solve(problem, KAN([3, 4, 1]), TrainConfig(steps=5, device="cpu"), SamplingConfig(n_eval=300))
    back = load_solution(sol.save(tmp_path / "r.h5"))
    assert back.problem.params() == problem.params()
    x = problem.sample_interior(9, torch.Generator().manual_seed(3))
    u = back.predict(x)
    assert torch.equal(u, problem.ansatz(x, sol.model(x)).detach())
    assert np.array_equal(back.predict(x.numpy()), u.numpy())  # arrays in, arrays out
    assert np.array_equal(back.predict(x.numpy().tolist()), u.numpy())
    boundary = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)  # hard BC: u = exact on the sphere
    assert torch.allclose(back.predict(boundary), problem.exact(boundary), atol=1e-12)
    assert back.evaluate() == pytest.approx({k: sol.metrics[k] for k in ("rel_l2", "rel_l1", "max_abs")},
                                            rel=1e-12)
    other = problem.with_params(coeffs=[2 * c for c in problem.coeffs])
    assert back.evaluate(other)["rel_l2"] != pytest.approx(back.evaluate()["rel_l2"])
    with pytest.raises(ValueError, match=r"Solution.evaluate: problem has dim 5 but the solution's points have 3"):
        back.evaluate(get_problem("poisson-two-body", dim=5))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\), got \(4, 2\)"):
        back.predict(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"x contains 1 non-finite value"):
        back.predict(np.array([[np.nan, 0.0, 0.0]]))
    with pytest.raises(TypeError, match=r"must be a tensor or array of shape \(N, 3\)"):
        back.predict({"x": 1})


def test_plots_from_a_loaded_space_time_solution_cover_the_time_interval(tmp_path, monkeypatch):
    import matplotlib.figure

    problem = get_problem("allen-cahn-time", dim=3)
    sol = solve(problem, KAN([3, 4, 1]), TrainConfig(steps=3, device="cpu"), SamplingConfig(n_eval=200))
    back = load_solution(sol.save(tmp_path / "r.h5"))
    figures = []
    real = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: (figures.append(self), real(self, *a, **k))[1])
    plot_slice(back, tmp_path / "s.png")
    plot_history(back, tmp_path / "h.png")
    panels = [ax for ax in figures[0].axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["exact u", "predicted u", "|predicted - exact|"]
    for ax in panels:  # (x_1, t) over the ball's extent and the whole time interval, labelled
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("x_1", "t")
        assert ax.get_xlim() == pytest.approx((-1, 1), abs=0.02) and ax.get_ylim() == pytest.approx((0, 1), abs=0.02)
    assert len(figures[0].axes) == 6  # one colour bar per panel
    assert "allen-cahn-time · KAN [3, 4, 1] · d=3" in figures[0]._suptitle.get_text()
    assert "x_2 = 0" in figures[0]._suptitle.get_text()
    loss_ax, err_ax = figures[1].axes
    assert loss_ax.get_yscale() == err_ax.get_yscale() == "log"
    assert loss_ax.get_ylabel().startswith("training loss") and err_ax.get_ylabel().startswith("error against")


def test_history_plot_shows_the_boundary_loss_of_soft_bc_problems(tmp_path, monkeypatch):
    import matplotlib.figure

    problem = get_problem("poisson-sine-cube", dim=3, boundary_weight=10.0)
    sol = solve(problem, KAN([3, 4, 1]), TrainConfig(steps=4, eval_every=2, device="cpu"), SamplingConfig(n_eval=100))
    figures = []
    real = matplotlib.figure.Figure.savefig
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig",
                        lambda self, *a, **k: (figures.append(self), real(self, *a, **k))[1])
    plot_history(sol, tmp_path / "h.png")
    labels = [t.get_text() for t in figures[0].axes[0].get_legend().get_texts()]
    assert labels == ["total loss", "PDE residual", "boundary"]


def test_resume_refuses_a_checkpoint_of_another_problem(tmp_path):
    cfg, smp = TrainConfig(steps=2, device="cpu"), SamplingConfig(n_eval=50)
    solve(get_problem("poisson-two-body", dim=3, seed=0), KAN([3, 4, 1]), cfg, smp, callbacks=[Checkpoint(tmp_path)])
    with pytest.raises(ValueError, match=r"different config for \['problem.coeffs'\]"):
        solve(get_problem("poisson-two-body", dim=3, seed=3), KAN([3, 4, 1]), cfg.replace(steps=4), smp,
              resume=tmp_path / "last.pt")
    with pytest.raises(ValueError, match=r"different config for \['sampling.n_interior'\]"):
        solve(get_problem("poisson-two-body", dim=3, seed=0), KAN([3, 4, 1]), cfg.replace(steps=4),
              smp.replace(n_interior=7), resume=tmp_path / "last.pt")
    resumed = solve(get_problem("poisson-two-body", dim=3, seed=0), KAN([3, 4, 1]), cfg.replace(steps=4), smp,
                    resume=tmp_path / "last.pt")
    assert [row["step"] for row in resumed.history] == [1, 2, 3, 4]


def test_files_written_before_sampling_config_load_and_resume(tmp_path):
    """Results files and checkpoints of earlier versions hold the sampling fields in the train config, with
    ``laplacian`` / ``k`` for ``engine`` / ``n_probes``: they still load, and a resume still compares them."""
    import json

    from pde_kan.solvers import load_checkpoint, save_checkpoint

    problem = get_problem("poisson-two-body", dim=3, seed=0)
    cfg, smp = TrainConfig(steps=2, device="cpu"), SamplingConfig(engine="sdgd", n_probes=2, n_eval=50)
    sol = solve(problem, KAN([3, 4, 1]), cfg, smp, callbacks=[Checkpoint(tmp_path / "ck")])
    assert sol.sampling == smp
    path = sol.save(tmp_path / "r.h5")
    legacy = {**cfg.to_dict(), "laplacian": "sdgd", "k": 2, "n_interior": 100, "n_boundary": 100,
              "boundary_weight": None, "resample": True, "n_eval": 50}
    with h5py.File(path, "r+") as f:
        del f.attrs["sampling"]
        f.attrs["config"] = json.dumps(legacy)
    back = load_solution(path)
    assert back.config == cfg and back.sampling == smp
    state = load_checkpoint(tmp_path / "ck" / "last.pt")
    del state["sampling"], state["format_version"]
    state["config"] = legacy
    save_checkpoint(tmp_path / "old.pt", state)
    with pytest.raises(ValueError, match=r"different config for \['sampling.n_probes'\]"):
        solve(problem, KAN([3, 4, 1]), cfg.replace(steps=3), smp.replace(n_probes=3), resume=tmp_path / "old.pt")
    resumed = solve(problem, KAN([3, 4, 1]), cfg.replace(steps=3), smp, resume=tmp_path / "old.pt")
    assert resumed.metrics["steps"] == 3


def test_solve_refuses_the_old_argument_order_and_positional_callbacks():
    problem = get_problem("poisson-sine-square")
    with pytest.raises(TypeError, match=r"solve: the first argument is the problem and the second the model"):
        solve(KAN([2, 3, 1]), problem)
    with pytest.raises(TypeError, match=r"solve: sampling must be a SamplingConfig, got list"):
        solve(problem, KAN([2, 3, 1]), TrainConfig(steps=1, device="cpu"), [])
