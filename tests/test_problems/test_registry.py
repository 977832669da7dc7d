"""Registry, frozen parameters (with_params / params), model checks and determinism."""
import dataclasses
import json

import pytest
import torch

from pde_kan import KAN, MLP
from pde_kan.problems import (AllenCahn, AllenCahnTime, AllenCahnTwoBody, Poisson, PoissonSineCube,
                              PoissonSineSquare, PoissonTwoBody, available_problems, get_problem,
                              problem_from_params)

DT = torch.float64


def test_available_problems():
    assert available_problems() == ["allen-cahn-time", "allen-cahn-two-body", "anisotropic-advection-diffusion",
                                    "burgers-1d", "heat-sine", "helmholtz-2d", "poisson-sine-cube",
                                    "poisson-sine-square", "poisson-two-body", "wave-1d"]


@pytest.mark.parametrize("name,kw,cls,dim", [
    ("poisson-two-body", {"dim": 10}, PoissonTwoBody, 10),
    ("allen-cahn-two-body", {"dim": 4, "seed": 3}, AllenCahnTwoBody, 4),
    ("poisson-sine-cube", {}, PoissonSineCube, 5),
    ("poisson-sine-square", {}, PoissonSineSquare, 2),
    ("poisson-sine-square", {"dim": 2}, PoissonSineSquare, 2),
    ("allen-cahn-time", {"spatial_dim": 2}, AllenCahnTime, 3),
    ("allen-cahn-time", {"dim": 3, "c": 2.0}, AllenCahnTime, 3),
    ("poisson-two-body", {"dim": 3, "sampler": "uniform-radius"}, PoissonTwoBody, 3),
    ("poisson-sine-cube", {"dim": 3, "sampler": "sobol", "boundary_weight": 1.0}, PoissonSineCube, 3),
])
def test_get_problem(name, kw, cls, dim):
    p = get_problem(name, **kw)
    assert type(p) is cls and p.name == name and p.dim == dim
    for key, value in kw.items():
        if key not in ("seed", "dim"):
            assert getattr(p, key) == value


def test_registry_matches_factories():
    assert get_problem("poisson-two-body", dim=6, seed=2) == Poisson.two_body(6, seed=2)
    assert get_problem("allen-cahn-time", dim=4, c=0.5) == AllenCahn.time(3, c=0.5)


def test_problem_classes_are_derived_from_the_registry():
    from pde_kan.problems.registry import PROBLEM_CLASSES, PROBLEMS

    assert PROBLEM_CLASSES == {c.name: c for c in (PoissonTwoBody, AllenCahnTwoBody, PoissonSineCube,
                                                   PoissonSineSquare, AllenCahnTime)}
    assert all(name in PROBLEMS and cls.name == name for name, cls in PROBLEM_CLASSES.items())


def test_registry_errors():
    with pytest.raises(ValueError, match=r"unknown problem 'poisson'; valid names: 'allen-cahn-time', .*'poisson-two-body'"):
        get_problem("poisson", dim=3)
    with pytest.raises(ValueError, match=r"poisson-two-body: unknown keyword 'radius'; valid keywords: 'dim', 'seed'"):
        get_problem("poisson-two-body", dim=3, radius=2)
    with pytest.raises(ValueError, match=r"poisson-two-body: missing a required argument: 'dim'"):
        get_problem("poisson-two-body")
    with pytest.raises(ValueError, match=r"poisson-sine-square: dim must be 2"):
        get_problem("poisson-sine-square", dim=3)
    with pytest.raises(ValueError, match=r"allen-cahn-time: pass spatial_dim"):
        get_problem("allen-cahn-time")
    with pytest.raises(ValueError, match=r"dim=4 and spatial_dim=2 disagree"):
        get_problem("allen-cahn-time", dim=4, spatial_dim=2)


@pytest.mark.parametrize("p", [Poisson.two_body(3, seed=1), AllenCahn.two_body(4), Poisson.sine_cube(2),
                               Poisson.sine_square(), AllenCahn.time(2, c=-0.5)], ids=lambda p: p.name)
def test_params_are_json_and_round_trip(p):
    params = p.params()
    assert params["name"] == p.name
    again = json.loads(json.dumps(params))
    assert problem_from_params(again) == p
    assert hash(problem_from_params(again)) == hash(p)


def test_problem_from_params_errors():
    with pytest.raises(ValueError, match="must contain 'name'"):
        problem_from_params({"dim": 3})
    with pytest.raises(ValueError, match=r"unknown field 'radius' for 'poisson-sine-cube'"):
        problem_from_params({"name": "poisson-sine-cube", "radius": 1.0})


def test_two_body_coefficients_from_seed():
    p = Poisson.two_body(5, seed=3)
    assert len(p.coeffs) == 4 and all(isinstance(c, float) for c in p.coeffs)
    expected = torch.randn(4, generator=torch.Generator().manual_seed(3), dtype=DT).tolist()
    assert list(p.coeffs) == expected
    assert Poisson.two_body(5, seed=3) == p and Poisson.two_body(5, seed=4) != p
    assert AllenCahn.two_body(5, seed=3).coeffs == p.coeffs


