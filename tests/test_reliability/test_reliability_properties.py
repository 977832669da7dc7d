"""Property tests (hypothesis) complementing tests/test_diff/test_properties.py.

That file covers partition of unity, vanishing derivative sums, B' as a difference of lower-order splines and
against autograd, HOSVD round trips, factored Tucker contraction, and jet Laplacian / gradient / first-order
terms against autograd on random architectures. Here: B'' against double autograd and as a second difference,
local support and continuity at the knots, mirror symmetry; HOSVD orthonormality, all-orthogonality, its
truncation error bound and Tucker gauge invariance; jets along arbitrary orthonormal frames, parameter gradients
of a jet Laplacian loss against autograd, and jets through LoTRA adapters.
"""
import math

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import spline_basis as _basis
from pde_kan.diff import Dense, autograd_laplacian, forward_jet, laplacian
from pde_kan.nn import BSplineBasis, get_backbone, hosvd, tucker_to_tensor
from pde_kan.nn.tucker import unfold
from pde_kan.transfer import LoTRAConfig, inject_lotra

F64 = torch.float64
FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])

grids = st.tuples(st.integers(1, 7), st.integers(2, 4), st.floats(-3, 3), st.floats(0.2, 5))
seeds = st.integers(0, 2**31 - 1)


def _uniform(n, lo, hi, seed):
    return lo + (hi - lo) * torch.rand(n, generator=torch.Generator().manual_seed(seed), dtype=F64)


def _off_knots(basis, x, dist=1e-6):
    t = basis.knots(dtype=x.dtype)
    return x[(x.unsqueeze(-1) - t).abs().min(-1).values > dist * basis.h]


@FAST
@given(grid=grids, seed=seeds)
def test_second_derivative_matches_double_autograd_and_second_difference(grid, seed):
    """``B''_{m,k} = (B_{m,k-2} - 2 B_{m+1,k-2} + B_{m+2,k-2}) / h^2`` and equals autograd of autograd."""
    basis = _basis(grid)
    g, k = basis.grid_size, basis.spline_order
    a, b = basis.grid_range
    h = basis.h
    x = _off_knots(basis, _uniform(60, a - (k + 1) * h, b + (k + 1) * h, seed)).reshape(-1, 1)
    d2 = basis(x, derivatives=2).d2
    lo = BSplineBasis(g + 4, k - 2, (a - 2 * h, b + 2 * h))(x).value
    torch.testing.assert_close(d2, (lo[..., :-2] - 2 * lo[..., 1:-1] + lo[..., 2:]) / h**2, atol=1e-9 / h**2, rtol=0)
    xr = x.clone().requires_grad_(True)
    val = basis(xr).value
    auto = []
    for m in range(basis.n_basis):
        (g1,) = torch.autograd.grad(val[..., m].sum(), xr, create_graph=True)
        (g2,) = torch.autograd.grad(g1.sum(), xr, retain_graph=True) if g1.requires_grad else (torch.zeros_like(x),)
        auto.append(g2)
    torch.testing.assert_close(d2, torch.stack(auto, -1), atol=1e-8 / h**2, rtol=1e-9)


@FAST
@given(grid=st.tuples(st.integers(1, 7), st.integers(0, 4), st.floats(-3, 3), st.floats(0.2, 5)), seed=seeds)
def test_local_support(grid, seed):
    """``B_m`` vanishes outside ``[t_m, t_{m+k+1})``: at most ``k + 1`` non-zero functions at any point, none
    beyond the extended grid ``[a - k h, b + k h]``."""
    basis = _basis(grid)
    k, h = basis.spline_order, basis.h
    a, b = basis.grid_range
    t = basis.knots()
    x = _uniform(80, a - (k + 2) * h, b + (k + 2) * h, seed)
    v = basis(x.reshape(-1, 1)).value[:, 0, :]
    m = torch.arange(basis.n_basis)
    outside = (x.unsqueeze(-1) < t[m]) | (x.unsqueeze(-1) >= t[m + k + 1])
    assert (v[outside] == 0).all()
    assert ((v != 0).sum(-1) <= k + 1).all()
    far = (x < a - k * h) | (x >= b + k * h)
    assert (v[far] == 0).all()


