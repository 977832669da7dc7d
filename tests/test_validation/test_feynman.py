"""Feynman equation registry: formulas against hand-computed values, finiteness over the published ranges,
names and aliases, data sets, and a short fitting run through the one training loop."""
import itertools
import math

import pytest
import torch

from pde_kan.validation.feynman import (FunctionFittingSuite, available_equations, dataset, feynman_config,
                                        get_equation, normalize_inputs, reference_backbones)

PI = math.pi


def evaluate(name, **values):
    eq = get_equation(name)
    assert set(values) == set(eq.variables), (name, eq.variables)
    x = torch.tensor([[float(values[v]) for v in eq.variables]], dtype=torch.float64)
    return float(eq(x))


# (equation, variables, value computed by hand)
HAND = [
    ("I.6.20a", dict(theta=1.0), math.exp(-0.5) / math.sqrt(2 * PI)),
    ("I.9.18", dict(m1=1, m2=2, G=1.5, x1=3, x2=1, y1=4, y2=2, z1=3, z2=2), 1.5 * 2 / (4 + 4 + 1)),
    ("I.16.6", dict(c=2, v=3, u=2), 5 / (1 + 6 / 4)),
    ("I.18.4", dict(m1=1, m2=3, r1=2, r2=4), (2 + 12) / 4),
    ("I.30.3", dict(Int_0=2, theta=PI / 3, n=2), 2 * 0.75 / 0.25),
    ("II.24.17", dict(omega=5, c=1, d=PI), math.sqrt(24)),
    ("III.9.52", dict(p_d=2, Ef=1.5, t=2, h=2 * PI, omega=3, omega_0=3), 6.0),  # sin(a)^2 / a^2 -> 1 at a = 0
    ("III.9.52", dict(p_d=1, Ef=1, t=1, h=2 * PI, omega=1 + PI, omega_0=1), 4 / PI ** 2),
    ("III.19.51", dict(m=1, q=1, h=2 * PI, n=1, epsilon=1 / (4 * PI)), -0.5),
    ("Goldstein 12.80", dict(m=1, omega=1, p=1, y=2, x=1, alpha=2), (1 + 1 * (1 + 2 * 1 / 2)) / 2),
    ("Jackson 2.11", dict(q=1, y=1, Volt=1, d=2, epsilon=1 / (4 * PI)), 2 - 2 / 9),
    ("Relativistic aberration", dict(c=4, v=2, theta2=PI / 2), 2 * PI / 3),
    ("Schwarz 13.132 (Klein-Nishina)", dict(omega=1, omega_0=1, alpha=1, h=1, m=1, c=1, beta=PI / 2), 1 / (4 * PI)),
]


@pytest.mark.parametrize("name,values,expected", HAND, ids=[f"{h[0]}-{i}" for i, h in enumerate(HAND)])
def test_formula_matches_hand_computed_value(name, values, expected):
    assert evaluate(name, **values) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_registry_holds_the_published_sets():
    assert len(available_equations("feynman")) == 100
    assert len(available_equations("bonus")) == 20
    assert len(available_equations("benchmark")) == 120
    names = available_equations()
    assert names[:3] == ["I.6.20a", "I.6.20", "I.6.20b"] and names[-1] == "test"
    # pykan's integer indices follow its table order
    assert [get_equation(i).name for i in (1, 5, 19, 60, 100, 101, 113, 120)] == [
        "I.6.20a", "I.9.18", "I.15.10", "II.10.9", "III.21.20", "Rutherford scattering", "Goldstein 12.80",
        "Schwarz 13.132 (Klein-Nishina)"]


def test_aliases_reach_the_canonical_equation():
    for alias, canonical in [("I.6.2a", "I.6.20a"), ("I.15.1", "I.15.10"), ("I.8.4", "I.8.14"),
                             ("I.18.16", "I.18.14"), ("I.10.9", "II.10.9"), ("test_1", "Rutherford scattering"),
                             ("test_17", "Goldstein 12.80"), ("Rutherforld scattering", "Rutherford scattering")]:
        assert get_equation(alias).name == canonical
    # pykan used 'I.18.4' twice; here it is the centre of mass, and the torque is I.18.12
    assert get_equation("I.18.4").variables == ("m1", "m2", "r1", "r2")
    assert get_equation("I.18.12").variables == ("r", "F", "theta")


