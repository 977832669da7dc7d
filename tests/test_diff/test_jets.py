"""Forward jets equal autograd (float64, 1e-10) for every backbone, with transforms and parameter gradients."""
import pytest
import torch
from torch import nn

from pde_kan.diff import (Coordinates, Jet, autograd_laplacian, forward_jet, gradient, laplacian, pde_derivatives,
                          register_jet_rule)
from pde_kan.diff.jet import _JET_RULES
from pde_kan.nn import available_backbones, get_backbone

TOL = dict(atol=1e-10, rtol=1e-10)
# grids narrower than the inputs below, so points fall inside the grid, in the extended support and beyond it
KWARGS = {
    "kan": dict(grid_size=4, grid_range=(-1.0, 0.5)),
    "metakan": dict(embedding_dim=2, hyper_hidden=6, grid_size=3),
    "slimkan": dict(ranks=(4, 3, 5), grid_size=4),
    "mlp": dict(activation="tanh"),
}


def make(name, widths, **kw):
    return get_backbone(name, widths, **{**KWARGS[name], **kw})


def points(n, d, seed=0, half_width=3.0):
    g = torch.Generator().manual_seed(seed)
    return (2 * torch.rand(n, d, generator=g, dtype=torch.float64) - 1) * half_width


@pytest.mark.parametrize("name", available_backbones())
def test_jet_laplacian_and_gradient_equal_autograd(name):
    m = make(name, [4, 7, 5, 1])
    x = points(12, 4)
    x[0] = torch.tensor([0.1, -0.2, 0.3, 0.05])  # inside the grid range
    x[1] = torch.tensor([5.0, -6.0, 7.5, 9.0])  # beyond every basis function's support
    u_ref, lap_ref, grad_ref = autograd_laplacian(m, x)
    lap = laplacian(m, x, "jet")
    assert lap.shape == (12,)
    torch.testing.assert_close(lap, lap_ref, **TOL)
    torch.testing.assert_close(laplacian(m, x, "autograd"), lap_ref, **TOL)
    torch.testing.assert_close(gradient(m, x), grad_ref, **TOL)
    jet = forward_jet(m, x, Coordinates.all(4))
    torch.testing.assert_close(jet.value[:, 0], u_ref, **TOL)
    assert lap.abs().max() > 1e-3  # a non-trivial field, so the comparison can fail


@pytest.mark.parametrize("name", available_backbones())
def test_jet_multi_output_laplacian(name):
    m = make(name, [3, 6, 2])
    x = points(8, 3, seed=1)
    lap = laplacian(m, x, "jet")
    assert lap.shape == (8, 2)
    for j in range(2):
        torch.testing.assert_close(lap[:, j], autograd_laplacian(lambda z: m(z)[:, j], x)[1], **TOL)


@pytest.mark.parametrize("spline_order", [2, 3, 4])
def test_jet_other_spline_orders(spline_order):
    m = get_backbone("kan", [3, 5, 1], spline_order=spline_order, grid_size=6)
    x = points(10, 3, seed=2, half_width=1.5)
    torch.testing.assert_close(laplacian(m, x, "jet"), laplacian(m, x, "autograd"), **TOL)


@pytest.mark.parametrize("name", ["kan", "metakan", "slimkan"])
def test_per_layer_grid_ranges_jets_equal_autograd(name):
    # a narrow first-layer grid (as for high-dimensional inputs of size O(d^-1/2)) and wider later grids
    ranges = [(-0.2, 0.3), (-1.0, 1.0), (-2.0, 0.5)]
    m = make(name, [6, 7, 5, 1], grid_range=ranges)
    assert [layer.basis.grid_range for layer in m.layers] == ranges
    x = points(10, 6, seed=4, half_width=0.4)
    torch.testing.assert_close(laplacian(m, x, "jet"), laplacian(m, x, "autograd"), **TOL)
    # the SDGD path evaluates the first layer's derivatives on the chosen columns only
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(laplacian(m, x, "sdgd", n_probes=2, generator=g1),
                               laplacian(m, x, "sdgd_autograd", n_probes=2, generator=g2), **TOL)
    same = make(name, [6, 7, 5, 1], grid_range=(-0.2, 0.3))
    assert not torch.allclose(m(x), same(x))  # the later layers' ranges are used


def test_jet_single_input_dimension_and_one_point():
    m = make("kan", [1, 4, 1])
    x = points(1, 1, seed=3)
    torch.testing.assert_close(laplacian(m, x, "jet"), laplacian(m, x, "autograd"), **TOL)


# --- hard-BC-like transform: u = (1 - |x_s|^2) t * raw + exp(-|x_s|^2), x = (x_s, t) with 3 spatial coordinates


