"""Every fast path against a straightforward reference kept here (float64, 1e-12).

References: the Cox–de Boor recursion for the basis and its derivatives, explicit per-edge loops for the
layer output and for the per-edge derivative matrices D1/D2, the plain hypernet (``generate``) for MetaKAN's
generated coefficients, and the materialised Tucker tensor for Slim KAN's factored path.
"""
import pytest
import torch

from conftest import gen
from pde_kan.diff import edge_derivatives, forward_jet, laplacian
from pde_kan.diff.directions import Coordinates
from pde_kan.nn import (BSplineBasis, DenseCoefficients, HyperCoefficients, KANLayer, MetaKAN,
                        TuckerCoefficients, get_backbone)
from pde_kan.nn._metakan_autograd import piecewise_tables
from pde_kan.nn.layer import dense_contract

F64 = torch.float64
TOL = dict(atol=1e-12, rtol=1e-12)


#: MetaKAN designs beside the default (docs/metakan.md) that every fast-path test also runs.
DESIGNS = [{"base_weight": "free"}, {"base_weight": "lowrank", "base_rank": 2}, {"hyper_activation": "identity"},
           {"init": "reference"}]


# --- references -------------------------------------------------------------------------------------------
def cox_de_boor(x, grid_size, order, grid_range, derivative=0):
    """``(N, in, n_basis)``: the Cox–de Boor recursion on the extended knots, derivatives as differences of
    lower orders (``B'_{m,k} = (B_{m,k-1} - B_{m+1,k-1}) / h``)."""
    a, b = grid_range
    h = (b - a) / grid_size
    t = a + (torch.arange(grid_size + 2 * order + 1, dtype=x.dtype) - order) * h
    xe = x.unsqueeze(-1)
    levels = [((xe >= t[:-1]) & (xe < t[1:])).to(x.dtype)]
    for p in range(1, order + 1):
        prev = levels[-1]
        levels.append((xe - t[:-(p + 1)]) / (p * h) * prev[..., :-1] + (t[p + 1:] - xe) / (p * h) * prev[..., 1:])
    low = levels[order - derivative]
    for _ in range(derivative):  # each derivative: difference of neighbours one order down
        low = (low[..., :-1] - low[..., 1:]) / h
    return low


def silu_d(z, d):
    s = torch.sigmoid(z)
    return [z * s, s * (1 + z * (1 - s)), s * (1 - s) * (2 + z * (1 - 2 * s))][d]


def layer_loop(x, c, w, basis):
    """``y[:, j] = sum_i w_ji silu(x_i) + sum_i sum_m C_jim B_m(x_i)``, one edge at a time."""
    y = x.new_zeros(x.shape[0], c.shape[0])
    cfg = (basis.grid_size, basis.spline_order, basis.grid_range)
    for j in range(c.shape[0]):
        for i in range(c.shape[1]):
            bi = cox_de_boor(x[:, i:i + 1], *cfg)[:, 0]
            y[:, j] = y[:, j] + w[j, i] * silu_d(x[:, i], 0) + bi @ c[j, i]
    return y


def edge_loop(x, c, w, basis, d):
    """``(N, out, in)``: the d-th derivative of every edge function, one edge at a time."""
    cfg = (basis.grid_size, basis.spline_order, basis.grid_range)
    out = x.new_zeros(x.shape[0], c.shape[0], c.shape[1])
    for j in range(c.shape[0]):
        for i in range(c.shape[1]):
            bi = cox_de_boor(x[:, i:i + 1], *cfg, derivative=d)[:, 0]
            out[:, j, i] = w[j, i] * silu_d(x[:, i], d) + bi @ c[j, i]
    return out


def spread_points(basis, n, seed):
    """Points across the extended support, beyond it on both sides, and exactly on every knot."""
    a, b = basis.grid_range
    k, h = basis.spline_order, basis.h
    lo, hi = a - (k + 1.5) * h, b + (k + 1.5) * h
    x = lo + (hi - lo) * torch.rand(n, generator=gen(seed), dtype=F64)
    return torch.cat([x, basis.knots()])


BASES = [(5, 3, (-1.0, 1.0)), (4, 2, (0.0, 3.0)), (7, 1, (-2.0, 0.5)), (3, 4, (-1.0, 1.0)), (6, 0, (-1.0, 1.0))]


