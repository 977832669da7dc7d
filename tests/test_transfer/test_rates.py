"""The per-component learning-rate rule: each component's first effective Adam step changes the layer output
by an amount independent of the width (slope of log change vs log width near 0), identical rates do not."""
import copy

import numpy as np
import pytest
import torch

from pde_kan import KAN
from pde_kan.transfer import LoTRAConfig, component_rates, inject_lotra
from pde_kan.transfer.rates import DENSE_EXPONENTS, EMBEDDING_EXPONENTS

WIDTHS = (32, 64, 128, 256, 512)
SEEDS = (0, 1, 2)


def rms(t):
    return float(t.pow(2).mean().sqrt())


def first_step_changes(base, x, target, rule, seed, lr=1e-3):
    """RMS change of the layer output caused by the core's first Adam step (step 1, the only component with a
    gradient while G = 0) and by each factor's first step with a nonzero gradient (step 2), one at a time."""
    model = inject_lotra(copy.deepcopy(base), LoTRAConfig(ranks=(4, 4, 3), lr_rule=rule, seed=seed))
    opt = torch.optim.Adam(model.param_groups(lr))
    comps = model.adapters()["layers.0"].delta.components()

    def step():
        opt.zero_grad()
        (0.5 * ((model(x) - target) ** 2).sum(1).mean()).backward()
        opt.step()

    with torch.no_grad():
        y0 = model(x)
    step()
    with torch.no_grad():
        y1 = model(x)
    out = {"core": rms(y1 - y0)}
    before = {k: v.detach().clone() for k, v in comps.items()}
    step()
    after = {k: v.detach().clone() for k, v in comps.items()}
    with torch.no_grad():
        for k in ("out", "in", "basis"):
            for name, p in comps.items():
                p.copy_(after[name] if name == k else before[name])
            out[k] = rms(model(x) - y1)
    return out


@pytest.fixture(scope="module")
def width_slopes():
    logs = {rule: {c: [] for c in ("core", "out", "in", "basis")} for rule in ("lotra", "uniform")}
    for n in WIDTHS:
        g = torch.Generator().manual_seed(123)
        base = KAN([n, n], grid_size=2, seed=0)
        x = torch.rand(32, n, generator=g, dtype=torch.float64) * 2 - 1
        target = torch.randn(32, n, generator=g, dtype=torch.float64)
        for rule in logs:
            runs = [first_step_changes(base, x, target, rule, s) for s in SEEDS]
            for c in logs[rule]:
                logs[rule][c].append(np.mean([np.log(r[c]) for r in runs]))
    x = np.log(WIDTHS)
    return {rule: {c: np.polyfit(x, v, 1)[0] for c, v in d.items()} for rule, d in logs.items()}


def test_lotra_rates_make_every_components_first_step_scale_free(width_slopes):
    slopes = width_slopes["lotra"]
    assert all(abs(s) < 0.2 for s in slopes.values()), slopes


def test_uniform_rates_are_not_scale_free(width_slopes):
    # derived: core and basis steps shrink like n^{-1/2}, the input factor's grows like n^{+1/2}
    s = width_slopes["uniform"]
    assert s["core"] < -0.35 and s["basis"] < -0.35 and s["in"] > 0.3, s
    assert abs(s["out"]) < 0.2, s  # the output factor's step is width-free under both rules


def test_rate_formulas_and_reference_width():
    r = component_rates("lotra", 1e-3, 64, 16, reference_width=16)
    assert r == pytest.approx({"core": 2e-3, "out": 5e-4, "in": 1e-3, "basis": 1e-3})
    r = component_rates("lotra", 1e-3, 64, 64, reference_width=16, ratios={"core": 3.0},
                        exponents=EMBEDDING_EXPONENTS)
    assert r == pytest.approx({"core": 3e-3 * 2 * 2, "out": 5e-4, "in": 5e-4, "basis": 1e-3})
    assert component_rates("uniform", 1e-3, 512, 7, ratios={"core": 9.0}) == {c: 1e-3 for c in DENSE_EXPONENTS}
    with pytest.raises(ValueError, match=r"unknown lr_rule 'muP'; valid names: 'lotra', 'uniform'"):
        component_rates("muP", 1e-3, 4, 4)
