"""transfer(): every method runs end to end through the one Trainer and leaves the source model untouched."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pde_kan
from conftest import two_body_source
from pde_kan import MetaKAN
from pde_kan.problems import AllenCahn, Poisson
from pde_kan.solvers import SamplingConfig, Solution, TrainConfig, load_solution, solve
from pde_kan.transfer import LoTRAConfig, LoTRAModel, default_lr, transfer

CFG = TrainConfig(steps=4, lr=1e-2, eval_every=2, device="cpu")
SMP = SamplingConfig(n_interior=16, n_eval=64)


@pytest.fixture(scope="module")
def source():
    return two_body_source(CFG, SMP)


def state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", ["lotra", "full", "last_layer", "scratch"])
def test_every_method_runs_through_solve_and_keeps_the_source(source, method):
    problem, base = source
    before = state(base.model)
    target = problem.with_params(coeffs=[2 * c for c in problem.coeffs])
    sol = transfer(target, base, method=method, config=CFG, lotra=LoTRAConfig(ranks=(2, 2, 2)))  # used by lotra only
    assert isinstance(sol, Solution) and sol.metrics["steps"] == 4 and len(sol.history) == 4
    assert sol.problem is target and 0 < sol.metrics["rel_l2"] < 10
    after = base.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    n_full = sum(p.numel() for p in base.model.parameters())
    expected = {"lotra": sol.model.n_parameters() if isinstance(sol.model, LoTRAModel) else -1, "full": n_full,
                "last_layer": sum(p.numel() for p in base.model.layers[-1].parameters()), "scratch": n_full}
    assert sol.metrics["trainable_parameters"] == expected[method] == sol.attrs["transfer"]["trainable_parameters"]
    if method == "lotra":
        assert isinstance(sol.model, LoTRAModel) and sol.metrics["trainable_parameters"] < n_full
        assert set(sol.config.group_lr) == set(sol.model.param_groups())
    if method == "scratch":  # the same architecture, freshly initialised from its config
        assert sol.model is not base.model and sol.model.config == base.model.config


def test_lotra_transfer_learns_and_its_results_file_round_trips(source, tmp_path):
    problem, base = source
    target = problem.with_params(coeffs=[-c for c in problem.coeffs])
    cfg = CFG.replace(steps=12, eval_every=0, group_lr={"lotra_core.2": 5e-2})
    sol = transfer(target, base, method="lotra", config=cfg, lotra=LoTRAConfig(ranks=(2, 2, 2)),
                   sampling=SMP.replace(resample=False))
    assert sol.sampling == SMP.replace(resample=False) and base.sampling == SMP
    losses = [row["loss"] for row in sol.history]
    assert losses[-1] < 0.5 * losses[0]
    assert sol.config.group_lr["lotra_core.2"] == 5e-2  # explicit entries win over the rule
    sol.save(tmp_path / "results.h5")
    loaded = load_solution(tmp_path / "results.h5")
    assert isinstance(loaded.model, LoTRAModel) and loaded.model.lotra_config == sol.model.lotra_config
    x = sol.task.x_eval[:32]
    assert torch.equal(loaded.model(x), sol.model(x))


def test_transfer_from_a_results_file_and_on_metakan_time_dependent_allen_cahn(tmp_path):
    problem = AllenCahn.time(2, c=0.0)
    base = solve(problem, MetaKAN([3, 4, 1], hyper_hidden=4), CFG.replace(steps=2), SMP)
    base.save(tmp_path / "base.h5")
    for mode in ("embeddings", "hypernet"):
        sol = transfer(problem.with_params(c=2.0), tmp_path / "base.h5", config=CFG.replace(steps=2),
                       lotra=LoTRAConfig(metakan_mode=mode))
        assert sol.metrics["steps"] == 2 and sol.attrs["transfer"]["lotra"]["metakan_mode"] == mode
        sol.save(tmp_path / f"{mode}.h5")  # the one loader rebuilds either kind of adapted model
        loaded = load_solution(tmp_path / f"{mode}.h5")
        x = sol.task.x_eval[:16]
        assert isinstance(loaded.model, LoTRAModel) and torch.equal(loaded.model(x), sol.model(x))


def test_transfer_errors(source):
    problem, base = source
    with pytest.raises(ValueError, match=r"unknown transfer method 'lora'; valid names: 'full', 'last_layer', "
                                         r"'lotra', 'scratch'"):
        transfer(problem, base, method="lora", config=CFG)
    with pytest.raises(TypeError, match="lotra must be a LoTRAConfig, got dict"):
        transfer(problem, base, config=CFG, lotra={"ranks": (2, 2, 2)})
    with pytest.raises(TypeError, match="source must be a Solution, a results-file path or a backbone, got int"):
        transfer(problem, 42, config=CFG)
    # the old order transfer(solution, target): a Solution, a path or a model where the problem belongs
    for old_first in (base, base.model, "runs/base/results.h5"):
        with pytest.raises(TypeError, match=r"transfer: the first argument is the problem to solve .* call "
                                            r"transfer\(problem, source, method=\.\.\.\)"):
            transfer(old_first, problem, config=CFG)
    with pytest.raises(TypeError):  # method and the configs are keyword-only
        transfer(problem, base, "lotra")


def test_each_method_has_its_own_default_rate_and_the_user_overrides_it(source):
    problem, base = source  # the source ran at CFG.lr = 1e-2
    target = problem.with_params(coeffs=[2 * c for c in problem.coeffs])
    assert default_lr("lotra", 1e-2) == 3e-2 and default_lr("lotra", 1e-5) == 3e-2  # absolute: the rule's base rate
    assert default_lr("full", 1e-2) == pytest.approx(3e-3) and default_lr("scratch", 1e-2) == pytest.approx(3e-2)
    assert default_lr("last_layer", 1e-2) == pytest.approx(3e-2)
    assert default_lr("full") == pytest.approx(0.3 * 1e-2)  # unknown source rate: the one the rates were measured at
    sol = transfer(target, base, method="scratch")  # no config: the source run's config at the default rate
    assert (sol.config.lr, sol.attrs["transfer"]["lr_from"]) == (pytest.approx(3e-2), "default")
    short = CFG.replace(steps=2)
    sol = transfer(target, base, method="full", config=short.replace(lr=5e-4))
    assert (sol.config.lr, sol.attrs["transfer"]["lr_from"]) == (5e-4, "config")
    sol = transfer(target, base, method="full", config=short, lr=2e-4)
    assert (sol.config.lr, sol.attrs["transfer"]["lr_from"]) == (2e-4, "argument")
    sol = transfer(target, base, method="full", config=short, lr="default")
    assert (sol.config.lr, sol.attrs["transfer"]["lr_from"]) == (pytest.approx(3e-3), "default")
    sol = transfer(target, base, method="lotra", config=short, lr="default")
    assert sol.config.lr == 3e-2 and sol.config.group_lr == sol.model.group_lr(3e-2)
    assert sol.config.steps == 2  # the config's other settings are kept
    with pytest.raises(ValueError, match="lr must be a positive number, 'default' or None, got 'auto'"):
        transfer(target, base, config=short, lr="auto")
    with pytest.raises(ValueError, match="warm_start applies to method='lotra' only"):
        transfer(target, base, method="full", config=short, warm_start={})


def test_transfer_chains_through_a_saved_metakan_lotra_run(tmp_path):
    problem = Poisson.two_body(dim=3, seed=0)
    base = solve(problem, MetaKAN([3, 4, 1], hyper_hidden=4), CFG.replace(steps=2), SMP)
    first = transfer(problem.with_params(coeffs=[2 * c for c in problem.coeffs]), base, config=CFG.replace(steps=2))
    first.save(tmp_path / "first.h5")
    loaded = load_solution(tmp_path / "first.h5")
    x = first.task.x_eval[:16]
    plain = loaded.model.merge_and_unload()  # the delta goes into the stored embeddings
    assert type(plain) is MetaKAN and torch.equal(plain(x), first.model(x))
    second = transfer(problem.with_params(coeffs=[3 * c for c in problem.coeffs]), plain, config=CFG.replace(steps=2),
                      sampling=SMP)
    assert isinstance(second.model, LoTRAModel) and second.metrics["steps"] == 2


@pytest.mark.slow  # a fresh interpreter (about 3 s of imports)
def test_the_root_loader_rebuilds_lotra_runs_in_a_fresh_interpreter(source, tmp_path):
    """pde_kan.load_solution is the one loader: it imports pde_kan.transfer, which registers the LoTRA model kind
    with solvers.load_solution (solvers itself never imports transfer)."""
    problem, base = source
    sol = transfer(problem.with_params(coeffs=[2 * c for c in problem.coeffs]), base, config=CFG.replace(steps=2),
                   lotra=LoTRAConfig(ranks=(2, 2, 2)))
    sol.save(tmp_path / "lotra.h5")
    code = ("import sys, pde_kan\n"
            "assert 'pde_kan.transfer' not in sys.modules\n"
            f"sol = pde_kan.load_solution({str(tmp_path / 'lotra.h5')!r})\n"
            "print(type(sol.model).__name__, sol.model.layer_ranks['layers.1'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(Path(pde_kan.__file__).parents[1])})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["LoTRAModel", "(2,", "2,", "2)"]