# --- basis --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("grid_size,order,grid_range", BASES)
def test_basis_values_and_derivatives_equal_cox_de_boor(grid_size, order, grid_range):
    basis = BSplineBasis(grid_size, order, grid_range)
    x = spread_points(basis, 300, seed=grid_size).reshape(-1, 1)
    # at a knot order-0/1 pieces jump (one-sided values differ); compare there only where continuous
    on_knot = (x.unsqueeze(-1) - basis.knots()).abs().min(-1).values[:, 0] < 1e-12
    deriv = min(order, 2)
    out = basis(x, derivatives=deriv)
    for d, ours in enumerate([out.value, out.d1, out.d2][:deriv + 1]):
        ref = cox_de_boor(x, grid_size, order, grid_range, d)
        keep = ~on_knot if d >= order else torch.ones_like(on_knot)
        torch.testing.assert_close(ours[keep], ref[keep], atol=1e-12 * basis.h ** -d, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_features_layout_and_dtype(dtype):
    basis = BSplineBasis()
    x = (torch.rand(17, 3, generator=gen(1), dtype=F64) * 3 - 1.5).to(dtype)
    acts = (torch.sin(x), torch.cos(x), -torch.sin(x))
    feats = basis.features(x, acts)
    for d, f in enumerate(feats):
        assert f.shape == (17, 3, basis.n_basis + 1) and f.dtype == dtype
        torch.testing.assert_close(f[..., 0], acts[d])
        ref = cox_de_boor(x.double(), 5, 3, (-1.0, 1.0), d).to(dtype)
        tol = 1e-12 if dtype == F64 else 1e-5 * basis.h ** -d
        torch.testing.assert_close(f[..., 1:], ref, atol=tol, rtol=0)


@pytest.mark.parametrize("grid_size,order,grid_range", [c for c in BASES if c[1] >= 2])
def test_basis_backward_and_double_backward_equal_reference(grid_size, order, grid_range):
    basis = BSplineBasis(grid_size, order, grid_range)
    x0 = spread_points(basis, 60, seed=3)
    x0 = x0[(x0.unsqueeze(-1) - basis.knots()).abs().min(-1).values > 1e-6].reshape(-1, 2)
    weights = [torch.randn(*x0.shape, basis.n_basis, generator=gen(d), dtype=F64) for d in range(3)]

    def grads(fn):
        x = x0.clone().requires_grad_(True)
        loss = sum((v * wt).sum() for v, wt in zip(fn(x), weights))
        (g1,) = torch.autograd.grad(loss, x, create_graph=True)
        (g2,) = torch.autograd.grad((g1 * g1.detach().sin()).sum(), x)
        return g1.detach(), g2

    ours = grads(lambda x: basis(x, derivatives=2))
    ref = grads(lambda x: [cox_de_boor(x, grid_size, order, grid_range, d) for d in range(3)])
    torch.testing.assert_close(ours[0], ref[0], atol=1e-12 * basis.h ** -3, rtol=1e-12)
    torch.testing.assert_close(ours[1], ref[1], atol=1e-12 * basis.h ** -4, rtol=1e-12)


# --- layer --------------------------------------------------------------------------------------------------
def make_layer(source, n_in=3, n_out=4, **kw):
    basis = BSplineBasis(5, 3, (-1.0, 1.0))
    g = gen(7)
    src = {
        "dense": lambda: DenseCoefficients(n_in, n_out, basis.n_basis, generator=g, init_scale=1.0),
        "hyper": lambda: HyperCoefficients(n_in, n_out, basis.n_basis, generator=g, hyper_hidden=6, **kw),
        "tucker": lambda: TuckerCoefficients(n_in, n_out, basis.n_basis, ranks=(2, 2, 3), generator=g, init_scale=1.0,
                                             **kw),
    }[source]()
    return KANLayer(n_in, n_out, basis, src)


def layer_inputs(n=6, n_in=3, seed=0):
    return torch.rand(n, n_in, generator=gen(seed), dtype=F64) * 3.4 - 1.7  # inside and outside the grid


@pytest.mark.parametrize("source,kw,n", [
    ("dense", {}, 2), ("dense", {}, 6),  # N < out and N > out take different contraction branches
    ("hyper", {}, 6), ("hyper", {"embedding_dim": 2}, 6), ("hyper", {"chunk_size": 3}, 2),
    ("hyper", {"recompute": False}, 6), ("hyper", {"base_weight": "free"}, 6),
    ("hyper", {"base_weight": "lowrank", "base_rank": 2, "chunk_size": 3}, 2), ("tucker", {}, 6)])
def test_layer_output_and_gradients_equal_edge_loop(source, kw, n):
    layer = make_layer(source, **kw)
    x = layer_inputs(n).requires_grad_(True)
    params = [p for p in layer.parameters()]
    y = layer(x)
    c, w = layer.source.coefficients()
    ref = layer_loop(x, c, w, layer.basis)
    torch.testing.assert_close(y, ref, **TOL)
    probe = torch.randn(y.shape, generator=gen(2), dtype=F64)
    ours = torch.autograd.grad((y * probe).sum(), [x, *params])
    theirs = torch.autograd.grad((ref * probe).sum(), [x, *params])
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("source,kw", [("dense", {}), ("hyper", {}), ("hyper", {"embedding_dim": 2}),
                                       ("hyper", {"base_weight": "free"}), ("hyper", {"base_weight": "lowrank"}),
                                       ("hyper", {"hyper_activation": "identity", "embedding_dim": 2}),
                                       ("tucker", {})])
def test_packed_columns_equal_slices_of_packed_with_gradients(source, kw):
    # SDGD jets build only the chosen input columns of the first layer's coefficients
    layer = make_layer(source, n_in=5, **kw)
    index = torch.tensor([3, 0, 4])
    params = list(layer.parameters())
    ours = layer.source.packed_columns(index)
    ref = layer.source.packed()[:, index]
    assert ours.shape == (4, 3, layer.basis.n_basis + 1)
    torch.testing.assert_close(ours, ref, **TOL)
    probe = torch.randn(ref.shape, generator=gen(4), dtype=F64)
    for a, b in zip(torch.autograd.grad((ours * probe).sum(), params, allow_unused=True),
                    torch.autograd.grad((ref * probe).sum(), params, allow_unused=True)):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, **TOL)


