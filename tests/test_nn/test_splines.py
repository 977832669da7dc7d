"""BSplineBasis against scipy's B-splines, autograd and finite differences (float64)."""
import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from pde_kan.nn import BSplineBasis

CASES = [  # (grid_size, spline_order, grid_range)
    (5, 3, (-1.0, 1.0)),
    (4, 2, (0.0, 3.0)),
    (7, 1, (-2.0, 0.5)),
    (3, 4, (-1.0, 1.0)),
    (6, 0, (-1.0, 1.0)),
]


def _points(basis, n=400, margin=None, seed=0):
    """Random points covering the extended support and beyond: ``(n,)`` float64."""
    a, b = basis.grid_range
    k, h = basis.spline_order, basis.h
    margin = (k + 1) * h if margin is None else margin
    g = torch.Generator().manual_seed(seed)
    return a - margin + (b - a + 2 * margin) * torch.rand(n, generator=g, dtype=torch.float64)


def _scipy_basis(basis, x, nu=0):
    """Reference ``(len(x), n_basis)``: one scipy ``BSpline.basis_element`` per basis function, 0 off-support."""
    t = basis.knots().numpy()
    k = basis.spline_order
    cols = []
    for m in range(basis.n_basis):
        elem = BSpline.basis_element(t[m:m + k + 2], extrapolate=False)
        cols.append(np.nan_to_num(elem(x, nu=nu) if nu else elem(x), nan=0.0))
    return np.stack(cols, axis=-1)


def _away_from_knots(basis, x, dist):
    t = basis.knots()
    return x[(x.unsqueeze(-1) - t).abs().min(-1).values > dist]


@pytest.mark.parametrize("grid_size,spline_order,grid_range", CASES)
def test_n_basis_knots_and_shapes(grid_size, spline_order, grid_range):
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    assert basis.n_basis == grid_size + spline_order
    a, b = grid_range
    h = (b - a) / grid_size
    t = basis.knots()
    assert t.shape == (grid_size + 2 * spline_order + 1,)
    torch.testing.assert_close(t[spline_order], torch.tensor(a, dtype=torch.float64))
    torch.testing.assert_close(t[spline_order + grid_size], torch.tensor(b, dtype=torch.float64))
    torch.testing.assert_close(t.diff(), torch.full((t.numel() - 1,), h, dtype=torch.float64))
    x = torch.zeros(7, 3, dtype=torch.float64)
    out = basis(x, derivatives=min(2, spline_order))
    assert out.value.shape == (7, 3, basis.n_basis)
    if spline_order >= 1:
        assert out.d1.shape == (7, 3, basis.n_basis)
    else:
        assert out.d1 is None
    if spline_order >= 2:
        assert out.d2.shape == (7, 3, basis.n_basis)
    assert basis(x).d1 is None and basis(x).d2 is None


@pytest.mark.parametrize("grid_size,spline_order,grid_range", CASES)
def test_values_match_scipy(grid_size, spline_order, grid_range):
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    x = _points(basis)
    if spline_order == 0:  # scipy and pde_kan may disagree on which side of a knot a step belongs to
        x = _away_from_knots(basis, x, 1e-9)
    ours = basis(x.reshape(-1, 2) if x.numel() % 2 == 0 else x.reshape(-1, 1)).value.reshape(-1, basis.n_basis)
    ref = _scipy_basis(basis, x.numpy())
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-13, rtol=0)


@pytest.mark.parametrize("grid_size,spline_order,grid_range", [c for c in CASES if c[1] >= 1])
def test_derivatives_match_scipy(grid_size, spline_order, grid_range):
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    x = _away_from_knots(basis, _points(basis, seed=1), 1e-9)
    order = min(2, spline_order)
    out = basis(x.unsqueeze(-1), derivatives=order)
    np.testing.assert_allclose(out.d1[:, 0].numpy(), _scipy_basis(basis, x.numpy(), nu=1), atol=1e-11, rtol=0)
    if order == 2:
        np.testing.assert_allclose(out.d2[:, 0].numpy(), _scipy_basis(basis, x.numpy(), nu=2), atol=1e-9, rtol=0)