def _transform(x, raw):
    dirs = raw.directions
    xs, t = x[:, :3], x[:, 3]
    zero = torch.zeros_like(t).unsqueeze(-1)
    r2 = (xs * xs).sum(-1)
    # phi = (1 - r2) t: Hessian diag (-2t, -2t, -2t, 0) plus the symmetric rank-2 part u e_t^T + e_t u^T with
    # u = (-2 x_s, 0); v^T (u w^T + w u^T) v = 2 (u.v)(w.v)
    phi_grad = torch.cat([-2 * xs * t.unsqueeze(-1), (1 - r2).unsqueeze(-1)], dim=-1)
    u_vec = torch.cat([-2 * xs, zero], dim=-1)
    e_t = torch.cat([torch.zeros_like(xs), torch.ones_like(zero)], dim=-1)
    phi_diag = torch.cat([-2 * t.unsqueeze(-1).expand(-1, 3), zero], dim=-1)
    phi = Jet.closed_form((1 - r2) * t, phi_grad, dirs.quad_diag(phi_diag) + 2 * dirs.cross(u_vec, e_t), dirs)
    # g = exp(-r2): gradient -2 x_s g, Hessian -2 g I_s + 4 g x_s x_s^T
    g = torch.exp(-r2)
    xs_pad = torch.cat([xs, zero], dim=-1)
    g_diag = torch.cat([-2 * g.unsqueeze(-1).expand(-1, 3), zero], dim=-1)
    bc = Jet.closed_form(g, -2 * g.unsqueeze(-1) * xs_pad,
                         dirs.quad_diag(g_diag) + dirs.cross(4 * g.unsqueeze(-1) * xs_pad, xs_pad), dirs)
    return phi * raw + bc


@pytest.mark.parametrize("first_order", [(3,), (0, 3), ()])
@pytest.mark.parametrize("name", available_backbones())
def test_pde_derivatives_with_transform_equal_autograd(name, first_order):
    m = make(name, [4, 6, 1])
    x = points(9, 4, seed=4, half_width=1.2)
    jet = pde_derivatives(m, x, "jet", spatial_dim=3, first_order=first_order, transform=_transform)
    ref = pde_derivatives(m, x, "autograd", spatial_dim=3, first_order=first_order, transform=_transform)
    assert jet.first.shape == ref.first.shape == (9, len(first_order))
    torch.testing.assert_close(jet.value, ref.value, **TOL)
    torch.testing.assert_close(jet.laplacian, ref.laplacian, **TOL)
    torch.testing.assert_close(jet.first, ref.first, **TOL)
    # independent check of the autograd path: spatial Laplacian and du/dt of the transformed field
    xr = x.clone().requires_grad_(True)
    u = (1 - (xr[:, :3] ** 2).sum(-1)) * xr[:, 3] * m(xr)[:, 0] + torch.exp(-(xr[:, :3] ** 2).sum(-1))
    (g,) = torch.autograd.grad(u.sum(), xr, create_graph=True)
    lap = sum(torch.autograd.grad(g[:, i].sum(), xr, retain_graph=True)[0][:, i] for i in range(3))
    torch.testing.assert_close(ref.laplacian, lap, **TOL)
    torch.testing.assert_close(ref.first, g[:, list(first_order)], **TOL)


@pytest.mark.parametrize("name", available_backbones())
def test_pde_derivatives_without_transform_spatial_subset(name):
    m = make(name, [5, 6, 1])
    x = points(7, 5, seed=5)
    jet = pde_derivatives(m, x, "jet", spatial_dim=2, first_order=(4, 2))
    ref = pde_derivatives(m, x, "autograd", spatial_dim=2, first_order=(4, 2))
    for a, b in zip(jet, ref):
        torch.testing.assert_close(a, b, **TOL)


@pytest.mark.parametrize("name", available_backbones())
def test_parameter_gradients_of_mean_square_laplacian(name):
    """d/dθ mean(Δu^2): backward through the jet equals autograd of the autograd Laplacian."""
    m = make(name, [4, 6, 5, 1])
    x = points(10, 4, seed=6, half_width=2.0)
    params = [p for p in m.parameters() if p.requires_grad]

    def grads(method):
        lap = laplacian(m, x, method)
        out = torch.autograd.grad((lap**2).mean(), params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out)]

    jet, ref = grads("jet"), grads("autograd")
    assert sum(float(g.abs().sum()) for g in ref) > 0
    for gj, ga in zip(jet, ref):
        torch.testing.assert_close(gj, ga, **TOL)


@pytest.mark.parametrize("name", available_backbones())
def test_parameter_gradients_with_transform_and_first_order(name):
    m = make(name, [4, 5, 1])
    x = points(8, 4, seed=7, half_width=1.2)
    params = list(m.parameters())

    def grads(method):
        d = pde_derivatives(m, x, method, spatial_dim=3, first_order=(3,), transform=_transform)
        loss = ((d.laplacian + d.first[:, 0] - d.value) ** 2).mean()
        out = torch.autograd.grad(loss, params, allow_unused=True)
        return [torch.zeros_like(p) if g is None else g for p, g in zip(params, out)]

    for gj, ga in zip(grads("jet"), grads("autograd")):
        torch.testing.assert_close(gj, ga, **TOL)


