"""Every backbone: shapes, double backward, config/state_dict round trips, determinism, parameter counts."""
import json

import pytest
import torch

from pde_kan.nn import KAN, MLP, MetaKAN, SlimKAN, available_backbones, backbone_from_config, get_backbone
from pde_kan.nn.registry import BACKBONES

WIDTHS = [3, 6, 5, 2]
# small but non-trivial settings per backbone (non-default grids so the configs carry something)
KWARGS = {
    "kan": dict(grid_size=4, spline_order=3, grid_range=(-1.5, 1.0)),
    "metakan": dict(embedding_dim=2, hyper_hidden=7, grid_size=4),
    "slimkan": dict(ranks=(4, 2, 3), grid_size=4),
    "mlp": dict(activation="tanh"),
}


def make(name, widths=WIDTHS, **kw):
    return get_backbone(name, widths, **{**KWARGS[name], **kw})


def inputs(n=9, d=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g, dtype=torch.float64) * 3 - 1.5).to(dtype)


def test_registry_lists_every_backbone():
    assert available_backbones() == ["kan", "metakan", "mlp", "slimkan"]
    assert set(KWARGS) == set(BACKBONES)
    for name, cls in [("kan", KAN), ("metakan", MetaKAN), ("slimkan", SlimKAN), ("mlp", MLP)]:
        assert type(make(name)) is cls


@pytest.mark.parametrize("name", available_backbones())
def test_output_shape_and_dtype(name):
    m = make(name)
    y = m(inputs())
    assert y.shape == (9, 2) and y.dtype == torch.float64
    assert torch.isfinite(y).all()
    assert m(inputs(n=1)).shape == (1, 2)