@pytest.mark.parametrize("grid_size,spline_order,grid_range", [c for c in CASES if c[1] >= 1])
def test_derivatives_match_autograd(grid_size, spline_order, grid_range):
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    # the recursion is piecewise polynomial in x; stay off the knots where one-sided limits differ
    x = _away_from_knots(basis, _points(basis, n=200, seed=2), 1e-9).reshape(-1, 1).requires_grad_(True)
    order = min(2, spline_order)
    out = basis(x, derivatives=order)
    for m in range(basis.n_basis):
        (g1,) = torch.autograd.grad(out.value[:, 0, m].sum(), x, create_graph=True)
        torch.testing.assert_close(out.d1[:, 0, m], g1[:, 0], atol=1e-12, rtol=1e-12)
        if order == 2:
            (g2,) = torch.autograd.grad(g1.sum(), x, retain_graph=True)
            torch.testing.assert_close(out.d2[:, 0, m], g2[:, 0], atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("grid_size,spline_order,grid_range", [c for c in CASES if c[1] >= 1])
def test_derivatives_match_central_differences(grid_size, spline_order, grid_range):
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    eps = 1e-6
    # central differences are exact up to O(eps^2) only when [x - eps, x + eps] holds no knot
    x = _away_from_knots(basis, _points(basis, n=300, seed=3), 10 * eps).reshape(-1, 1)
    fd1 = (basis(x + eps).value - basis(x - eps).value) / (2 * eps)
    out = basis(x, derivatives=min(2, spline_order))
    scale = 1.0 / basis.h
    # truncation eps^2 * |B'''| / 6 <= eps^2 / h^3, rounding ~ 1e-16 / eps
    torch.testing.assert_close(out.d1, fd1, atol=1e-8 * scale, rtol=0)
    if spline_order >= 2:
        fd2 = (basis(x + eps, derivatives=1).d1 - basis(x - eps, derivatives=1).d1) / (2 * eps)
        torch.testing.assert_close(out.d2, fd2, atol=1e-7 * scale**2, rtol=0)


@pytest.mark.parametrize("grid_size,spline_order,grid_range", CASES)
def test_partition_of_unity_on_grid_range(grid_size, spline_order, grid_range):
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    a, b = grid_range
    inside = _points(basis, margin=0.0, seed=4)
    knots = torch.linspace(a, b, grid_size + 1, dtype=torch.float64)
    # order 0 uses half-open cells [t_m, t_{m+1}), so the right end b is covered only for order >= 1
    x = torch.cat([inside, knots if spline_order >= 1 else knots[:-1]]).reshape(-1, 1)
    out = basis(x, derivatives=min(2, spline_order))
    torch.testing.assert_close(out.value.sum(-1), torch.ones_like(x), atol=1e-13, rtol=0)
    assert (out.value >= -1e-15).all()
    # the derivatives of a constant sum vanish; at a knot (in particular at b, where the basis function that
    # starts at b is missing) a derivative of order k is one-sided and need not, so test off the knots
    xi = _away_from_knots(basis, inside, 1e-9).reshape(-1, 1)
    out = basis(xi, derivatives=min(2, spline_order))
    if spline_order >= 1:
        torch.testing.assert_close(out.d1.sum(-1), torch.zeros_like(xi), atol=1e-10, rtol=0)
    if spline_order >= 2:
        torch.testing.assert_close(out.d2.sum(-1), torch.zeros_like(xi), atol=1e-8, rtol=0)


@pytest.mark.parametrize("grid_size,spline_order,grid_range", CASES)
def test_zero_outside_extended_support(grid_size, spline_order, grid_range):
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    a, b = grid_range
    k, h = spline_order, basis.h
    g = torch.Generator().manual_seed(5)
    u = torch.rand(100, generator=g, dtype=torch.float64)
    left = a - k * h - 1e-9 - 3 * u
    right = b + k * h + 3 * u  # the support is half-open: B vanishes at b + k h itself
    x = torch.cat([left, right, torch.tensor([b + k * h, -1e6, 1e6], dtype=torch.float64)]).reshape(-1, 1)
    out = basis(x, derivatives=min(2, spline_order))
    assert torch.count_nonzero(out.value) == 0
    for d in (out.d1, out.d2):
        if d is not None:
            assert torch.count_nonzero(d) == 0
    # and just inside the support something is non-zero, so the check above can fail
    near = torch.tensor([[a - k * h + 1e-3], [b + k * h - 1e-3]], dtype=torch.float64)
    assert (basis(near).value.sum(-1) > 0).all()


@pytest.mark.parametrize("spline_order,derivatives", [(0, 1), (0, 2), (1, 2)])
def test_derivative_order_above_spline_order_explains(spline_order, derivatives):
    basis = BSplineBasis(5, spline_order)
    x = torch.zeros(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=rf"derivative order {derivatives} requested with "
                                         rf"spline_order={spline_order}.*zero almost everywhere.*spline_order >= 3"):
        basis(x, derivatives=derivatives)


def test_derivatives_argument_out_of_range():
    basis = BSplineBasis()
    with pytest.raises(ValueError, match=r"derivatives must be 0, 1 or 2, got 3"):
        basis(torch.zeros(2, 1, dtype=torch.float64), derivatives=3)


def test_float32_matches_float64():
    basis = BSplineBasis(5, 3)
    x = _points(basis, seed=6).reshape(-1, 4)
    out64 = basis(x, derivatives=2)
    out32 = basis(x.float(), derivatives=2)
    assert out32.value.dtype == torch.float32 and out32.d2.dtype == torch.float32
    torch.testing.assert_close(out32.value.double(), out64.value, atol=1e-5, rtol=0)
    torch.testing.assert_close(out32.d2.double(), out64.d2, atol=1e-3, rtol=1e-4)
