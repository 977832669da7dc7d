"""Custom problems everywhere: "package.module:Attribute" names and the pde_kan.problems entry-point group, through
get_problem, the CLI (flag and TOML), params round trips and saved results."""
import json
import textwrap

import h5py
import pytest

from pde_kan import cli
from pde_kan.problems import PDE, Problem, get_problem, problem_from_params, registry
from pde_kan.solvers import load_solution

MODULE = textwrap.dedent('''
    import math
    from dataclasses import dataclass
    from typing import ClassVar

    import torch

    from pde_kan.problems import PDE, Box, Dirichlet, SpaceTime, Initial, Poisson, PoissonSineCube


    def make_heat(k=0.1, n=1):
        """2-D heat equation from a factory with keywords."""
        def residual(x, u):
            return u.dt - k * u.laplacian

        def u0(x):
            return torch.sin(n * math.pi * x[:, 0]) * torch.sin(math.pi * x[:, 1])

        def exact(x):
            return torch.exp(-(n * n + 1) * math.pi ** 2 * k * x[:, 2]) * u0(x)

        return PDE(residual, domain=SpaceTime(Box.cube(2), 0.0, 1.0), conditions=[Dirichlet(0.0), Initial(u0)],
                   exact=exact)


    @dataclass(frozen=True, kw_only=True)
    class Cube3(PoissonSineCube):
        """A Problem subclass without a registered name."""
        dim: int = 3


    POISSON = Poisson.sine_square()
''')


@pytest.fixture
def mod(tmp_path, monkeypatch):
    (tmp_path / "my_problems_15.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_problems_15"


def test_module_colon_names(mod):
    p = get_problem(f"{mod}:make_heat", k=0.2)
    assert isinstance(p, PDE) and p.dim == 3
    assert p.params() == {"name": f"{mod}:make_heat", "k": 0.2}
    again = problem_from_params(json.loads(json.dumps(p.params())))
    assert again.params() == p.params() and again.dim == 3
    assert p.with_params(n=2).params() == {"name": f"{mod}:make_heat", "k": 0.2, "n": 2}
    c = get_problem(f"{mod}:Cube3", sampler="sobol")
    assert c.params()["name"] == f"{mod}:Cube3"
    assert problem_from_params(json.loads(json.dumps(c.params()))) == c
    assert get_problem(f"{mod}:POISSON").name == "poisson-sine-square"


def test_custom_name_errors(mod):
    with pytest.raises(ValueError, match=r"problem 'nope_15.mod:X': cannot import module 'nope_15.mod'"):
        get_problem("nope_15.mod:X")
    with pytest.raises(ValueError, match=rf"problem '{mod}:missing': module '{mod}' has no attribute 'missing'"):
        get_problem(f"{mod}:missing")
    with pytest.raises(ValueError, match=rf"{mod}:make_heat: unknown keyword 'kk'; valid keywords: 'k', 'n'"):
        get_problem(f"{mod}:make_heat", kk=1)
    with pytest.raises(TypeError, match=r"must be a Problem subclass, a factory function"):
        get_problem("math:pi")
    with pytest.raises(ValueError, match=r"this PDE was built in a script"):
        problem_from_params({"name": "pde"})


class FakeEntryPoint:
    def __init__(self, name, value, obj):
        self.name, self.value, self.obj = name, value, obj

    def load(self):
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


def test_entry_point_group(mod, monkeypatch):
    import importlib

    factory = importlib.import_module(mod).make_heat
    eps = [FakeEntryPoint("my-heat", f"{mod}:make_heat", factory),
           FakeEntryPoint("broken", "x:y", ImportError("no module x"))]
    monkeypatch.setattr(registry.metadata, "entry_points",
                        lambda group: eps if group == registry.ENTRY_POINT_GROUP else [])
    assert "my-heat" in registry.available_problems()
    p = get_problem("my-heat", k=0.3)
    assert p.params() == {"name": "my-heat", "k": 0.3} and p.name == "my-heat"
    assert problem_from_params(p.params()).params() == p.params()
    with pytest.raises(ValueError, match=r"problem 'broken': its entry point 'x:y' .* failed to load"):
        get_problem("broken")


@pytest.mark.slow
def test_cli_and_toml_with_custom_problem(mod, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main(["solve", "--problem", f"{mod}:make_heat", "--set", "problem.k=0.2", "--backbone", "kan",
                   "--hidden", "4", "--steps", "3", "--n-eval", "100", "--out", str(out), "--no-progress"])
    assert rc == 0 and "rel_l2" in capsys.readouterr().out
    sol = load_solution(out / "results.h5")
    rebuilt = problem_from_params(sol.attrs["problem"])
    assert rebuilt.params() == {"name": f"{mod}:make_heat", "k": 0.2}
    cfg = tmp_path / "run.toml"
    cfg.write_text(f'[problem]\nname = "{mod}:Cube3"\n[model]\nbackbone = "mlp"\nhidden = [4]\n'
                   f'[train]\nsteps = 2\n[sampling]\nn_eval = 50\n')
    assert cli.main(["solve", "--config", str(cfg), "--out", str(tmp_path / "o2"), "--no-progress",
                     "--no-plots"]) == 0
    with h5py.File(tmp_path / "o2" / "results.h5") as f:
        assert json.loads(f.attrs["problem"])["name"] == f"{mod}:Cube3"


def test_shipped_families_round_trip_and_change_parameters():
    for name in ("heat-sine", "wave-1d", "helmholtz-2d", "burgers-1d", "anisotropic-advection-diffusion"):
        p = get_problem(name)
        assert isinstance(p, Problem) and p.name == name
        again = problem_from_params(json.loads(json.dumps(p.params())))
        assert again == p and hash(again) == hash(p)
    h = get_problem("heat-sine", dim=3, k=0.2)
    assert h.dim == 4 and h.with_params(k=0.5).params() == {"name": "heat-sine", "dim": 3, "k": 0.5}
    with pytest.raises(ValueError, match=r"heat-sine: unknown keyword 'kappa'; valid keywords: 'dim', 'k'"):
        get_problem("heat-sine", kappa=1)
