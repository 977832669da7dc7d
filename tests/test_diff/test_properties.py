"""Property tests (hypothesis): B-spline identities on random grids, Tucker round trips, jets on random nets."""
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import spline_basis as _basis
from pde_kan.diff import autograd_laplacian, gradient, laplacian, pde_derivatives
from pde_kan.nn import BSplineBasis, available_backbones, get_backbone, hosvd, tucker_to_tensor
from pde_kan.nn.activations import ACTIVATIONS
from pde_kan.nn import CoefficientSource, TuckerCoefficients

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

grids = st.tuples(
    st.integers(1, 8),  # grid_size
    st.integers(1, 4),  # spline_order
    st.floats(-3, 3),  # low end
    st.floats(0.2, 5),  # width of the grid range
)


def _off_knots(basis, x, dist=1e-7):
    t = basis.knots(dtype=x.dtype)
    return x[(x.unsqueeze(-1) - t).abs().min(-1).values > dist]


@FAST
@given(grid=grids, seed=st.integers(0, 2**31 - 1))
def test_partition_of_unity_and_vanishing_derivative_sums(grid, seed):
    basis = _basis(grid)
    a, b = basis.grid_range
    x = a + (b - a) * torch.rand(64, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = torch.cat([x, torch.tensor([a, b], dtype=torch.float64)]).reshape(-1, 1)
    out = basis(x)
    torch.testing.assert_close(out.value.sum(-1), torch.ones_like(x), atol=1e-12, rtol=0)
    assert (out.value >= -1e-15).all()
    xi = _off_knots(basis, x[:, 0]).reshape(-1, 1)
    order = min(2, basis.spline_order)
    out = basis(xi, derivatives=order)
    h = basis.h
    torch.testing.assert_close(out.d1.sum(-1), torch.zeros_like(xi), atol=1e-9 / h, rtol=0)
    if order == 2:
        torch.testing.assert_close(out.d2.sum(-1), torch.zeros_like(xi), atol=1e-8 / h**2, rtol=0)


@FAST
@given(grid=grids, seed=st.integers(0, 2**31 - 1))
def test_derivative_is_difference_of_lower_order_splines(grid, seed):
    """On a uniform grid B'_{m,k} = (B_{m,k-1} - B_{m+1,k-1}) / h, with the order-(k-1) splines of the order-k
    knot vector: an order-(k-1) basis on a grid widened by one interval each side."""
    basis = _basis(grid)
    g, k = basis.grid_size, basis.spline_order
    a, b = basis.grid_range
    h = basis.h
    lower = BSplineBasis(g + 2, k - 1, (a - h, b + h))
    torch.testing.assert_close(lower.knots(), basis.knots(), atol=1e-12, rtol=0)
    margin = (k + 2) * h
    x = a - margin + (b - a + 2 * margin) * torch.rand(80, generator=torch.Generator().manual_seed(seed),
                                                       dtype=torch.float64)
    x = _off_knots(basis, x).reshape(-1, 1)
    lo = lower(x).value
    torch.testing.assert_close(basis(x, derivatives=1).d1, (lo[..., :-1] - lo[..., 1:]) / h,
                               atol=1e-10 / h, rtol=0)
    # B' against autograd: tests/test_nn/test_splines.py::test_derivatives_match_autograd (tighter tolerance)


shapes = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))


@FAST
@given(shape=shapes, data=st.data())
def test_tucker_round_trip(shape, data):
    ranks = tuple(data.draw(st.integers(1, d)) for d in shape)
    seed = data.draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    core = torch.randn(ranks, generator=g, dtype=torch.float64)
    factors = [torch.randn(d, r, generator=g, dtype=torch.float64) for d, r in zip(shape, ranks)]
    t = tucker_to_tensor(core, factors)  # multilinear rank <= ranks
    core2, factors2 = hosvd(t, ranks)
    assert core2.shape == ranks and [f.shape for f in factors2] == [(d, r) for d, r in zip(shape, ranks)]
    torch.testing.assert_close(tucker_to_tensor(core2, factors2), t, atol=1e-10 * (1 + t.abs().max()), rtol=0)
    full_core, full_factors = hosvd(t, shape)
    torch.testing.assert_close(tucker_to_tensor(full_core, full_factors), t, atol=1e-10 * (1 + t.abs().max()),
                               rtol=0)


@FAST
@given(shape=shapes, n=st.integers(1, 40), data=st.data())
def test_tucker_factored_contract_equals_materialised(shape, n, data):
    out_f, in_f, n_basis = shape
    ranks = tuple(data.draw(st.integers(1, d)) for d in shape)
    g = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1)))
    coeffs = TuckerCoefficients(in_f, out_f, n_basis, ranks=ranks, generator=g)
    features = torch.randn(n, in_f, n_basis + 1, generator=g, dtype=torch.float64)
    torch.testing.assert_close(coeffs.contract(features), CoefficientSource.contract(coeffs, features),
                               atol=1e-12, rtol=1e-10)


@st.composite
def architectures(draw):
    name = draw(st.sampled_from(available_backbones()))
    widths = draw(st.lists(st.integers(1, 5), min_size=2, max_size=4))
    widths[-1] = 1
    kw = {"seed": draw(st.integers(0, 1000))}
    if name == "mlp":
        kw["activation"] = draw(st.sampled_from(sorted(ACTIVATIONS)))
    else:
        kw["grid_size"] = draw(st.integers(1, 6))
        kw["spline_order"] = draw(st.integers(2, 4))
        low = draw(st.floats(-2, 0.5))
        kw["grid_range"] = (low, low + draw(st.floats(0.5, 3)))
        kw["base_activation"] = draw(st.sampled_from(["silu", "tanh", "sin"]))
    if name == "metakan":
        kw["embedding_dim"] = draw(st.integers(1, 3))
        kw["hyper_hidden"] = draw(st.integers(1, 8))
        kw["share_hypernet"] = draw(st.booleans())
    if name == "slimkan":
        n_basis = kw["grid_size"] + kw["spline_order"]
        kw["ranks"] = draw(st.one_of(st.floats(0.1, 1.0),
                                     st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, n_basis))))
    return name, widths, kw


@SLOW
@given(arch=architectures(), n=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
def test_jet_equals_autograd_on_random_architectures(arch, n, seed):
    name, widths, kw = arch
    m = get_backbone(name, widths, **kw)
    x = 6 * torch.rand(n, widths[0], generator=torch.Generator().manual_seed(seed), dtype=torch.float64) - 3
    _, lap_ref, grad_ref = (t.detach() for t in autograd_laplacian(m, x))
    scale = 1 + float(lap_ref.abs().max())
    torch.testing.assert_close(laplacian(m, x, "jet"), lap_ref, atol=1e-10 * scale, rtol=1e-10)
    torch.testing.assert_close(gradient(m, x), grad_ref, atol=1e-10 * (1 + float(grad_ref.abs().max())), rtol=1e-10)
    if widths[0] >= 2:  # the last coordinate as "time": spatial Laplacian over the others plus u_t
        fo = (widths[0] - 1,)
        jet = pde_derivatives(m, x, "jet", spatial_dim=widths[0] - 1, first_order=fo)
        ref = pde_derivatives(m, x, "autograd", spatial_dim=widths[0] - 1, first_order=fo)
        torch.testing.assert_close(jet.laplacian, ref.laplacian, atol=1e-10 * scale, rtol=1e-10)
        torch.testing.assert_close(jet.first, ref.first, atol=1e-10 * (1 + float(grad_ref.abs().max())), rtol=1e-10)
