"""Tucker tensors: reconstruction, HOSVD, Slim KAN initialisation and the factored contraction."""
import itertools
import math

import pytest
import torch

from pde_kan.nn import SlimKAN, hosvd, tucker_to_tensor
from pde_kan.nn.layer import CoefficientSource, DenseCoefficients, TuckerCoefficients
from pde_kan.nn.tucker import unfold


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_tucker_to_tensor_matches_explicit_loops():
    core = _rand(2, 3, 2, seed=1)
    factors = [_rand(4, 2, seed=2), _rand(3, 3, seed=3), _rand(5, 2, seed=4)]
    full = tucker_to_tensor(core, factors)
    assert full.shape == (4, 3, 5)
    ref = torch.zeros(4, 3, 5, dtype=torch.float64)
    for i, j, k in itertools.product(range(4), range(3), range(5)):
        for a, b, c in itertools.product(range(2), range(3), range(2)):
            ref[i, j, k] += core[a, b, c] * factors[0][i, a] * factors[1][j, b] * factors[2][k, c]
    torch.testing.assert_close(full, ref, atol=1e-13, rtol=0)


def test_unfold_mode_rows():
    t = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4)
    assert torch.equal(unfold(t, 0)[1], t[1].reshape(-1))
    assert torch.equal(unfold(t, 1)[2], t[:, 2].reshape(-1))
    assert torch.equal(unfold(t, 2)[3], t[:, :, 3].reshape(-1))


@pytest.mark.parametrize("shape", [(4, 3, 5), (6, 6, 8), (1, 7, 2)])
def test_hosvd_full_ranks_reconstructs_exactly(shape):
    t = _rand(*shape, seed=5)
    core, factors = hosvd(t, shape)
    assert core.shape == shape
    for u, d in zip(factors, shape):  # orthonormal columns
        torch.testing.assert_close(u.T @ u, torch.eye(u.shape[1], dtype=torch.float64), atol=1e-12, rtol=0)
        assert u.shape[0] == d
    torch.testing.assert_close(tucker_to_tensor(core, factors), t, atol=1e-12, rtol=0)


def test_hosvd_recovers_a_low_multilinear_rank_tensor():
    ranks = (2, 3, 2)
    t = tucker_to_tensor(_rand(*ranks, seed=6), [_rand(5, 2, seed=7), _rand(6, 3, seed=8), _rand(8, 2, seed=9)])
    core, factors = hosvd(t, ranks)
    assert core.shape == ranks
    torch.testing.assert_close(tucker_to_tensor(core, factors), t, atol=1e-11, rtol=0)
    # one rank below the multilinear rank cannot be exact
    core, factors = hosvd(t, (2, 2, 2))
    assert (tucker_to_tensor(core, factors) - t).norm() > 1e-3 * t.norm()


def test_slimkan_init_variance_matches_dense_init():
    """Var(C) of a Slim KAN layer equals the dense init's init_scale^2 / in.

    With orthonormal factors ``sum_ijk C_ijk^2 = ||G||_F^2`` exactly, and the core is i.i.d. N(0, s^2) with
    ``s^2 = var * prod(dims) / prod(ranks)``. So ``mean(C^2) / var = chi2(R) / R`` with ``R = prod(ranks)``:
    mean 1, standard deviation ``sqrt(2 / R)``. Pooling S seeds gives ``chi2(S R) / (S R)``; the test allows
    5 standard deviations (a false alarm has probability < 1e-6).
    """
    out_f, in_f, n_basis, ranks, scale = 32, 24, 8, (8, 6, 4), 0.1
    var = scale**2 / in_f
    seeds = range(12)
    sq = [TuckerCoefficients(in_f, out_f, n_basis, ranks=ranks, init_scale=scale,
                             generator=torch.Generator().manual_seed(s)).coefficients()[0].pow(2).mean()
          for s in seeds]
    ratio = float(torch.stack(sq).mean().detach()) / var
    sd = math.sqrt(2.0 / (len(seeds) * math.prod(ranks)))
    assert abs(ratio - 1) < 5 * sd, (ratio, sd)
    # the dense reference: chi2(S * out * in * n_basis) / (S * out * in * n_basis)
    dense = [DenseCoefficients(in_f, out_f, n_basis, init_scale=scale,
                               generator=torch.Generator().manual_seed(s)).coefficients()[0].pow(2).mean()
             for s in seeds]
    dense_ratio = float(torch.stack(dense).mean().detach()) / var
    assert abs(dense_ratio - 1) < 5 * math.sqrt(2.0 / (len(seeds) * out_f * in_f * n_basis))
    # the Frobenius identity the bound rests on, checked directly
    coeffs = TuckerCoefficients(in_f, out_f, n_basis, ranks=ranks, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(coeffs.coefficients()[0].pow(2).sum(), coeffs.core.pow(2).sum(), rtol=1e-12, atol=0)


def test_slimkan_base_weight_init_matches_dense():
    in_f = 50
    t = TuckerCoefficients(in_f, 40, 8, ranks=(4, 4, 4), generator=torch.Generator().manual_seed(0))
    var = float(t.base_weight.detach().pow(2).mean()) * in_f  # chi2(2000)/2000: sd 0.032
    assert abs(var - 1) < 5 * math.sqrt(2 / 2000)


@pytest.mark.parametrize("n", [1, 7, 200])
@pytest.mark.parametrize("shape,ranks", [((16, 12, 8), (3, 2, 2)), ((5, 9, 8), (5, 9, 8)), ((64, 64, 8), (8, 8, 4))])
def test_factored_contract_equals_materialised(shape, ranks, n):
    out_f, in_f, n_basis = shape
    t = TuckerCoefficients(in_f, out_f, n_basis, ranks=ranks, generator=torch.Generator().manual_seed(1))
    features = _rand(n, in_f, n_basis + 1, seed=2)
    materialised = CoefficientSource.contract(t, features)
    torch.testing.assert_close(t.contract(features), materialised, atol=1e-12, rtol=1e-12)
    c, w = t.coefficients()  # and both agree with the definition y_j = sum_i w_ji f_i0 + sum_im C_jim f_im
    ref = torch.einsum("ni,oi->no", features[..., 0], w) + torch.einsum("nim,oim->no", features[..., 1:], c)
    torch.testing.assert_close(materialised, ref, atol=1e-12, rtol=1e-12)


def test_both_contraction_paths_are_exercised():
    small = TuckerCoefficients(64, 64, 8, ranks=(4, 4, 2), generator=torch.Generator().manual_seed(0))
    full = TuckerCoefficients(5, 9, 8, ranks=(9, 5, 8), generator=torch.Generator().manual_seed(0))
    assert small.factored_is_cheaper(100)
    assert not full.factored_is_cheaper(100)


def test_slimkan_at_full_rank_equals_kan_with_its_coefficients():
    from pde_kan.nn import KAN

    widths = [3, 5, 1]
    slim = SlimKAN(widths, ranks=(8, 8, 8), seed=3)
    kan = KAN(widths, seed=4)
    with torch.no_grad():
        for ls, lk in zip(slim.layers, kan.layers):
            c, w = ls.source.coefficients()
            lk.source.spline_weight.copy_(c)
            lk.source.base_weight.copy_(w)
    x = _rand(11, 3, seed=5)
    torch.testing.assert_close(slim(x), kan(x), atol=1e-12, rtol=1e-12)