@pytest.mark.parametrize("name", available_backbones())
def test_sdgd_jet_equals_sdgd_autograd_for_the_same_seed(name):
    """Same generator seed -> same coordinate subset, so the two sdgd engines agree exactly, scale included."""
    m = make(name, [6, 5, 1])
    x = points(7, 6, seed=8)
    jet = laplacian(m, x, "sdgd", n_probes=2, generator=torch.Generator().manual_seed(11))
    ref = laplacian(m, x, "sdgd_autograd", n_probes=2, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(jet, ref, **TOL)
    d_jet = pde_derivatives(m, x, "sdgd", spatial_dim=5, first_order=(5,), n_probes=3,
                            generator=torch.Generator().manual_seed(12))
    d_ref = pde_derivatives(m, x, "sdgd_autograd", spatial_dim=5, first_order=(5,), n_probes=3,
                            generator=torch.Generator().manual_seed(12))
    for a, b in zip(d_jet, d_ref):
        torch.testing.assert_close(a, b, **TOL)


def test_jet_rule_registry_for_a_custom_layer():
    class Scale(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c = c

        def forward(self, z):
            return self.c * z

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([get_backbone("kan", [2, 3, 1]).layers[0], make("kan", [3, 1]).layers[0],
                                         Scale(2.5)])

        def forward(self, z):
            for layer in self.layers:
                z = layer(z)
            return z

    net, x = Net(), points(5, 2, seed=9)
    with pytest.raises(TypeError, match=r"no jet rule for layer type Scale.*register_jet_rule"):
        laplacian(net, x, "jet")
    try:
        @register_jet_rule(Scale)
        def _scale(layer, jet):
            return Jet(layer.c * jet.value, layer.c * jet.tangent, layer.c * jet.second, jet.directions)

        torch.testing.assert_close(laplacian(net, x, "jet"), laplacian(net, x, "autograd"), **TOL)
    finally:
        _JET_RULES.pop(Scale, None)


@pytest.mark.parametrize("widths,n", [([3, 1], 1), ([3, 4, 1], 4), ([2, 5, 1], 3)])
def test_mlp_first_layer_width_equal_to_batch_size(widths, n):
    """Coordinate tangents of a first Linear layer are (out, K) for all points; out == N must not confuse them."""
    m = get_backbone("mlp", widths)
    x = points(n, widths[0], seed=10)
    _, lap_ref, grad_ref = autograd_laplacian(m, x)
    torch.testing.assert_close(gradient(m, x), grad_ref, **TOL)
    torch.testing.assert_close(laplacian(m, x, "jet"), lap_ref, **TOL)


def test_autograd_laplacian_of_fields_linear_in_x():
    """A field linear in x has no second-derivative graph; the reference loop returns zeros instead of failing."""
    m = get_backbone("mlp", [3, 1])
    x = points(4, 3, seed=11)
    torch.testing.assert_close(laplacian(m, x, "autograd"), torch.zeros(4, dtype=torch.float64))
    for p in m.parameters():
        p.requires_grad_(False)
    torch.testing.assert_close(laplacian(m, x, "autograd"), torch.zeros(4, dtype=torch.float64))
    u, lap, g = autograd_laplacian(m, x)
    torch.testing.assert_close(g, m.layers[0].weight.expand(4, -1))


@pytest.mark.parametrize("engine, n_probes", [("jet", None), ("autograd", None), ("sdgd", 2), ("sdgd_autograd", 2)])
def test_head_derivatives_equal_each_heads_own_derivatives(engine, n_probes):
    """One jet for H outputs, each through its own transform (a family's hard conditions), equals H single-output
    calls with the same probes; time-dependent problems keep their exact first derivative."""
    from pde_kan.diff import head_derivatives
    from pde_kan.nn import MixedHeads
    from pde_kan.problems import AllenCahnTime

    problems = [AllenCahnTime(spatial_dim=3, c=c) for c in (0.0, 0.5)]
    m = get_backbone("kan", [4, 6, 2], seed=3)
    x = problems[0].sample_interior(9, torch.Generator().manual_seed(0))
    first = problems[0]
    heads = head_derivatives(m, x, engine, transforms=[p.jet_transform for p in problems],
                             spatial_dim=first.spatial_dim, first_order=first.first_order, n_probes=n_probes,
                             generator=torch.Generator().manual_seed(5))
    for h, p in enumerate(problems):
        view = MixedHeads(m, mix=torch.eye(2, dtype=torch.float64)[h])
        own = p.derivatives(view, x, engine, n_probes=n_probes, generator=torch.Generator().manual_seed(5))
        for a, b in zip(heads[h], own):
            torch.testing.assert_close(a, b, **TOL)
        assert heads[h].first.shape == (9, 1) and heads[h].laplacian.abs().max() > 1e-6
