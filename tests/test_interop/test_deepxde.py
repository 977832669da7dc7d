"""DeepXDE interop: import isolation, residual agreement with pde_kan, training through dde.Model."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from pde_kan import KAN, MLP, MetaKAN, SlimKAN
from pde_kan.problems import AllenCahn, Ball, Box, Poisson, SpaceTime

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("deepxde")
ddei = pytest.importorskip("pde_kan.interop.deepxde")
pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: intra-op threads only add synchronisation


@pytest.fixture(scope="module")
def dde():
    """DeepXDE in float64 for this module; DeepXDE's previous precision is restored afterwards."""
    module = ddei.load_deepxde()
    before = module.config.default_float()
    ddei.set_float("float64")
    yield module
    ddei.set_float(before)


@pytest.mark.slow
def test_import_isolated_in_fresh_interpreter(tmp_path):
    """DeepXDE's pytorch backend calls torch.set_default_device("cuda") when CUDA is present; pretend it is and
    check that torch's defaults, DDE_BACKEND and the home directory are untouched and that nothing is printed."""
    script = textwrap.dedent("""
        import contextlib, io, os, sys
        import torch
        torch.cuda.is_available = lambda: True          # DeepXDE would switch the default device to CUDA
        torch.set_default_dtype(torch.float64)          # a non-default dtype the user chose must survive
        os.environ["DDE_BACKEND"] = "tensorflow"
        import pde_kan.interop
        import pde_kan.interop.deepxde as interop
        assert "deepxde" not in sys.modules, "deepxde imported at package import"
        try:
            interop.load_deepxde()
            raise SystemExit("no error for DDE_BACKEND=tensorflow")
        except ImportError as e:
            assert "DDE_BACKEND='tensorflow'" in str(e) and "pytorch" in str(e), e
        del os.environ["DDE_BACKEND"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            dde = interop.load_deepxde()
        assert dde.backend.backend_name == "pytorch"
        assert out.getvalue() == "", repr(out.getvalue())
        assert "DDE_BACKEND" not in os.environ
        assert torch.get_default_dtype() == torch.float64, torch.get_default_dtype()
        assert torch.get_default_device() == torch.device("cpu"), torch.get_default_device()
        from pde_kan import KAN
        y = KAN([2, 3, 1])(torch.zeros(4, 2, dtype=torch.float64))
        assert y.device.type == "cpu" and torch.zeros(1).device.type == "cpu"
        print("OK")
    """)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("DDE_BACKEND", None)
    r = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "OK"
    assert not (tmp_path / ".deepxde").exists()  # DeepXDE writes its config there when no backend is chosen


def _agreement_cases():
    return [
        (Poisson.sine_square(), KAN([2, 5, 1], seed=1)),
        (Poisson.two_body(3, seed=2), MetaKAN([3, 4, 1], seed=3)),
        (Poisson.sine_cube(5), SlimKAN([5, 4, 1], ranks=(2, 2, 3), seed=4)),
        (AllenCahn.two_body(3, seed=5), KAN([3, 4, 1], seed=6)),
        (AllenCahn.time(2, c=0.5), KAN([3, 4, 1], seed=7)),
    ]


@pytest.mark.parametrize("case", range(5), ids=["sine-square", "poisson-2body", "sine-cube", "ac-2body", "ac-time"])
def test_residual_agrees_with_pde_kan(dde, case):
    """The same network at the same points: pde_kan's forward-jet residual vs DeepXDE's dde.grad residual."""
    problem, backbone = _agreement_cases()[case]
    data = ddei.to_deepxde(problem, num_domain=16, seed=0)
    net = ddei.as_dde_net(backbone, problem=problem)
    x = problem.sample_interior(64, torch.Generator().manual_seed(11))
    ours = problem.residual(x, problem.derivatives(backbone, x, "jet"))
    xg = x.clone().requires_grad_(True)
    dde.grad.clear()
    theirs = data.pde(xg, net(xg))[:, 0]
    dde.grad.clear()
    assert theirs.shape == ours.shape
    assert float(ours.detach().abs().max()) > 1e-3  # an untrained net: the residual is far from zero
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-10)
    # the network output is the problem's ansatz (hard BC) or the raw output (soft BC)
    torch.testing.assert_close(net(x)[:, 0], problem.ansatz(x, backbone(x)), rtol=0, atol=1e-14)