@FAST
@given(grid=grids, knot=st.data())
def test_continuity_at_interior_knots(grid, knot):
    """Order-k splines are C^(k-1): value and first derivative are continuous across every knot."""
    basis = _basis(grid)
    k, h = basis.spline_order, basis.h
    t = basis.knots()
    j = knot.draw(st.integers(1, len(t) - 2))
    eps = 1e-7 * h
    x = torch.tensor([[float(t[j]) - eps], [float(t[j]) + eps]], dtype=F64)
    out = basis(x, derivatives=1)
    torch.testing.assert_close(out.value[0], out.value[1], atol=1e-6, rtol=0)
    if k >= 2:
        torch.testing.assert_close(out.d1[0], out.d1[1], atol=1e-6 / h, rtol=0)


@FAST
@given(grid=grids, seed=seeds)
def test_mirror_symmetry(grid, seed):
    """``B_m(a + b - x) = B_{n-1-m}(x)`` on a uniform grid; derivatives change sign with each order."""
    basis = _basis(grid)
    a, b = basis.grid_range
    k, h = basis.spline_order, basis.h
    x = _off_knots(basis, _uniform(50, a - k * h, b + k * h, seed)).reshape(-1, 1)
    mirrored = (a + b) - x
    keep = _off_knots(basis, mirrored[:, 0]).numel() == mirrored.shape[0]
    if not keep:
        return
    p, q = basis(x, derivatives=2), basis(mirrored, derivatives=2)
    torch.testing.assert_close(q.value, p.value.flip(-1), atol=1e-11, rtol=0)
    torch.testing.assert_close(q.d1, -p.d1.flip(-1), atol=1e-9 / h, rtol=0)
    torch.testing.assert_close(q.d2, p.d2.flip(-1), atol=1e-8 / h**2, rtol=0)


shapes = st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6))