@pytest.mark.parametrize("name", available_backbones())
def test_double_backward_against_finite_differences(name):
    """grad of (sum |∇_x y|^2) with respect to the parameters, checked along a random parameter direction."""
    m = make(name)
    x = inputs(n=5)

    def loss():
        xr = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(m(xr)[:, 0].sum(), xr, create_graph=True)
        return (g * g).sum()

    params = [p for p in m.parameters() if p.requires_grad]
    # the last bias of an MLP does not reach ∇_x y: unused, its gradient is zero
    grads = [torch.zeros_like(p) if gr is None else gr
             for p, gr in zip(params, torch.autograd.grad(loss(), params, allow_unused=True))]
    assert any(float(gr.abs().max()) > 0 for gr in grads)
    gen = torch.Generator().manual_seed(1)
    v = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    eps = 1e-6
    with torch.no_grad():
        for p, vi in zip(params, v):
            p.add_(eps * vi)
    up = loss().item()
    with torch.no_grad():
        for p, vi in zip(params, v):
            p.sub_(2 * eps * vi)
    down = loss().item()
    with torch.no_grad():
        for p, vi in zip(params, v):
            p.add_(eps * vi)
    fd = (up - down) / (2 * eps)
    analytic = sum(float((gr * vi).sum()) for gr, vi in zip(grads, v))
    assert analytic == pytest.approx(fd, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("name", available_backbones())
def test_second_input_derivatives_gradgradcheck(name):
    m = make(name, widths=[2, 3, 1])
    x = inputs(n=3, d=2, seed=3).requires_grad_(True)
    assert torch.autograd.gradgradcheck(m, (x,), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", ["kan", "metakan", "slimkan"])
def test_grid_range_per_layer_in_config_and_round_trip(name):
    ranges = [[-0.1, 0.1], [-1.0, 1.0], [-2.0, 2.0]]
    m = make(name, grid_range=ranges)
    assert m.config["grid_range"] == ranges
    assert [list(layer.basis.grid_range) for layer in m.layers] == ranges
    m2 = backbone_from_config(json.loads(json.dumps(m.config)))
    m2.load_state_dict(m.state_dict())
    x = inputs() * 0.1
    assert torch.equal(m2(x), m(x))
    # one pair for every layer stays one pair in the config (and a list of equal pairs collapses to it)
    assert make(name, grid_range=(-0.5, 0.5)).config["grid_range"] == [-0.5, 0.5]
    assert make(name, grid_range=[(-0.5, 0.5)] * 3).config["grid_range"] == [-0.5, 0.5]


@pytest.mark.parametrize("grid_range,match", [
    ([(-1, 1), (-1, 1)], r"grid_range lists 2 \(low, high\) pairs for 3 layers"),
    ([(-1, 1, 2)] * 3, r"grid_range must be a pair \(low, high\) or a list of one pair per layer"),
    ("wide", r"grid_range must be a pair"),
    ([(-1, 1), (1, -1), (-1, 1)], r"grid_range must satisfy low < high"),
])
def test_grid_range_bad_values_name_the_argument(grid_range, match):
    for name in ("kan", "metakan", "slimkan"):
        with pytest.raises(ValueError, match=match):
            make(name, grid_range=grid_range)


@pytest.mark.parametrize("name", available_backbones())
def test_state_dict_round_trip_through_json_config(name):
    m = make(name, seed=3)
    with torch.no_grad():  # move away from the seeded init, so equality below needs the loaded state
        g = torch.Generator().manual_seed(9)
        for p in m.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    config = json.loads(json.dumps(m.config))
    assert config["backbone"] == name
    x = inputs()
    for rebuild in (backbone_from_config, type(m).from_config):
        m2 = rebuild(config)
        assert type(m2) is type(m) and m2.config == m.config
        assert not torch.equal(m2(x), m(x))
        m2.load_state_dict(m.state_dict())
        assert torch.equal(m2(x), m(x))


@pytest.mark.parametrize("name", available_backbones())
def test_same_seed_identical_different_seed_differs(name):
    a, b, c = make(name, seed=5), make(name, seed=5), make(name, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
        if sa[key].abs().max() > 0:  # zero-initialised biases are equal for every seed
            assert not torch.equal(sa[key], sc[key]), key
    assert torch.equal(a(inputs()), b(inputs()))


@pytest.mark.parametrize("name", available_backbones())
def test_construction_leaves_global_rng_alone(name):
    before = torch.random.get_rng_state()
    make(name)
    assert torch.equal(torch.random.get_rng_state(), before)


def _kan_count(widths, n_basis):
    return sum(i * o * (n_basis + 1) for i, o in zip(widths[:-1], widths[1:]))


@pytest.mark.parametrize("widths,grid_size,spline_order", [([3, 6, 5, 2], 5, 3), ([10, 64, 1], 7, 2), ([1, 1], 1, 1)])
def test_kan_parameter_count(widths, grid_size, spline_order):
    m = KAN(widths, grid_size=grid_size, spline_order=spline_order)
    expected = sum(i * o * (grid_size + spline_order + 1) for i, o in zip(widths[:-1], widths[1:]))
    assert m.n_parameters() == expected == _kan_count(widths, grid_size + spline_order)


@pytest.mark.parametrize("share", [False, True])
@pytest.mark.parametrize("widths,e,h,grid_size", [([3, 6, 5, 2], 1, 16, 5), ([4, 9, 1], 3, 5, 2)])
def test_metakan_parameter_count(widths, e, h, grid_size, share):
    m = MetaKAN(widths, embedding_dim=e, hyper_hidden=h, grid_size=grid_size, share_hypernet=share)
    n_basis = grid_size + 3
    edges = sum(i * o for i, o in zip(widths[:-1], widths[1:]))
    per_hypernet = (e + 1) * h + (h + 1) * (n_basis + 1)
    n_hypernets = 1 if share else len(widths) - 1
    assert m.n_parameters() == edges * e + n_hypernets * per_hypernet
    groups = m.param_groups()
    assert sum(p.numel() for p in groups["embeddings"]) == edges * e
    assert sum(p.numel() for p in groups["hypernet"]) == n_hypernets * per_hypernet
    hypernets = {id(layer.source.hypernet) for layer in m.layers}
    assert len(hypernets) == n_hypernets


@pytest.mark.parametrize("widths,ranks", [([3, 6, 5, 2], (4, 2, 3)), ([10, 64, 64, 1], (8, 8, 4)),
                                          ([2, 16, 1], (8, 8, 8)), ([6, 6], 0.5)])
def test_slimkan_parameter_count(widths, ranks):
    grid_size, k = 5, 3
    n_basis = grid_size + k
    m = SlimKAN(widths, ranks=ranks, grid_size=grid_size, spline_order=k)
    expected = 0
    for i, o in zip(widths[:-1], widths[1:]):
        if isinstance(ranks, float):
            ro, ri, rb = (max(1, round(ranks * dim)) for dim in (o, i, n_basis))
        else:
            ro, ri, rb = min(ranks[0], o), min(ranks[1], i), ranks[2]
        expected += ro * ri * rb + o * ro + i * ri + n_basis * rb + o * i
    assert m.n_parameters() == expected
    for layer, (i, o) in zip(m.layers, zip(widths[:-1], widths[1:])):
        ro, ri, rb = layer.source.ranks
        assert layer.source.core.shape == (ro, ri, rb)
        assert layer.source.u_in.shape == (i, ri)


@pytest.mark.parametrize("widths", [[3, 6, 5, 2], [100, 64, 64, 1], [1, 1]])
def test_mlp_parameter_count(widths):
    m = MLP(widths)
    assert m.n_parameters() == sum((i + 1) * o for i, o in zip(widths[:-1], widths[1:]))


@pytest.mark.parametrize("name", available_backbones())
def test_param_groups_partition_trainable_parameters(name):
    m = make(name)
    groups = m.param_groups()
    if name == "metakan":
        assert set(groups) == {"hypernet", "embeddings"}
    else:
        assert set(groups) == {"default"}
    listed = [p for ps in groups.values() for p in ps]
    assert len({id(p) for p in listed}) == len(listed)  # disjoint, no duplicates
    assert {id(p) for p in listed} == {id(p) for p in m.parameters()}
    assert sum(p.numel() for p in listed) == m.n_parameters()
    frozen = next(iter(m.parameters()))
    frozen.requires_grad_(False)
    regrouped = [p for ps in m.param_groups().values() for p in ps]
    assert all(p is not frozen for p in regrouped)
    assert sum(p.numel() for p in regrouped) == m.n_parameters() == m.n_parameters(trainable_only=False) - frozen.numel()


def test_metakan_shared_hypernet_param_groups_deduplicated():
    m = MetaKAN([3, 4, 4, 1], share_hypernet=True)
    groups = m.param_groups()
    hyper = groups["hypernet"]
    assert len(hyper) == len({id(p) for p in hyper}) == 4  # fc1/fc2 weight and bias, once
    assert len(groups["embeddings"]) == 3


def test_param_groups_order_and_default_group_of_other_parameters():
    m = MetaKAN([3, 4, 1], base_weight="free")
    assert list(m.param_groups()) == ["hypernet", "embeddings", "base"]
    kan = make("kan")
    assert [id(p) for p in kan.param_groups()["default"]] == [id(p) for p in kan.parameters()]
    kan.extra = torch.nn.Linear(2, 2, dtype=torch.float64)  # registered outside the layers: "default", last
    assert [id(p) for p in kan.param_groups()["default"][-2:]] == [id(kan.extra.weight), id(kan.extra.bias)]


def test_group_parameters_sees_sources_in_any_module_and_outermost_sources_only():
    from pde_kan.nn import DenseCoefficients, HyperCoefficients, group_parameters
    from pde_kan.nn.layer import CoefficientSource

    class Wrapped(CoefficientSource):  # a source around another speaks for it (as a LoTRA adapter does)
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.delta = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))

        def param_groups(self):
            return {"delta": [self.delta]}

    net = torch.nn.Sequential(HyperCoefficients(2, 3, 8, hyper_hidden=4), torch.nn.Linear(3, 1),
                              Wrapped(DenseCoefficients(2, 3, 8)))
    groups = group_parameters(net)
    assert list(groups) == ["hypernet", "embeddings", "delta", "default"]
    assert [id(p) for p in groups["default"]] == [id(p) for p in net[1].parameters()] + [
        id(p) for p in net[2].base.parameters()]  # the wrapped base, not named by its wrapper, is "default"


def test_n_parameters_and_optimizer_groups():
    from pde_kan.nn import n_parameters, optimizer_groups
    m = MetaKAN([3, 4, 1], hyper_hidden=5)
    assert n_parameters(m) == m.n_parameters() == sum(p.numel() for p in m.parameters())
    m.layers[0].source.embeddings.requires_grad_(False)
    assert n_parameters(m) == n_parameters(m, trainable_only=False) - 12
    shared = torch.nn.Linear(2, 2)
    assert n_parameters(torch.nn.Sequential(shared, shared)) == 6  # a shared parameter counts once
    groups = m.param_groups()
    opt = optimizer_groups({**groups, "empty": []}, 1e-2, {"hypernet": 1e-3})
    assert [(g["name"], g["lr"]) for g in opt] == [("hypernet", 1e-3), ("embeddings", 1e-2)]
    assert opt[0]["params"] == groups["hypernet"]
    assert m.group_lr(1e-2) == {}  # a backbone recommends no per-group rates


def test_backbone_wrapper_forwards_the_interface():
    from pde_kan.nn import BackboneWrapper

    class Scaled(BackboneWrapper, torch.nn.Module):
        def __init__(self, backbone):
            super().__init__()
            self.backbone = backbone
            self.gain = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

        def forward(self, x):
            return self.gain * self.backbone(x)

    inner = make("metakan")
    w = Scaled(inner)
    assert (w.name, w.recommended_lr, w.in_features, w.out_features, w.dtype) == (
        "metakan", inner.recommended_lr, 3, 2, torch.float64)
    assert w.param_groups().keys() == inner.param_groups().keys() and w.group_lr(1e-3) == {}
    assert w.n_parameters() == inner.n_parameters() + 1
    with pytest.raises(ValueError, match="MetaKAN: x must have shape"):
        w.check(torch.zeros(4, 5, dtype=torch.float64))


@pytest.mark.parametrize("name", available_backbones())
def test_float32(name):
    m64 = make(name)
    m32 = make(name, dtype="float32")
    assert m32.config["dtype"] == "float32"
    assert all(p.dtype == torch.float32 for p in m32.parameters())
    m32.load_state_dict({k: v.float() for k, v in m64.state_dict().items()})
    x = inputs()
    y32 = m32(x.float())
    assert y32.dtype == torch.float32
    torch.testing.assert_close(y32.double(), m64(x), atol=1e-5, rtol=1e-5)
    y32.sum().backward()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in m32.parameters())