def test_geometry_and_boundary_conditions(dde):
    ball = ddei.to_deepxde(Poisson.two_body(4), num_domain=8, seed=0)
    assert isinstance(ball.geom, dde.geometry.Hypersphere) and ball.geom.dim == 4
    assert ball.bcs == [] and ball.loss_weights is None
    cube = ddei.to_deepxde(Poisson.sine_cube(5), num_domain=20, num_boundary=10, seed=0)
    assert isinstance(cube.geom, dde.geometry.Hypercube) and cube.geom.dim == 5
    np.testing.assert_array_equal(cube.geom.xmin, np.zeros(5))
    np.testing.assert_array_equal(cube.geom.xmax, np.ones(5))
    assert len(cube.bcs) == 1 and isinstance(cube.bcs[0], dde.icbc.DirichletBC)
    assert cube.num_bcs == [10] and cube.train_x.dtype == np.float64
    assert cube.loss_weights == [1.0, 10.0]
    # Dirichlet data: the exact solution on the boundary points
    xb = cube.train_x_bc
    assert np.all(np.any((xb == 0) | (xb == 1), axis=1))
    g = cube.bcs[0].func(xb, 0, len(xb), None)
    np.testing.assert_allclose(np.asarray(g)[:, 0], np.sin(np.pi * xb / 2).sum(1), rtol=0, atol=1e-14)
    st = ddei.to_deepxde(AllenCahn.time(2), num_domain=8, seed=0)
    assert isinstance(st.geom, dde.geometry.GeometryXTime) and st.geom.dim == 3
    # geometry by domain type (a registry keyed by the class), not by class-name strings
    assert set(ddei.GEOMETRIES) == {Ball, Box, SpaceTime}
    with pytest.raises(TypeError, match=r"no DeepXDE geometry for domain type str; supported: Ball, Box, "
                                        r"SpaceTime"):
        ddei._geometry(dde, "ball")


@pytest.mark.slow
def test_kan_trained_through_dde_model_sine_square(dde):
    """A KAN [2, 8, 1] trained by dde.Model (Adam, 100 steps, 200 fixed points, float64) on
    -Δu = 2π² sin(πx) sin(πy), hard BC: rel L2 0.026 measured; asserted < 0.06."""
    problem = Poisson.sine_square()
    data = ddei.to_deepxde(problem, num_domain=200, seed=0)
    net = ddei.as_dde_net(KAN([2, 8, 1], seed=0), problem=problem)
    model = dde.Model(data, net)
    opt = ddei.dde_optimizer(net, lr=2e-2)
    model.compile(opt, verbose=0)
    assert model.opt is opt  # DeepXDE uses the torch optimizer instance as is
    x = problem.sample_interior(2000, torch.Generator().manual_seed(5))
    exact = problem.exact(x)

    def rel_l2():
        pred = torch.from_numpy(model.predict(x.numpy()))[:, 0]
        return float((pred - exact).norm() / exact.norm())

    before = rel_l2()
    losshistory, _ = model.train(iterations=100, verbose=0, display_every=50)
    after = rel_l2()
    assert before > 0.9
    assert after < 0.06, after
    assert losshistory.loss_train[-1][0] < 1e-2 * losshistory.loss_train[0][0]


@pytest.mark.slow
def test_sine_cube_5d_end_to_end(dde):
    """5-D hypercube, soft Dirichlet BC through DeepXDE's DirichletBC and loss weights; MetaKAN with per-group
    learning rates from a torch optimizer."""
    problem = Poisson.sine_cube(5)
    data = ddei.to_deepxde(problem, num_domain=60, num_boundary=40, seed=0)
    backbone = MetaKAN([5, 6, 1], seed=0)
    net = ddei.as_dde_net(backbone, problem=problem)
    assert net._output_transform is None  # soft BC: the network output is u itself
    opt = ddei.dde_optimizer(net, lr=1e-2, group_lr={"hypernet": 3e-3})
    assert {g["name"]: g["lr"] for g in opt.param_groups} == {"hypernet": 3e-3, "embeddings": 1e-2}
    model = dde.Model(data, net)
    model.compile(opt, loss_weights=data.loss_weights, verbose=0)
    start = [p.detach().clone() for p in backbone.parameters()]
    losshistory, _ = model.train(iterations=20, verbose=0, display_every=10)
    first, last = np.asarray(losshistory.loss_train[0]), np.asarray(losshistory.loss_train[-1])
    assert first.shape == (2,)  # PDE and boundary terms
    assert np.all(np.isfinite(last)) and last.sum() < first.sum()
    assert all(not torch.equal(a, b) for a, b in zip(start, backbone.parameters()))  # trained in place
    pred = model.predict(problem.sample_interior(7, torch.Generator().manual_seed(1)).numpy())
    assert pred.shape == (7, 1) and pred.dtype == np.float64