@FAST
@given(shape=shapes, data=st.data())
def test_hosvd_orthonormal_all_orthogonal_and_error_bound(shape, data):
    """HOSVD: orthonormal factors, an all-orthogonal core (untruncated), and the truncation bound
    ``||T - T_hat||^2 <= sum over modes of the discarded squared singular values of each unfolding``."""
    ranks = tuple(data.draw(st.integers(1, d)) for d in shape)
    g = torch.Generator().manual_seed(data.draw(seeds))
    t = torch.randn(shape, generator=g, dtype=F64)
    core, factors = hosvd(t, ranks)
    for u, r in zip(factors, ranks):
        torch.testing.assert_close(u.T @ u, torch.eye(r, dtype=F64), atol=1e-10, rtol=0)
    # untruncated, the core is all-orthogonal: each unfolding's Gram matrix is diag(mode-n singular values^2)
    full = tuple(min(d, math.prod(shape) // d) for d in shape)
    full_core, _ = hosvd(t, full)
    for mode in range(3):
        gram = unfold(full_core, mode) @ unfold(full_core, mode).T
        sigma2 = torch.linalg.svdvals(unfold(t, mode))[: full[mode]] ** 2
        torch.testing.assert_close(gram, torch.diag(sigma2), atol=1e-9 * (1 + float(sigma2.max())), rtol=0)
    err = float(((t - tucker_to_tensor(core, factors)) ** 2).sum())
    bound = sum(float((torch.linalg.svdvals(unfold(t, mode))[r:] ** 2).sum()) for mode, r in enumerate(ranks))
    assert err <= bound * (1 + 1e-9) + 1e-20


@FAST
@given(shape=shapes, data=st.data())
def test_tucker_gauge_invariance(shape, data):
    """``G x_n R`` with factor ``U_n R^{-1}`` is the same tensor: only the product is identifiable."""
    ranks = tuple(data.draw(st.integers(1, d)) for d in shape)
    g = torch.Generator().manual_seed(data.draw(seeds))
    core = torch.randn(ranks, generator=g, dtype=F64)
    factors = [torch.randn(d, r, generator=g, dtype=F64) for d, r in zip(shape, ranks)]
    mode = data.draw(st.integers(0, 2))
    r = ranks[mode]
    gauge = torch.eye(r, dtype=F64) + 0.3 * torch.randn(r, r, generator=g, dtype=F64)
    new_core = torch.movedim(torch.tensordot(gauge, torch.movedim(core, mode, 0), dims=1), 0, mode)
    new_factors = list(factors)
    new_factors[mode] = factors[mode] @ torch.linalg.inv(gauge)
    t = tucker_to_tensor(core, factors)
    torch.testing.assert_close(tucker_to_tensor(new_core, new_factors), t, atol=1e-8 * (1 + float(t.abs().max())),
                               rtol=1e-8)


@st.composite
def small_kans(draw):
    name = draw(st.sampled_from(["kan", "metakan", "slimkan"]))
    widths = [draw(st.integers(1, 4)) for _ in range(draw(st.integers(2, 3)))] + [1]
    kw = dict(seed=draw(st.integers(0, 1000)), grid_size=draw(st.integers(2, 5)), spline_order=draw(st.integers(2, 3)),
              base_activation=draw(st.sampled_from(["silu", "tanh"])))
    if name == "slimkan":
        kw["ranks"] = (2, 2, 2)
    return name, widths, kw


@SLOW
@given(arch=small_kans(), seed=seeds)
def test_laplacian_along_any_orthonormal_frame_is_exact(arch, seed):
    """The trace is rotation invariant: a jet along a random orthonormal frame per point gives the Laplacian."""
    name, widths, kw = arch
    model = get_backbone(name, widths, **kw)
    d = widths[0]
    g = torch.Generator().manual_seed(seed)
    x = 2 * torch.rand(5, d, generator=g, dtype=F64) - 1
    q, _ = torch.linalg.qr(torch.randn(5, d, d, generator=g, dtype=F64))
    rotated = forward_jet(model, x, Dense(q, scale=1.0)).laplacian[:, 0]
    _, ref, _ = autograd_laplacian(model, x)
    torch.testing.assert_close(rotated, ref, atol=1e-10 * (1 + float(ref.detach().abs().max())), rtol=1e-10)


@SLOW
@given(arch=small_kans(), seed=seeds, lotra=st.booleans())
def test_parameter_gradients_of_jet_loss_equal_autograd(arch, seed, lotra):
    """Training differentiates through the Laplacian: d/dθ mean(Δu²) via the jet equals the autograd one, for
    plain backbones and LoTRA-adapted ones (with a non-zero Tucker delta)."""
    name, widths, kw = arch
    model = get_backbone(name, widths, **kw)
    g = torch.Generator().manual_seed(seed)
    if lotra:
        model = inject_lotra(model, LoTRAConfig(ranks=(1, 1, 2)))
        with torch.no_grad():
            for p in model.parameters():
                if p.requires_grad:
                    p.add_(0.3 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    x = 2 * torch.rand(6, widths[0], generator=g, dtype=F64) - 1
    trainable = [p for p in model.parameters() if p.requires_grad]

    def grads(lap):
        loss = (lap * lap).mean()
        return torch.autograd.grad(loss, trainable, allow_unused=True)

    jet = grads(laplacian(model, x, "jet"))
    auto = grads(autograd_laplacian(model, x)[1])
    for a, b, p in zip(jet, auto, trainable):
        a = torch.zeros_like(p) if a is None else a
        b = torch.zeros_like(p) if b is None else b
        scale = 1 + float(b.abs().max())
        torch.testing.assert_close(a, b, atol=1e-9 * scale, rtol=1e-9)
    assert math.isfinite(float(sum(a.abs().sum() for a in jet if a is not None)))
