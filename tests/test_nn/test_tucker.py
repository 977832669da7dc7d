"""Tucker tensors: reconstruction, HOSVD, Slim KAN initialisation and the factored contraction."""
import itertools
import math

import pytest
import torch

from pde_kan.nn import SlimKAN, hosvd, tucker_to_tensor
from pde_kan.nn import CoefficientSource, DenseCoefficients, TuckerCoefficients
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


# --- the one Tucker module and the one rank resolver -----------------------------------------------------------
def test_resolve_ranks_specs_and_clipping():
    from pde_kan.nn import resolve_ranks
    assert resolve_ranks((2, 3, 4), (5, 6, 8)) == (2, 3, 4)
    assert resolve_ranks(3, (5, 6, 8)) == (3, 3, 3)  # an integer is a rank in every mode, never a fraction
    assert resolve_ranks(1, (5, 6, 8)) == (1, 1, 1)
    assert resolve_ranks(0.5, (5, 6, 8)) == (2, 3, 4)  # max(1, round(f * d)), Python's rounding
    assert resolve_ranks(0.01, (5, 6, 8)) == (1, 1, 1)
    assert resolve_ranks(1.0, (5, 6, 8)) == (5, 6, 8)
    assert resolve_ranks((9, 9, 9), (5, 6, 8), clip=True) == (5, 6, 8)
    assert resolve_ranks((9, 9, 4), (5, 6, 8), clip=(True, True, False)) == (5, 6, 4)
    with pytest.raises(ValueError, match=r"X: ranks r_basis=9 must be between 1 and the tensor's dimension 8 of "
                                         r"layer 'layers.0' \(tensor shape \(5, 6, 8\)\); set y"):
        resolve_ranks((9, 9, 9), (5, 6, 8), clip=(True, True, False), owner="X", where=" of layer 'layers.0'",
                      fix="set y")
    with pytest.raises(ValueError, match=r"Tucker: ranks r_out=9 must be between 1 and the tensor's dimension 5"):
        resolve_ranks((9, 1, 1), (5, 6, 8))
    with pytest.raises(ValueError, match=r"Tucker: ranks as a fraction must lie in \(0, 1\], got nan"):
        resolve_ranks(math.nan, (5, 6, 8))
    with pytest.raises(TypeError, match=r"Tucker: ranks r_in must be an integer >= 1, got 2.5"):
        resolve_ranks((2, 2.5, 2), (5, 6, 8))
    with pytest.raises(ValueError, match=r"Tucker: ranks must be three integers \(r_out, r_in, r_basis\), got True"):
        resolve_ranks(True, (5, 6, 8))
    with pytest.raises(ValueError, match=r"Tucker: ranks must be an integer >= 1, got 0"):
        resolve_ranks(0, (5, 6, 8))


def test_slimkan_integer_rank_is_a_rank_in_every_mode():
    layers = SlimKAN([3, 6, 1], ranks=2).layers
    assert [layer.source.ranks for layer in layers] == [(2, 2, 2), (1, 2, 2)]


def test_tucker_random_init_orthonormal_factors_with_positive_r_diagonal():
    from pde_kan.nn import Tucker
    t = Tucker((7, 5, 8), (3, 4, 2), core_std=0.3, generator=torch.Generator().manual_seed(2))
    assert [name for name, _ in t.named_parameters()] == ["u_out", "u_in", "u_basis", "core"]
    for u in t.factors():
        torch.testing.assert_close(u.T @ u, torch.eye(u.shape[1], dtype=torch.float64), atol=1e-12, rtol=0)
    # the signs were fixed against the Gaussian each factor came from: recompute them from the same draws
    g = torch.Generator().manual_seed(2)
    for u, (d, r) in zip(t.factors(), [(7, 3), (5, 4), (8, 2)]):
        a = torch.randn(d, r, generator=g, dtype=torch.float64)
        assert (torch.diagonal(u.detach().T @ a) > 0).all()  # R = Q^T A has a positive diagonal
    # and the tensor is G x_n Q_n with LAPACK's own Q_n (the core carries the signs): Slim KAN's numbers before
    g = torch.Generator().manual_seed(2)
    raw = [torch.linalg.qr(torch.randn(d, r, generator=g, dtype=torch.float64))[0] for d, r in [(7, 3), (5, 4), (8, 2)]]
    core = torch.randn(3, 4, 2, generator=g, dtype=torch.float64) * 0.3
    assert torch.equal(t.to_tensor(), tucker_to_tensor(core, raw))


def test_tucker_zero_core_and_hosvd_inits():
    from pde_kan.nn import Tucker
    z = Tucker((6, 4, 9), (2, 3, 3), init="zero_core", generator=torch.Generator().manual_seed(0),
               dtype=torch.float32, init_dtype=torch.float64)
    assert z.core.dtype == torch.float32 and not z.core.any() and not z.to_tensor().any()
    g = torch.Generator().manual_seed(0)  # factors drawn and orthonormalised in float64, then cast
    q = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))
    signs = torch.sign(torch.diagonal(q[1]))
    assert torch.equal(z.u_out, (q[0] * signs).float())
    t = _rand(5, 6, 8, seed=3)
    h = Tucker((5, 6, 8), (5, 6, 8), init="hosvd", tensor=t)
    torch.testing.assert_close(h.to_tensor(), t, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match=r"Tucker: pass tensor= exactly when init='hosvd'"):
        Tucker((5, 6, 8), (2, 2, 2), init="hosvd")
    with pytest.raises(ValueError, match=r"Tucker: tensor must have shape \(5, 6, 7\), got \(5, 6, 8\)"):
        Tucker((5, 6, 7), (2, 2, 2), init="hosvd", tensor=t)
    with pytest.raises(ValueError, match=r"Tucker: unknown init 'orthogonal'; valid names"):
        Tucker((5, 6, 8), (2, 2, 2), init="orthogonal")


@pytest.mark.parametrize("skip", [0, 1, 2])
def test_tucker_factored_contraction_equals_materialised(skip):
    from pde_kan.nn import Tucker
    t = Tucker((7, 5, 8), (3, 4, 2), generator=torch.Generator().manual_seed(1))
    feats = _rand(11, 5, skip + 8, seed=2)
    ref = torch.einsum("nim,oim->no", feats[..., skip:], t.to_tensor())
    torch.testing.assert_close(t(feats, skip=skip), ref, atol=1e-12, rtol=1e-12)
    add = _rand(11, 7, seed=3)
    torch.testing.assert_close(t(feats, skip=skip, add=add), ref + add, atol=1e-12, rtol=1e-12)
    index = torch.tensor([4, 0])
    assert torch.equal(t.to_tensor(index), tucker_to_tensor(t.core, [t.u_out, t.u_in[index], t.u_basis]))


def test_contraction_is_chosen_by_the_caller_and_kept_in_the_config():
    m = SlimKAN([3, 4, 1], contraction="factored")
    assert m.config["contraction"] == "factored"
    assert all(layer.source.contraction == "factored" for layer in m.layers)
    assert type(m).from_config(m.config).layers[0].source.contraction == "factored"
    x = _rand(5, 3, seed=1)
    ref = SlimKAN([3, 4, 1], contraction="materialized")
    torch.testing.assert_close(m(x), ref(x), atol=1e-13, rtol=1e-13)
    with pytest.raises(ValueError, match=r"SlimKAN: unknown contraction 'dense'; valid names"):
        SlimKAN([3, 4, 1], contraction="dense")
    with pytest.raises(ValueError, match=r"SlimKAN: unknown contraction 'fast'"):
        TuckerCoefficients(3, 4, 8, ranks=(2, 2, 2), contraction="fast")
