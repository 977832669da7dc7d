"""DeepXDE interoperability: pde_kan backbones as DeepXDE networks, pde_kan problems as DeepXDE data.

DeepXDE (https://github.com/lululxvi/deepxde, 1.15 tested) is imported lazily, on the first call that needs it
(:func:`load_deepxde`), with the pytorch backend. Importing it has global side effects that this module undoes
or avoids:

* it picks its backend from ``DDE_BACKEND`` (or ``~/.deepxde/config.json``, which it *writes* when no backend
  is configured); :func:`load_deepxde` sets ``DDE_BACKEND=pytorch`` for the import and restores the variable
  afterwards, and refuses another explicitly requested backend;
* its pytorch backend calls ``torch.set_default_device("cuda")`` when CUDA is present; torch's default device
  and dtype are saved before the import and restored after it, so the rest of pde_kan (and the user's code)
  behaves exactly as before. DeepXDE then runs on torch's default device — the CPU unless you set another;
  put the backbone on the same device;
* it prints its backend banner on stderr; the banner goes to the ``pde_kan`` logger at DEBUG level instead.

Precision: DeepXDE feeds its points in ``dde.config.real`` (float32 unless changed). pde_kan's PINN default is
float64. ``dde.config.set_default_float("float64")`` also calls ``torch.set_default_dtype(torch.float64)`` for
the whole process; :func:`set_float` switches DeepXDE's precision only (torch's default dtype untouched). A
dtype mismatch between points and backbone raises a TypeError naming both and the fix.

Typical use::

    import deepxde as dde
    from pde_kan import MetaKAN
    from pde_kan.problems import Poisson
    from pde_kan.interop.deepxde import as_dde_net, dde_optimizer, set_float, to_deepxde

    set_float("float64")
    problem = Poisson.two_body(dim=10, seed=0)
    data = to_deepxde(problem, num_domain=100, seed=0)        # dde.data.PDE on dde.geometry.Hypersphere
    net = as_dde_net(MetaKAN([10, 32, 32, 1]), problem=problem)  # hard BC as the net's output transform
    model = dde.Model(data, net)
    model.compile(dde_optimizer(net, lr=1e-3, group_lr={"hypernet": 1e-4}), loss_weights=data.loss_weights)
    model.train(iterations=2000)

Per-group learning rates: in DeepXDE 1.15 ``Model.compile(optimizer, lr=...)`` accepts a string name (one
learning rate for every parameter) *or* a ``torch.optim.Optimizer`` instance, which it uses as is (``lr`` is
then ignored; ``decay=(...)`` still wraps it in a torch learning-rate scheduler). :func:`dde_optimizer` builds
that instance with one parameter group per backbone group (MetaKAN's ``"hypernet"`` / ``"embeddings"``, a
LoTRA adapter's components: ``group_lr=adapted.group_lr(1e-3)`` gives LoTRA's per-component rates). An L1/L2
``regularizer`` set on the network is applied by DeepXDE only for its own string optimizers (L2 through
``weight_decay``); with an optimizer instance pass ``weight_decay`` here.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from typing import Any, Callable, Mapping, Optional

import numpy as np
import torch

from .._checks import choice, positive_float, positive_int, resolve_dtype
from ..diff import Derivatives
from ..nn import BackboneWrapper
from ..problems import Ball, Box, Problem, SpaceTime

log = logging.getLogger("pde_kan")

_STATE: dict[str, Any] = {}


# ---- import isolation --------------------------------------------------------------------------------------
def load_deepxde():
    """Import and return ``deepxde`` with the pytorch backend, leaving torch's global defaults as they were.

    Raises:
        ImportError: DeepXDE is not installed, ``DDE_BACKEND`` names another backend, or DeepXDE was already
            imported with another backend.
    """
    if "dde" in _STATE:
        return _STATE["dde"]
    loaded = sys.modules.get("deepxde")
    if loaded is not None:  # imported by the user already: its side effects are theirs; check the backend only
        backend = getattr(getattr(loaded, "backend", None), "backend_name", None)
        if backend != "pytorch":
            raise ImportError(f"deepxde was already imported with backend {backend!r}; pde_kan backbones are torch "
                              f"modules and need the pytorch backend: set DDE_BACKEND=pytorch before importing "
                              f"deepxde (or import pde_kan.interop.deepxde's load_deepxde() first).")
        _STATE["dde"] = loaded
        return loaded
    requested = os.environ.get("DDE_BACKEND")
    if requested not in (None, "pytorch"):
        raise ImportError(f"DDE_BACKEND={requested!r}, but pde_kan.interop.deepxde needs DeepXDE's pytorch backend; "
                          f"unset DDE_BACKEND or set DDE_BACKEND=pytorch.")
    dtype, device = torch.get_default_dtype(), torch.get_default_device()
    banner = io.StringIO()
    os.environ["DDE_BACKEND"] = "pytorch"
    try:
        with contextlib.redirect_stderr(banner), contextlib.redirect_stdout(banner):
            import deepxde
    except ImportError as e:
        raise ImportError(f"pde_kan.interop.deepxde needs DeepXDE (pip install 'deepxde>=1.10'): {e}") from None
    finally:
        if requested is None:
            os.environ.pop("DDE_BACKEND", None)
        torch.set_default_dtype(dtype)
        # unconditionally: asking torch for the current default device would itself create a tensor there
        torch.set_default_device(None if device.type == "cpu" else device)
    if banner.getvalue().strip():
        log.debug("deepxde import: %s", banner.getvalue().strip())
    _STATE["dde"] = deepxde
    return deepxde


def set_float(dtype: Any = "float64") -> None:
    """Set the precision of DeepXDE's points and losses (``"float64"`` or ``"float32"``).

    Unlike ``dde.config.set_default_float``, torch's process-wide default dtype is left alone and nothing is
    printed. Call it before :func:`to_deepxde` (the points are drawn in this precision).
    """
    dde = load_deepxde()
    dt = resolve_dtype(dtype)
    setters = {torch.float64: dde.config.real.set_float64, torch.float32: dde.config.real.set_float32}
    if dt not in setters:
        raise ValueError(f"set_float: dtype must be 'float64' or 'float32', got {dtype!r}.")
    setters[dt]()


# ---- networks ----------------------------------------------------------------------------------------------
def _net_class():
    if "net_class" in _STATE:
        return _STATE["net_class"]
    dde = load_deepxde()

    class KANNet(BackboneWrapper, dde.nn.pytorch.NN):
        """A pde_kan backbone as a ``deepxde.nn.pytorch.NN``.

        ``forward(inputs (N, d))``: DeepXDE's feature transform (if any) -> backbone -> DeepXDE's output
        transform ``(inputs, y) -> y`` (if any). Parameters are the backbone's (``backbone.*`` in the state
        dict); the backbone interface (``param_groups``, ``dtype``, ...) is forwarded by
        :class:`~pde_kan.nn.BackboneWrapper`.
        """

        def __init__(self, backbone: torch.nn.Module, regularizer=None):
            super().__init__()
            self.backbone = backbone
            self.regularizer = regularizer
            self.problem = None

        def forward(self, inputs: torch.Tensor) -> torch.Tensor:
            if isinstance(inputs, torch.Tensor) and inputs.is_floating_point() and inputs.dtype != self.dtype:
                raise TypeError(
                    f"as_dde_net: DeepXDE passed {inputs.dtype} points but the backbone has {self.dtype} parameters; "
                    f"call pde_kan.interop.deepxde.set_float({str(self.dtype).replace('torch.', '')!r}) before "
                    f"building the data, or build the backbone with dtype={inputs.dtype}.")
            x = inputs if self._input_transform is None else self._input_transform(inputs)
            y = self.backbone(x)
            if self._output_transform is not None:
                y = self._output_transform(inputs, y)
            return y

    _STATE["net_class"] = KANNet
    return KANNet


REGULARIZERS = ("l1", "l2")


def hard_bc_transform(problem) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """DeepXDE output transform ``(x (N, d), raw (N, 1)) -> u (N, 1)`` from the problem's hard-BC ansatz."""
    _check_problem(problem, "hard_bc_transform")
    if not problem.hard_boundary:
        raise ValueError(f"hard_bc_transform: problem {problem.name!r} has a soft boundary "
                         f"condition (no ansatz); to_deepxde gives it a DirichletBC instead.")

    def transform(x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return problem.ansatz(x, raw).unsqueeze(-1)

    return transform


def as_dde_net(backbone: torch.nn.Module, problem=None, regularizer=None):
    """Wrap a pde_kan backbone as a ``deepxde.nn.pytorch.NN`` for ``dde.Model``.

    Args:
        backbone: any pde_kan backbone (KAN, MetaKAN, SlimKAN, MLP, LoTRA-adapted) ``(N, d) -> (N, out)``: a
            module with ``in_features``, ``out_features``, ``dtype`` and ``param_groups()``.
        problem: optional pde_kan problem; with a hard boundary condition its ansatz becomes the network's
            output transform (``net.apply_output_transform``), and the model's dimensions are checked.
        regularizer: DeepXDE regularizer ``("l1", factor)`` or ``("l2", factor)`` or None.

    Returns:
        A ``deepxde.nn.pytorch.NN`` whose parameters are the backbone's (trained in place).
    """
    if not isinstance(backbone, torch.nn.Module):
        raise TypeError(f"as_dde_net: backbone must be a torch.nn.Module (a pde_kan backbone such as "
                        f"KAN([2, 16, 1])), got {type(backbone).__name__}.")
    if regularizer is not None:
        if not isinstance(regularizer, (tuple, list)) or len(regularizer) != 2:
            raise ValueError(f"as_dde_net: regularizer must be a pair like ('l2', 1e-4), got {regularizer!r}.")
        choice("regularizer", regularizer[0], REGULARIZERS, owner="as_dde_net")
        regularizer = (regularizer[0], positive_float("regularizer factor", regularizer[1], owner="as_dde_net"))
    net = _net_class()(backbone, regularizer)
    if problem is not None:
        problem.check_model(backbone)
        net.problem = problem
        if problem.hard_boundary:
            net.apply_output_transform(hard_bc_transform(problem))
    return net


OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def dde_optimizer(net: torch.nn.Module, lr: float = 1e-3, group_lr: Optional[Mapping[str, float]] = None,
                  optimizer: str = "adam", **kwargs: Any) -> torch.optim.Optimizer:
    """A torch optimizer with one parameter group per backbone group, for ``dde.Model.compile(optimizer)``.

    Args:
        net: the network from :func:`as_dde_net` (or a backbone).
        lr: learning rate of every group not in ``group_lr``.
        group_lr: per-group learning rates, e.g. ``{"hypernet": 1e-4, "embeddings": 1e-3}`` for MetaKAN.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``; ``kwargs`` go to its constructor (``weight_decay``...).
    """
    lr = positive_float("lr", lr, owner="dde_optimizer")
    cls = OPTIMIZERS[choice("optimizer", optimizer, OPTIMIZERS, owner="dde_optimizer")]
    groups = net.param_groups()
    group_lr = dict(group_lr or {})
    unknown = sorted(set(group_lr) - set(groups))
    if unknown:
        raise ValueError(f"dde_optimizer: group_lr names unknown parameter group(s) {unknown}; this network has "
                         f"groups {sorted(groups)}.")
    param_groups = [{"params": ps, "lr": positive_float(f"group_lr[{name!r}]", group_lr.get(name, lr),
                                                        owner="dde_optimizer"), "name": name}
                    for name, ps in groups.items() if ps]
    if not param_groups:
        raise ValueError("dde_optimizer: the network has no trainable parameters; unfreeze some.")
    return cls(param_groups, **kwargs)


# ---- problems ----------------------------------------------------------------------------------------------
def _check_problem(problem, owner: str) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"{owner}: problem must be a pde_kan problem (e.g. Poisson.sine_square()), got "
                        f"{type(problem).__name__}.")


