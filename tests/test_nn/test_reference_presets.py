"""The reference MetaKAN code's KAN and MLP (for reproducing its PDE runs): parameter counts, initial statistics
against that code's formulas, jets, config round trips, and LoTRA's clear refusal of the scaled source."""
import math

import pytest
import torch

from pde_kan.diff import autograd_laplacian, laplacian
from pde_kan.nn import KAN, MLP, backbone_from_config
from pde_kan.nn.layer import ScaledDenseCoefficients


def points(n=12, d=4):
    g = torch.Generator().manual_seed(0)
    return (2 * torch.rand(n, d, generator=g, dtype=torch.float64) - 1) * 0.9


def test_reference_kan_counts_a_spline_scale_per_edge_and_starts_from_the_reference_statistics():
    n_in, n_out, n_basis = 64, 48, 8
    m = KAN.reference([n_in, n_out], seed=2)
    src = m.layers[0].source
    assert isinstance(src, ScaledDenseCoefficients) and m.config["init"] == "reference"
    assert m.n_parameters() == n_in * n_out * (n_basis + 2)
    # base: U(-1, 1) / sqrt(in); spline: N(0, (0.01 / sqrt(in * n_basis))^2); scale: N(1, 0.1^2)
    w = src.base_weight.detach()
    assert float(w.abs().max()) <= 1 / math.sqrt(n_in)
    assert math.isclose(float(w.std()), 1 / math.sqrt(3 * n_in), rel_tol=0.05)
    assert math.isclose(float(src.spline_weight.detach().std()), 0.01 / math.sqrt(n_in * n_basis), rel_tol=0.05)
    s = src.spline_scale.detach()
    assert math.isclose(float(s.mean()), 1.0, abs_tol=0.01) and math.isclose(float(s.std()), 0.1, rel_tol=0.05)
    c, w2 = src.coefficients()
    torch.testing.assert_close(c, src.spline_weight * src.spline_scale.unsqueeze(-1), rtol=0, atol=0)


@pytest.mark.parametrize("make", [lambda: KAN.reference([4, 7, 1], seed=1), lambda: MLP([4, 7, 1], init="reference")],
                         ids=["kan", "mlp"])
def test_reference_presets_have_exact_jets_and_rebuild_from_their_config(make):
    """``init="reference"`` names the reference code's initialisation on KAN, MetaKAN and MLP alike, so one flat
    settings mapping (validation suites) can ask every backbone for it."""
    m = make()
    x = points()
    lap = laplacian(m, x, "jet")
    torch.testing.assert_close(lap, autograd_laplacian(m, x)[1], rtol=1e-10, atol=1e-10)
    assert lap.abs().max() > 1e-6
    rebuilt = backbone_from_config(m.config)
    rebuilt.load_state_dict(m.state_dict())
    torch.testing.assert_close(rebuilt(x), m(x), rtol=0, atol=0)


def test_mlp_reference_init_is_nn_linears_uniform_and_glorot_stays_the_default():
    n_in = 50
    m = MLP([n_in, 200, 1], init="reference", seed=0)
    lin = m.layers[0]
    bound = 1 / math.sqrt(n_in)
    assert float(lin.weight.detach().abs().max()) <= bound and float(lin.bias.detach().abs().max()) <= bound
    assert math.isclose(float(lin.weight.detach().std()), bound / math.sqrt(3), rel_tol=0.05)
    assert float(lin.bias.detach().abs().max()) > 0
    glorot = MLP([n_in, 200, 1], seed=0).layers[0]
    assert float(glorot.bias.detach().abs().max()) == 0.0
    assert math.isclose(float(glorot.weight.detach().std()), math.sqrt(2 / 250), rel_tol=0.05)
    with pytest.raises(ValueError, match="init"):
        MLP([2, 3, 1], init="torch")
    with pytest.raises(ValueError, match="init"):
        KAN([2, 3, 1], init="efficient")


def test_lotra_refuses_the_scaled_source_with_a_clear_error():
    from pde_kan.transfer import inject_lotra

    with pytest.raises(TypeError, match="no LoTRA adapter for coefficient source ScaledDenseCoefficients"):
        inject_lotra(KAN.reference([3, 4, 1]))