def test_unknown_equation_and_bad_input_raise_clear_errors():
    with pytest.raises(ValueError, match=r"unknown equation 'I\.99\.9'; valid names: 'I\.6\.20a'"):
        get_equation("I.99.9")
    with pytest.raises(ValueError, match="no equation with index 121"):
        get_equation(121)
    eq = get_equation("I.12.11")
    with pytest.raises(ValueError, match=r"x must have shape \(N, 5\) with columns q, Ef, B, v, theta, got \(4, 3\)"):
        eq(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown group 'physics'"):
        available_equations("physics")


def test_every_formula_is_finite_over_its_ranges():
    g = torch.Generator().manual_seed(0)
    for name in available_equations():
        eq = get_equation(name)
        x = eq.sample(2000, g)
        lo, hi = eq.bounds()
        assert bool(((x >= lo) & (x <= hi)).all()), name
        corners = torch.tensor(list(itertools.islice(itertools.product(*eq.ranges), 512)), dtype=torch.float64)
        mids = ((lo + hi) / 2).unsqueeze(0)
        for pts in (x, corners, mids):
            y = eq(pts)
            assert y.shape == (pts.shape[0], 1)
            assert bool(torch.isfinite(y).all()), f"{name}: non-finite value in its sampling box"


def test_every_equation_has_consistent_metadata():
    for name in available_equations():
        eq = get_equation(name)
        assert len(eq.variables) == len(eq.ranges) == eq.n_vars >= 1
        assert len(set(eq.variables)) == eq.n_vars
        assert all(lo < hi for lo, hi in eq.ranges)
        assert eq.formula


def test_dataset_is_deterministic_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a = dataset("I.12.11", n_train=50, n_test=20, seed=3)
    b = dataset("I.12.11", n_train=50, n_test=20, seed=3)
    c = dataset("I.12.11", n_train=50, n_test=20, seed=4)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a.x_train, c.x_train)
    assert a.x_train.shape == (50, 5) and a.y_train.shape == (50, 1) and a.x_test.shape == (20, 5)
    assert torch.allclose(a.y_test, get_equation("I.12.11")(a.x_test))
    assert not torch.equal(a.x_train[:20], a.x_test)  # test points are fresh draws
    f32 = dataset("I.6.20a", n_train=10, n_test=10, seed=0, dtype="float32")
    assert f32.x_train.dtype == torch.float32 and f32.y_train.dtype == torch.float32


def test_inputs_are_mapped_onto_the_grid_range():
    eq = get_equation("I.15.3x")  # ranges x 5..10, u 1..2, c 3..20, t 1..2
    lo, hi = eq.bounds()
    x = torch.stack([lo, hi, (lo + hi) / 2])
    z = normalize_inputs(x, eq)
    assert torch.allclose(z, torch.tensor([[-1.0] * 4, [1.0] * 4, [0.0] * 4], dtype=torch.float64))


@pytest.mark.slow
def test_suite_fits_a_gaussian_and_reports_every_backbone():
    suite = FunctionFittingSuite(["I.6.20a"], n_train=100, n_test=100, seed=0)
    report = suite.run(reference_backbones(("kan", "metakan")), feynman_config(steps=4, device="cpu"))
    assert [r["backbone"] for r in report.rows] == ["kan", "metakan"]
    kan, meta = report.rows
    assert kan["status"] == meta["status"] == "ok"
    # KAN [1, 5, 5, 5, 1]: 5 + 25 + 25 + 5 edges with 8 spline coefficients and one base weight each
    assert kan["params"] == 60 * 9
    # MetaKAN: one embedding per edge and one shared hypernet 1 -> 16 -> 9
    assert meta["params"] == 60 + (2 * 16 + 17 * 9)
    assert kan["nrmse"] < 0.02, kan  # about 0.002 measured after 4 L-BFGS steps; 1.0 is a constant fit
    assert meta["nrmse"] < 0.1, meta
    std = float(dataset("I.6.20a", 100, 100, 0).y_test.std())
    assert kan["rmse"] == pytest.approx(kan["nrmse"] * std)


def test_suite_rejects_an_empty_equation_list():
    with pytest.raises(ValueError, match="equations is empty"):
        FunctionFittingSuite([])
    with pytest.raises(ValueError, match="unknown backbone 'resnet'"):
        reference_backbones(("resnet",))


def _elementwise(fn):
    return lambda t: fn(torch.as_tensor(t, dtype=torch.float64))


FORMULA_NAMESPACE = {name: _elementwise(fn) for name, fn in [
    ("exp", torch.exp), ("sqrt", torch.sqrt), ("sin", torch.sin), ("cos", torch.cos), ("tanh", torch.tanh),
    ("arcsin", torch.arcsin), ("arccos", torch.arccos), ("ln", torch.log)]}
FORMULA_NAMESPACE["pi"] = PI


def test_torch_formulas_agree_with_the_published_formula_text():
    """The published formula text (``formula``, csv syntax with ^ for powers) and the torch function are two
    transcriptions of each equation; they must agree everywhere in the sampling box."""
    g = torch.Generator().manual_seed(1)
    for name in available_equations():
        eq = get_equation(name)
        x = eq.sample(300, g)
        scope = dict(FORMULA_NAMESPACE, **dict(zip(eq.variables, x.unbind(1))))
        text = eq.formula.replace("^", "**")
        expected = eval(text, {"__builtins__": {}}, scope)  # noqa: S307 -- fixed text from the registry
        assert torch.allclose(eq(x)[:, 0], expected, rtol=1e-10, atol=1e-12), name