def test_layer_gradient_with_every_point_inside_the_grid():
    """The backward skips its missing-piece mask when no point lies outside [a, b); same gradient."""
    layer = make_layer("dense")
    x = (torch.rand(6, 3, generator=gen(11), dtype=F64) * 1.98 - 0.99).requires_grad_(True)
    c, w = layer.source.coefficients()
    (g,) = torch.autograd.grad(layer(x).sum(), x)
    (ref,) = torch.autograd.grad(layer_loop(x, c, w, layer.basis).sum(), x)
    torch.testing.assert_close(g, ref, **TOL)


def test_dense_contract_branches_agree():
    feats = torch.randn(5, 3, 9, generator=gen(1), dtype=F64)
    for n_out in (2, 11):  # out <= N copies the weights, out > N copies the basis features
        c = torch.randn(n_out, 3, 8, generator=gen(n_out), dtype=F64)
        w = torch.randn(n_out, 3, generator=gen(n_out + 1), dtype=F64)
        ref = torch.einsum("nim,oim->no", feats[..., 1:], c) + feats[..., 0] @ w.T
        torch.testing.assert_close(dense_contract(feats, c, w), ref, **TOL)


@pytest.mark.parametrize("contraction", ["factored", "materialized", "auto"])
def test_tucker_both_paths_equal_materialised(contraction):
    src = make_layer("tucker", contraction=contraction).source
    feats = torch.randn(7, 3, 9, generator=gen(3), dtype=F64, requires_grad=True)
    c, w = src.coefficients()
    ref = torch.einsum("nim,oim->no", feats[..., 1:], c) + feats[..., 0] @ w.T
    y = src.contract(feats)
    torch.testing.assert_close(y, ref, **TOL)
    probe = torch.randn(y.shape, generator=gen(4), dtype=F64)
    inputs = [feats, *src.parameters()]
    for a, b in zip(torch.autograd.grad((y * probe).sum(), inputs), torch.autograd.grad((ref * probe).sum(), inputs)):
        torch.testing.assert_close(a, b, **TOL)