def test_with_params_returns_a_new_validated_problem():
    p = Poisson.two_body(4, seed=0)
    doubled = p.with_params(coeffs=[2 * c for c in p.coeffs])
    assert doubled is not p and isinstance(doubled, PoissonTwoBody)
    assert doubled.coeffs == tuple(2 * c for c in p.coeffs) and p.coeffs != doubled.coeffs
    x = p.sample_interior(20, torch.Generator().manual_seed(0))
    torch.testing.assert_close(doubled.exact(x), 2 * p.exact(x))
    torch.testing.assert_close(doubled.source(x), 2 * p.source(x))
    # tensors and arrays are accepted and stored as tuples of floats
    q = p.with_params(coeffs=torch.ones(3, dtype=DT))
    assert q.coeffs == (1.0, 1.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.coeffs = (0.0, 0.0, 0.0)


@pytest.mark.parametrize("p,changes,err,match", [
    (Poisson.two_body(4), {"coeffs": (1.0, 2.0)}, ValueError, r"coeffs must have dim - 1 = 3 entries.*got 2"),
    (Poisson.two_body(4), {"coeffs": 2 * (1.0, 2.0, 3.0)}, ValueError, r"2 \* tuple repeats the tuple"),
    (Poisson.two_body(4), {"dim": 5}, ValueError, r"coeffs must have dim - 1 = 4 entries.*two_body\(dim, seed\)"),
    (Poisson.two_body(4), {"coeffs": (1.0, float("inf"), 0.0)}, ValueError, r"coeffs must be finite"),
    (Poisson.two_body(4), {"coeffs": "abc"}, TypeError, r"coeffs must be a sequence of 3 numbers"),
    (Poisson.two_body(4), {"radius": 2.0}, ValueError,
     r"PoissonTwoBody.with_params: unknown parameter 'radius'; valid names: 'boundary_weight', 'sampler', 'dim', 'coeffs'"),
    (Poisson.two_body(4), {"sampler": "sobol"}, ValueError, r"unknown sampler 'sobol'; valid names: 'uniform', 'uniform-radius'"),
    (Poisson.two_body(4), {"boundary_weight": 1.0}, ValueError, r"boundary_weight must be 0 for a problem with a hard"),
    (Poisson.sine_cube(3), {"boundary_weight": -1.0}, ValueError, r"boundary_weight must be a finite number >= 0, got -1.0"),
    (Poisson.sine_cube(3), {"dim": 0}, ValueError, r"PoissonSineCube: dim must be an integer >= 1, got 0"),
    (AllenCahn.time(2), {"c": float("nan")}, ValueError, r"AllenCahnTime: c must be finite"),
    (AllenCahn.time(2), {"spatial_dim": 0}, ValueError, r"spatial_dim must be an integer >= 1"),
])
def test_with_params_validation(p, changes, err, match):
    with pytest.raises(err, match=match):
        p.with_params(**changes)


def test_two_body_needs_two_dimensions():
    with pytest.raises(ValueError, match=r"dim must be an integer >= 2, got 1"):
        Poisson.two_body(1)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, got -1"):
        AllenCahn.two_body(3, seed=-1)


def test_check_model():
    p = Poisson.two_body(10)
    p.check_model(KAN([10, 4, 1]))
    with pytest.raises(ValueError, match=r"PoissonTwoBody \(dim=10\): model.in_features must equal the problem "
                                         r"dimension 10, got 3; build the model with widths starting at 10"):
        p.check_model(KAN([3, 4, 1]))
    with pytest.raises(ValueError, match=r"model.out_features must be 1 .*got 2; end the model widths with 1"):
        p.check_model(MLP([10, 4, 2]))
    t = AllenCahn.time(2)
    t.check_model(KAN([3, 4, 1]))
    with pytest.raises(ValueError, match=r"AllenCahnTime \(dim=3\): model.in_features must equal the problem dimension 3, got 2"):
        t.check_model(KAN([2, 4, 1]))
    with pytest.raises(TypeError, match="model must expose in_features and out_features"):
        p.check_model(torch.nn.Tanh())


def test_derivatives_reject_mismatched_points():
    p = Poisson.two_body(3)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\), got \(4, 2\)"):
        p.derivatives(KAN([3, 2, 1]), torch.zeros(4, 2, dtype=DT))


def test_problems_are_deterministic():
    for p in (Poisson.two_body(4, seed=1), Poisson.sine_cube(3, sampler="halton"), AllenCahn.time(2)):
        a = p.sample_interior(64, torch.Generator().manual_seed(5))
        b = p.sample_interior(64, torch.Generator().manual_seed(5))
        assert torch.equal(a, b)
        assert torch.equal(p.exact(a), p.exact(b)) and torch.equal(p.source(a), p.source(b))
