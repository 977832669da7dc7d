"""Bad input raises errors that name the argument, the value received and what is expected."""
import pytest
import torch

from pde_kan.diff import available_engines, get_engine, gradient, laplacian, make_directions, pde_derivatives
from pde_kan.diff.directions import hutchinson
from pde_kan.nn import (KAN, MLP, BSplineBasis, HyperCoefficients, HyperNet, KANLayer, MetaKAN, SlimKAN,
                        available_backbones, backbone_from_config, get_activation, get_backbone, hosvd)
from pde_kan.nn import DenseCoefficients, TuckerCoefficients

X64 = torch.zeros(4, 3, dtype=torch.float64)
BACKBONE_NAMES = {"kan": "KAN", "metakan": "MetaKAN", "slimkan": "SlimKAN", "mlp": "MLP"}


@pytest.fixture(scope="module")
def kan():
    return KAN([3, 4, 1])


# --- network input ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", available_backbones())
def test_wrong_input_width(name):
    m = get_backbone(name, [3, 4, 1])
    with pytest.raises(ValueError, match=rf"{BACKBONE_NAMES[name]}: x must have shape \(N, 3\), got \(4, 5\)"):
        m(torch.zeros(4, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x must have shape \(N, 3\), got \(3,\)"):
        m(torch.zeros(3, dtype=torch.float64))


@pytest.mark.parametrize("name", available_backbones())
def test_wrong_dtype_names_the_fix(name):
    m = get_backbone(name, [3, 4, 1])
    with pytest.raises(TypeError, match=r"x must have dtype torch.float64, got torch.float32; convert with "
                                        r"x.to\(torch.float64\) or build the model with dtype=torch.float32"):
        m(X64.float())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input(kan, bad):
    x = X64.clone()
    x[1, 2] = bad
    kan(x)  # forward passes do not check values by default (a host sync per call) ...
    kan.check_finite = True  # ... unless asked to
    with pytest.raises(ValueError, match=r"KAN: x contains 1 non-finite value\(s\) \(NaN or inf\)"):
        kan(x)
    kan.check_finite = False  # the public entry points check once either way
    with pytest.raises(ValueError, match=r"KAN: x contains 1 non-finite value"):
        laplacian(kan, x, "jet")
    with pytest.raises(ValueError, match=r"KAN: x contains 1 non-finite value"):
        laplacian(kan, x, "autograd")


def test_input_not_a_tensor(kan):
    with pytest.raises(TypeError, match=r"KAN: x must be a torch.Tensor of shape \(N, 3\), got list"):
        kan([[0.0, 0.0, 0.0]])


@pytest.mark.parametrize("fn,owner", [(laplacian, "laplacian"), (gradient, "gradient"),
                                      (pde_derivatives, "pde_derivatives")])
def test_derivative_engines_check_the_points_first(kan, fn, owner):
    with pytest.raises(ValueError, match=rf"{owner}: x must have shape \(N, d\), got \(3,\)"):
        fn(kan, torch.zeros(3, dtype=torch.float64))
    with pytest.raises(TypeError, match=rf"{owner}: x must be a torch.Tensor of shape \(N, d\), got list"):
        fn(kan, [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"KAN: x must have shape \(N, 3\), got \(4, 2\)"):
        fn(kan, torch.zeros(4, 2, dtype=torch.float64))


# --- spline and grid arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [KAN, MetaKAN, SlimKAN])
def test_spline_order_below_one_for_kan_backbones(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: spline_order must be an integer >= 1, got 0; order-0 "
                                         rf"splines are piecewise constant"):
        cls([3, 4, 1], spline_order=0)


def test_spline_order_negative_for_the_basis():
    with pytest.raises(ValueError, match=r"BSplineBasis: spline_order must be an integer >= 0, got -1"):
        BSplineBasis(5, -1)
    with pytest.raises(TypeError, match=r"spline_order must be an integer >= 0, got 2.5"):
        BSplineBasis(5, 2.5)


@pytest.mark.parametrize("grid_size", [0, -3])
def test_grid_size_below_one(grid_size):
    with pytest.raises(ValueError, match=rf"BSplineBasis: grid_size must be an integer >= 1, got {grid_size}"):
        BSplineBasis(grid_size)
    with pytest.raises(ValueError, match=rf"grid_size must be an integer >= 1, got {grid_size}"):
        KAN([2, 1], grid_size=grid_size)


def test_grid_range_must_be_increasing_pair():
    with pytest.raises(ValueError, match=r"grid_range must satisfy low < high, got \(1.0, -1.0\)"):
        BSplineBasis(grid_range=(1.0, -1.0))
    with pytest.raises(ValueError, match=r"grid_range must be a pair \(low, high\), got 3"):
        BSplineBasis(grid_range=3)


def test_second_derivative_with_linear_splines_explains_why(kan):
    m = KAN([3, 4, 1], spline_order=1)
    with pytest.raises(ValueError, match=r"derivative order 2 requested with spline_order=1.*zero almost "
                                         r"everywhere.*spline_order >= 3"):
        laplacian(m, X64, "jet")


# --- widths, sizes, ranks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", available_backbones())
def test_bad_widths(name):
    with pytest.raises(ValueError, match=r"widths must list at least two layer widths like \[2, 16, 1\], got \[3\]"):
        get_backbone(name, [3])
    with pytest.raises(ValueError, match=r"widths\[1\] must be an integer >= 1, got 0"):
        get_backbone(name, [3, 0, 1])


@pytest.mark.parametrize("arg", ["embedding_dim", "hyper_hidden"])
def test_metakan_sizes(arg):
    with pytest.raises(ValueError, match=rf"MetaKAN: {arg} must be an integer >= 1, got 0"):
        MetaKAN([2, 1], **{arg: 0})


def test_shared_hypernet_must_match_the_grid():
    net = HyperNet(1, 4, 9)
    with pytest.raises(ValueError, match=r"shared hypernet emits 9 numbers per edge.*needs 7 \(n_basis=6"):
        HyperCoefficients(2, 3, 6, hypernet=net)
    with pytest.raises(ValueError, match=r"shared hypernet emits 9 numbers.*needs 8 \(n_basis=8, base_weight='free'"):
        HyperCoefficients(2, 3, 8, hypernet=net, base_weight="free")


def test_layer_coefficient_shape_mismatch():
    with pytest.raises(ValueError, match=r"KANLayer: source must have shape \(4, 3, 8\), got \(4, 2, 8\)"):
        KANLayer(3, 4, BSplineBasis(), DenseCoefficients(2, 4, 8))


def test_slimkan_basis_rank_above_n_basis():
    with pytest.raises(ValueError, match=r"SlimKAN: ranks must be \(r_out, r_in, r_basis\) with r_basis <= "
                                         r"n_basis=8, got \(4, 4, 9\)"):
        SlimKAN([3, 4, 1], ranks=(4, 4, 9))


def test_slimkan_ranks_wrong_length_or_fraction():
    with pytest.raises(ValueError, match=r"SlimKAN: ranks must be three integers \(r_out, r_in, r_basis\), got \(4, 4\)"):
        SlimKAN([3, 4, 1], ranks=(4, 4))
    with pytest.raises(ValueError, match=r"SlimKAN: ranks as a fraction must lie in \(0, 1\], got 1.5"):
        SlimKAN([3, 4, 1], ranks=1.5)
    with pytest.raises(ValueError, match=r"SlimKAN: ranks r_out must be an integer >= 1, got 0"):
        SlimKAN([3, 4, 1], ranks=(0, 2, 2))


def test_tucker_ranks_larger_than_dimensions():
    with pytest.raises(ValueError, match=r"SlimKAN: ranks r_out=5 must be between 1 and the tensor's dimension 4 "
                                         r"\(tensor shape \(4, 3, 8\)\); lower the rank"):
        TuckerCoefficients(3, 4, 8, ranks=(5, 2, 2))
    with pytest.raises(ValueError, match=r"r_in=4 must be between 1 and the tensor's dimension 3"):
        TuckerCoefficients(3, 4, 8, ranks=(2, 4, 2))
    with pytest.raises(ValueError, match=r"hosvd: ranks r_basis=9 must be between 1 and the tensor's dimension 8"):
        hosvd(torch.zeros(4, 3, 8, dtype=torch.float64), (2, 2, 9))
    with pytest.raises(ValueError, match=r"hosvd: ranks must be three integers \(r_out, r_in, r_basis\), got \(2, 2\)"):
        hosvd(torch.zeros(4, 3, 8, dtype=torch.float64), (2, 2))


# --- names looked up in registries ----------------------------------------------------------------------


def test_unknown_backbone():
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet'; valid names: 'kan', 'metakan', 'mlp', "
                                         r"'slimkan'"):
        get_backbone("resnet", [2, 1])
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet'"):
        backbone_from_config({"backbone": "resnet", "widths": [2, 1]})
    with pytest.raises(ValueError, match=r"backbone config must be a dict with a 'backbone' key, got \{'widths'"):
        backbone_from_config({"widths": [2, 1]})


def test_unknown_activation():
    with pytest.raises(ValueError, match=r"unknown activation 'relu2'; valid names: .*'tanh'"):
        MLP([2, 3, 1], activation="relu2")
    with pytest.raises(ValueError, match=r"unknown activation 'relu2'"):
        get_activation("relu2")


@pytest.mark.parametrize("cls", [KAN, MetaKAN, SlimKAN])
def test_unknown_base_activation(cls):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: unknown base_activation 'relu2'; valid names: .*'silu'"):
        cls([2, 3, 1], base_activation="relu2")


def test_unknown_dtype():
    with pytest.raises(ValueError, match=r"unknown dtype 'float16'; valid names: 'float64'"):
        KAN([2, 1], dtype="float16")


@pytest.mark.parametrize("fn", [laplacian, pde_derivatives])
def test_unknown_engine(kan, fn):
    with pytest.raises(ValueError, match=r"unknown engine 'exact'; valid names: 'jet', 'sdgd', "
                                         r"'hutchinson', 'autograd', 'sdgd_autograd'"):
        fn(kan, X64, "exact")


def test_unknown_probe_distribution(kan):
    with pytest.raises(ValueError, match=r"unknown distribution 'uniform'; valid names: 'rademacher', 'gaussian'"):
        laplacian(kan, X64, "hutchinson", n_probes=2, generator=torch.Generator(), distribution="uniform")
    with pytest.raises(ValueError, match=r"unknown distribution 'uniform'"):
        hutchinson(2, 3, 1, torch.Generator(), distribution="uniform")


# --- stochastic methods -----------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sdgd", "hutchinson", "sdgd_autograd"])
def test_stochastic_engine_needs_n_probes_and_generator(kan, engine):
    with pytest.raises(ValueError, match=rf"engine '{engine}' needs n_probes, the number of probe directions"):
        laplacian(kan, X64, engine, generator=torch.Generator())
    with pytest.raises(ValueError, match=rf"engine '{engine}' is stochastic and needs an explicit torch.Generator"):
        laplacian(kan, X64, engine, n_probes=2)
    with pytest.raises(ValueError, match=rf"{engine}: n_probes must be an integer >= 1, got 0"):
        laplacian(kan, X64, engine, n_probes=0, generator=torch.Generator())
    with pytest.raises(ValueError, match=rf"engine '{engine}' needs n_probes"):
        pde_derivatives(kan, X64, engine, generator=torch.Generator())


@pytest.mark.parametrize("engine", ["sdgd", "sdgd_autograd"])
def test_sdgd_n_probes_above_dimension(kan, engine):
    with pytest.raises(ValueError, match=rf"{engine}: n_probes=4 exceeds the dimension d=3; use n_probes <= d or "
                                         r"engine='jet'"):
        laplacian(kan, X64, engine, n_probes=4, generator=torch.Generator())
    with pytest.raises(ValueError, match=rf"{engine}: n_probes=3 exceeds the dimension d=2"):
        pde_derivatives(kan, X64, engine, spatial_dim=2, n_probes=3, generator=torch.Generator())


def test_make_directions_serves_every_engine_of_the_registry():
    """Every engine names its directions: all coordinates for the exact ones, the same SDGD draw for the jet
    and the autograd SDGD engines (the registry replaced the "not a jet method" refusal)."""
    exact = make_directions("autograd", 2, 3)
    assert exact.index.tolist() == [0, 1, 2] and exact.scale == 1.0
    a = make_directions("sdgd", 2, 5, n_probes=2, generator=torch.Generator().manual_seed(1))
    b = make_directions("sdgd_autograd", 2, 5, n_probes=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.index, b.index) and a.scale == b.scale == 2.5
    engines = {name: get_engine(name) for name in available_engines()}
    assert {name: (e.jet, e.stochastic) for name, e in engines.items()} == {
        "jet": (True, False), "sdgd": (True, True), "hutchinson": (True, True), "autograd": (False, False),
        "sdgd_autograd": (False, True)}
    assert all(e.needs_probes == e.stochastic for e in engines.values())


def test_jet_needs_a_backbone_and_scalar_fields(kan):
    with pytest.raises(TypeError, match=r"forward jets need a model with a `layers` sequence.*got function"):
        laplacian(lambda z: z.sum(-1, keepdim=True), X64, "jet")
    two = KAN([3, 4, 2])
    with pytest.raises(ValueError, match=r"gradient needs a scalar-output model, got 2 outputs"):
        gradient(two, X64)
    with pytest.raises(ValueError, match=r"autograd_laplacian needs a scalar field, got output shape \(4, 2\)"):
        laplacian(two, X64, "autograd")