def test_tucker_cost_model_picks_the_measured_winner_at_the_extremes():
    # measured on the project's CPUs (docs/benchmarks.md): a wide FC layer on a small batch is several times
    # faster factored, a single-output layer on a large batch several times faster materialised
    wide = TuckerCoefficients(784, 1024, 8, ranks=(8, 8, 4), dtype=torch.float32)
    narrow = TuckerCoefficients(64, 1, 8, ranks=(1, 8, 4), dtype=torch.float32)
    assert wide.factored_is_cheaper(128) and not narrow.factored_is_cheaper(1024)
    factored, dense = wide.contraction_costs(128)
    assert dense > 3 * factored


# --- jets ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("source", ["dense", "hyper", "tucker"])
def test_edge_derivatives_equal_edge_loop(source):
    layer = make_layer(source)
    x = layer_inputs(5)
    c, w = layer.source.coefficients()
    basis_value, d1, d2 = edge_derivatives(layer, x, c, w)
    torch.testing.assert_close(basis_value, cox_de_boor(x, 5, 3, (-1.0, 1.0)), **TOL)
    torch.testing.assert_close(d1, edge_loop(x, c, w, layer.basis, 1), **TOL)
    torch.testing.assert_close(d2, edge_loop(x, c, w, layer.basis, 2), atol=1e-11, rtol=1e-12)


@pytest.mark.parametrize("name,kw,widths", [
    ("kan", {}, [3, 5, 4, 1]), ("metakan", {"chunk_size": 5}, [3, 5, 4, 1]),
    ("metakan", {"embedding_dim": 2}, [3, 4, 1]), ("slimkan", {"ranks": (3, 2, 3)}, [3, 5, 4, 1]),
    *[("metakan", {"chunk_size": 5, **d}, [3, 5, 4, 1]) for d in DESIGNS]])
def test_jet_laplacian_and_its_parameter_gradient_equal_autograd(name, kw, widths):
    model = get_backbone(name, widths, **kw)
    x = torch.rand(6, 3, generator=gen(4), dtype=F64) * 3 - 1.5

    def run(method):
        model.zero_grad()
        lap = laplacian(model, x, method)
        (lap.square().mean()).backward()
        return lap.detach(), [p.grad.clone() for p in model.parameters()]

    lap_j, g_j = run("jet")
    lap_a, g_a = run("autograd")
    torch.testing.assert_close(lap_j, lap_a, atol=1e-11, rtol=1e-11)
    for a, b in zip(g_j, g_a):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-11)
    # tangents of the exact jet are the gradient
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(xr).sum(), xr)
    jet = forward_jet(model, x, Coordinates.all(3))
    torch.testing.assert_close(jet.tangent[:, 0, :], grad, **TOL)


# --- MetaKAN generation -------------------------------------------------------------------------------------
def test_piecewise_tables_reproduce_the_hypernet_with_gradients():
    h = 7
    w1 = torch.randn(h, 1, generator=gen(1), dtype=F64)
    w1[2] = 0.0  # a constant unit (relu(b1) whatever e) must be handled
    b1 = torch.randn(h, generator=gen(2), dtype=F64)
    w2 = torch.randn(4, h, generator=gen(3), dtype=F64)
    b2 = torch.randn(4, generator=gen(4), dtype=F64)
    e = torch.randn(200, generator=gen(5), dtype=F64) * 3
    params = [t.requires_grad_(True) for t in (w1, b1, w2, b2)]
    direct = torch.relu(e[:, None] @ w1.T + b1) @ w2.T + b2
    s, a, b = piecewise_tables(*params)
    seg = torch.bucketize(e, s)
    pw = a[seg] * e[:, None] + b[seg]
    torch.testing.assert_close(pw, direct, **TOL)
    probe = torch.randn(direct.shape, generator=gen(6), dtype=F64)
    ours = torch.autograd.grad((pw * probe).sum(), params)
    for ga, gb in zip(ours, torch.autograd.grad((direct * probe).sum(), params)):
        torch.testing.assert_close(ga, gb, **TOL)