def test_lotra_adapter_trains_with_its_component_rates(dde):
    """A LoTRA-adapted KAN inside dde.Model: the optimizer carries LoTRA's per-component learning rates, only
    the adapter moves, the frozen base does not."""
    from pde_kan.transfer import LoTRAConfig, inject_lotra

    problem = Poisson.sine_square()
    adapted = inject_lotra(KAN([2, 4, 1], seed=0), LoTRAConfig(ranks=(2, 2, 2)))
    net = ddei.as_dde_net(adapted, problem=problem)
    rates = adapted.group_lr(1e-2)
    opt = ddei.dde_optimizer(net, group_lr=rates)
    assert {g["name"]: g["lr"] for g in opt.param_groups} == rates
    assert len(set(rates.values())) > 1  # the rule gives the components different rates
    frozen = [p for p in adapted.parameters() if not p.requires_grad]
    base = [p.detach().clone() for p in frozen]
    assert base
    model = dde.Model(ddei.to_deepxde(problem, num_domain=20, seed=0), net)
    model.compile(opt, verbose=0)
    model.train(iterations=3, verbose=0)
    assert all(torch.equal(a, b) for a, b in zip(base, frozen))
    assert any(float(p.detach().abs().max()) > 0 for n, p in adapted.named_parameters() if "core" in n)


def test_feature_transform_and_regularizer(dde):
    backbone = MLP([2, 4, 1], seed=0)
    net = ddei.as_dde_net(backbone, regularizer=("l2", 1e-3))
    assert net.regularizer == ("l2", 1e-3) and isinstance(net, dde.nn.pytorch.NN)
    x = torch.rand(5, 2, dtype=torch.float64)
    net.apply_feature_transform(lambda z: 2 * z - 1)
    net.apply_output_transform(lambda z, y: y + z[:, :1])
    torch.testing.assert_close(net(x), backbone(2 * x - 1) + x[:, :1], rtol=0, atol=0)
    assert net.num_trainable_parameters() == backbone.n_parameters()


def test_interop_errors(dde):
    problem = Poisson.sine_square()
    with pytest.raises(TypeError, match=r"as_dde_net: backbone must be a torch.nn.Module .* got str"):
        ddei.as_dde_net("kan")
    with pytest.raises(ValueError, match=r"model.in_features must equal the problem dimension 2, got 3"):
        ddei.as_dde_net(KAN([3, 4, 1]), problem=problem)
    with pytest.raises(ValueError, match=r"unknown regularizer 'l3'; valid names: 'l1', 'l2'"):
        ddei.as_dde_net(KAN([2, 4, 1]), regularizer=("l3", 1.0))
    with pytest.raises(ValueError, match=r"group_lr names unknown parameter group\(s\) \['core'\]"):
        ddei.dde_optimizer(ddei.as_dde_net(KAN([2, 4, 1])), group_lr={"core": 1e-3})
    with pytest.raises(ValueError, match=r"to_deepxde: num_domain must be an integer >= 1, got 0"):
        ddei.to_deepxde(problem, num_domain=0)
    with pytest.raises(ValueError, match=r"soft boundary condition and needs num_boundary >= 1, got 0"):
        ddei.to_deepxde(Poisson.sine_cube(3), num_boundary=0)
    with pytest.raises(TypeError, match=r"to_deepxde: problem must be a pde_kan problem"):
        ddei.to_deepxde("poisson-sine-square")
    with pytest.raises(ValueError, match=r"hard_bc_transform: .*soft boundary condition"):
        ddei.hard_bc_transform(Poisson.sine_cube(3))
    # a hard-BC problem trained with a network that lacks the ansatz would silently ignore the boundary
    data = ddei.to_deepxde(problem, num_domain=8, seed=0)
    model = dde.Model(data, ddei.as_dde_net(KAN([2, 4, 1])))
    model.compile(ddei.dde_optimizer(model.net), verbose=0)
    with pytest.raises(ValueError, match=r"hard boundary condition .* no output transform; build it with "
                                         r"as_dde_net\(backbone, problem=problem\)"):
        model.train(iterations=1, verbose=0)
    # float32 backbone fed float64 points
    net32 = ddei.as_dde_net(KAN([2, 4, 1], dtype=torch.float32))
    with pytest.raises(TypeError, match=r"DeepXDE passed torch.float64 points but the backbone has torch.float32 "
                                        r"parameters; call pde_kan.interop.deepxde.set_float\('float32'\)"):
        net32(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"set_float: dtype must be 'float64' or 'float32'|unknown dtype 'float16'"):
        ddei.set_float("float16")