def dde_residual(problem) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The problem's PDE residual as a DeepXDE ``pde(x, y) -> (N, 1)`` with derivatives from ``dde.grad``.

    The Laplacian sums ``dde.grad.hessian(y, x, i=i, j=i)`` over the spatial coordinates, the first derivatives
    (e.g. ``u_t``) come from ``dde.grad.jacobian``; the residual formula itself is the problem's own
    :meth:`~pde_kan.problems.Problem.residual`, so the source term is derived in one place.
    """
    dde = load_deepxde()
    spatial = int(problem.spatial_dim)
    first_order = tuple(problem.first_order)

    def pde(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        lap = dde.grad.hessian(y, x, i=0, j=0)
        for i in range(1, spatial):
            lap = lap + dde.grad.hessian(y, x, i=i, j=i)
        if first_order:
            first = torch.cat([dde.grad.jacobian(y, x, i=0, j=j) for j in first_order], dim=1)
        else:
            first = y.new_zeros(y.shape[0], 0)
        d = Derivatives(y[:, 0], lap[:, 0], first)
        return problem.residual(x.detach(), d).unsqueeze(-1)

    return pde


def _ball(dde, domain):
    if domain.dim == 1:
        return dde.geometry.Interval(domain.center[0] - domain.radius, domain.center[0] + domain.radius)
    return dde.geometry.Hypersphere(list(domain.center), domain.radius)


def _box(dde, domain):
    if domain.dim == 1:
        return dde.geometry.Interval(domain.lows[0], domain.highs[0])
    return dde.geometry.Hypercube(list(domain.lows), list(domain.highs))


def _space_time(dde, domain):
    space = _geometry(dde, domain.space)
    return dde.geometry.GeometryXTime(space, dde.geometry.TimeDomain(domain.t0, domain.t1))


#: domain type -> ``(dde, domain) -> DeepXDE geometry``
GEOMETRIES: dict[type, Callable] = {Ball: _ball, Box: _box, SpaceTime: _space_time}


def _geometry(dde, domain):
    for cls in type(domain).__mro__:
        if cls in GEOMETRIES:
            return GEOMETRIES[cls](dde, domain)
    raise TypeError(f"to_deepxde: no DeepXDE geometry for domain type {type(domain).__name__}; supported: "
                    f"{', '.join(sorted(c.__name__ for c in GEOMETRIES))}.")


def _numpy_fn(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[np.ndarray], np.ndarray]:
    def f(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
        return fn(t).detach().cpu().numpy().reshape(-1, 1).astype(x.dtype)

    return f


def _data_class(base):
    key = f"data_class_{base.__name__}"
    if key in _STATE:
        return _STATE[key]

    class ProblemData(base):
        """DeepXDE data for a pde_kan problem: checks on first use that the network fits the problem."""

        problem = None
        loss_weights = None

        def losses(self, targets, outputs, loss_fn, inputs, model, aux=None):
            net = model.net
            if self.problem.hard_boundary and net._output_transform is None:
                raise ValueError(
                    f"to_deepxde: problem {self.problem.name!r} has a hard boundary condition (its data has no "
                    f"DeepXDE BCs), but the network has no output transform; build it with "
                    f"as_dde_net(backbone, problem=problem) or call "
                    f"net.apply_output_transform(hard_bc_transform(problem)).")
            if isinstance(net, _net_class()):
                self.problem.check_model(net.backbone)
            return super().losses(targets, outputs, loss_fn, inputs, model, aux=aux)

    _STATE[key] = ProblemData
    return ProblemData


def to_deepxde(problem, num_domain: int = 100, num_boundary: int = 100, num_initial: int = 0,
               seed: Optional[int] = None, train_distribution: str = "pseudo", num_test: Optional[int] = None):
    """A ``dde.data.PDE`` (``dde.data.TimePDE`` for space-time problems) for a pde_kan problem.

    Geometry: :class:`~pde_kan.problems.Ball` -> ``dde.geometry.Hypersphere``, :class:`~pde_kan.problems.Box`
    -> ``dde.geometry.Hypercube`` (``Interval`` in 1-D), :class:`~pde_kan.problems.SpaceTime` ->
    ``GeometryXTime``. The residual is :func:`dde_residual`. Boundary conditions: none in the data for a hard
    boundary condition (the network's output transform carries it: use ``as_dde_net(backbone, problem=...)``),
    a ``dde.icbc.DirichletBC`` with the exact solution for a soft one. ``data.loss_weights`` is the matching
    ``loss_weights`` for ``model.compile`` (``[1, problem.boundary_weight]`` with a soft BC, else None).

    Args:
        problem: a :mod:`pde_kan.problems` problem.
        num_domain, num_boundary, num_initial: DeepXDE's point counts (``num_boundary`` is used only with a
            soft BC; ``num_initial`` only for space-time problems).
        seed: None samples with DeepXDE (``train_distribution``, NumPy's global RNG for ``"pseudo"``); an integer
            draws the points with the problem's own samplers from ``torch.Generator().manual_seed(seed)``
            (reproducible, identical to pde_kan's distribution) and hands them to DeepXDE as anchors.
        num_test: DeepXDE test points (None: the training points).
    """
    dde = load_deepxde()
    _check_problem(problem, "to_deepxde")
    num_domain = positive_int("num_domain", num_domain, owner="to_deepxde")
    num_boundary = positive_int("num_boundary", num_boundary, minimum=0, owner="to_deepxde")
    num_initial = positive_int("num_initial", num_initial, minimum=0, owner="to_deepxde")
    if num_test is not None:
        num_test = positive_int("num_test", num_test, owner="to_deepxde")
    soft = not problem.hard_boundary
    if soft and num_boundary == 0:
        raise ValueError(f"to_deepxde: problem {problem.name!r} has a soft boundary condition and needs "
                         f"num_boundary >= 1, got 0.")
    geom = _geometry(dde, problem.domain)
    is_time = isinstance(problem.domain, SpaceTime)
    exact = _numpy_fn(problem.exact)
    bcs = [dde.icbc.DirichletBC(geom, exact, lambda _, on_boundary: on_boundary)] if soft else []
    real = dde.config.real(np)
    kw: dict[str, Any] = dict(num_domain=num_domain, num_boundary=num_boundary if soft else 0,
                              train_distribution=train_distribution, solution=exact, num_test=num_test)
    if seed is not None:
        seed = positive_int("seed", seed, minimum=0, owner="to_deepxde")
        g = torch.Generator().manual_seed(seed)
        pts = [problem.sample_interior(num_domain, g)]
        if soft:
            pts.insert(0, problem.domain.sample_boundary(num_boundary, g))
        if is_time and num_initial:
            pts.insert(0, problem.domain.sample_initial(num_initial, g))
        kw.update(num_domain=0, num_boundary=0, anchors=torch.cat(pts).numpy().astype(real))
        num_initial = 0
    if is_time:
        data = _data_class(dde.data.TimePDE)(geom, dde_residual(problem), bcs, num_initial=num_initial, **kw)
    else:
        data = _data_class(dde.data.PDE)(geom, dde_residual(problem), bcs, **kw)
    data.problem = problem
    data.loss_weights = [1.0, float(problem.boundary_weight)] if soft else None
    return data