def reference_metakan(model, x):
    """The plain MetaKAN forward: the whole layer's [C, w] from ``generate`` and one GEMM."""
    for layer in model.layers:
        src = layer.source
        cw = src.generate(src.embeddings)
        c, w = (cw[..., :-1], cw[..., -1]) if src.base() is None else (cw, src.base())
        weight = torch.cat([w.unsqueeze(-1), c], -1).reshape(src.out_features, -1)
        x = layer.features(x).reshape(x.shape[0], -1) @ weight.T
    return x


@pytest.mark.parametrize("e,chunk_size,recompute,design", [
    (1, None, False, {}), (1, None, True, {}), (1, 7, True, {}), (1, 1, True, {}), (2, 7, True, {}),
    (2, None, False, {}), *[(e, 7, True, d) for e in (1, 2) for d in DESIGNS], (1, None, False, DESIGNS[0])])
def test_chunked_recomputed_metakan_equals_plain(e, chunk_size, recompute, design):
    model = MetaKAN([4, 6, 5, 2], embedding_dim=e, hyper_hidden=5, chunk_size=chunk_size, recompute=recompute, seed=2,
                    **design)
    x = torch.rand(9, 4, generator=gen(8), dtype=F64) * 3 - 1.5
    params = list(model.parameters())
    probe = torch.randn(9, 2, generator=gen(9), dtype=F64)
    y, ref = model(x), reference_metakan(model, x)
    torch.testing.assert_close(y, ref, **TOL)
    for a, b in zip(torch.autograd.grad((y * probe).sum(), params), torch.autograd.grad((ref * probe).sum(), params)):
        torch.testing.assert_close(a, b, **TOL)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref.detach(), **TOL)

    def grad_norm_grads(fn):  # double backward through the chunks
        xr = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(fn(xr).sum(), xr, create_graph=True)
        return torch.autograd.grad(g.square().sum(), params)

    for a, b in zip(grad_norm_grads(model), grad_norm_grads(lambda z: reference_metakan(model, z))):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-11)


def test_metakan_chunking_bounds_rows_and_round_trips_config():
    model = MetaKAN([5, 16, 3], chunk_size=20, recompute=True)
    src = model.layers[0].source
    assert src.rows_per_chunk() == 4 and src._chunks()[-1] == (12, 16)
    assert model.layers[1].source.rows_per_chunk() == 1  # at least one row
    assert MetaKAN([5, 16, 3], chunk_size=None).layers[0].source.rows_per_chunk() == 16
    cfg = model.config
    assert cfg["chunk_size"] == 20 and cfg["recompute"] is True
    again = MetaKAN.from_config(cfg)
    assert again.layers[0].source.chunk_size == 20


@pytest.mark.parametrize("kw,err,match", [
    ({"chunk_size": 0}, ValueError, r"MetaKAN: chunk_size must be an integer >= 1, got 0"),
    ({"chunk_size": 2.5}, TypeError, r"MetaKAN: chunk_size must be an integer >= 1, got 2.5"),
    ({"recompute": "yes"}, TypeError, r"MetaKAN: recompute must be True or False, got 'yes'"),
])
def test_metakan_bad_memory_options(kw, err, match):
    with pytest.raises(err, match=match):
        MetaKAN([2, 3, 1], **kw)


def test_float32_fast_path_close_to_float64_reference():
    model = get_backbone("kan", [3, 4, 2], dtype=torch.float32)
    x = torch.rand(8, 3, generator=gen(5)) * 2 - 1
    ref = x.double()
    for layer in model.layers:
        c, w = layer.source.coefficients()
        ref = layer_loop(ref, c.double(), w.double(), layer.basis)
    torch.testing.assert_close(model(x).double(), ref, atol=1e-5, rtol=1e-5)


def test_metakan_layers_share_one_workspace_and_a_copy_gets_its_own():
    import copy

    model = MetaKAN([4, 6, 5, 2], chunk_size=7, seed=1)
    spaces = {id(layer.source.workspace) for layer in model.layers}
    assert len(spaces) == 1
    x = torch.rand(9, 4, generator=gen(3), dtype=F64)
    model(x).sum().backward()  # the workspace grows to the largest chunk and is reused
    clone = copy.deepcopy(model)
    assert clone.layers[0].source.workspace is not model.layers[0].source.workspace
    assert clone.layers[0].source.workspace is clone.layers[1].source.workspace
    torch.testing.assert_close(clone(x), model(x), rtol=0, atol=0)
