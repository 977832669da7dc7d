"""Any PDE a user can write down: :class:`PDE`, the lazy derivative object :class:`U` and the routing engine.

A residual reads like the equation::

    def heat(x, u):                         # x: (N, d + 1), time last; u: U
        return u.dt - 0.1 * u.laplacian     # (N,) (or (N, 1))

    problem = PDE(heat, domain=SpaceTime(Box.cube(2), 0, 1),
                  conditions=[Dirichlet(0.0), Initial(u0)], exact=u_exact)      # exact optional

What ``u`` offers (all ``(N,)`` unless said otherwise; ``D`` inputs, the first ``spatial_dim`` of them spatial):

==================  =====================================================  ================================
name                meaning                                                engine (``laplacian="jet"``)
==================  =====================================================  ================================
``u.value``         ``u``                                                  forward jet
``u.grad``          ``(N, spatial_dim)`` spatial gradient                  forward jet
``u.d(i)``          ``∂u/∂x_i`` (any coordinate, time included)            forward jet
``u.dt``            ``∂u/∂t`` (space-time domains)                         forward jet
``u.laplacian``     ``Σ_{i < spatial_dim} ∂²u/∂x_i²``                      forward jet (or SDGD/Hutchinson)
``u.d2(i, i)``      ``∂²u/∂x_i²``                                          forward jet, one pass per entry
``u.dtt``           ``∂²u/∂t²``                                            forward jet, one pass
``u.d2(i, j)``      mixed ``∂²u/∂x_i∂x_j``, ``i != j``                     autograd (Hessian rows)
==================  =====================================================  ================================

Requests are collected once: the first time the residual runs, it is called with a recording ``U`` whose
entries are zeros (so it must request the same derivatives on every call; branches on values are fine, branches
on which derivative to take are not). Each later step computes exactly the recorded set by the cheapest exact
engine: one forward jet for the value, first derivatives and the Laplacian — the very pass the built-in problems
use — plus one jet pass per extra diagonal second derivative, and autograd only for mixed second derivatives.
With ``laplacian="autograd"`` (``TrainConfig``) everything goes through autograd instead (the reference).
:meth:`PDE.routing` says which engine serves which request.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from ..diff import Coordinates, Directions, Jet, forward_jet, make_directions, pde_derivatives, register_jet_rule
from ..diff.engines import AUTOGRAD_METHODS, apply_transform, check_method
from .base import Problem, closed_jet, jsonable
from .conditions import (Condition, Dirichlet, Initial, boundary_parts, check_conditions, condition_names)
from .domains import Ball, Box, SpaceTime
from .functions import UserFunction


VALUE, LAPLACIAN = "value", "laplacian"


# --- the lazy derivative object -------------------------------------------------------------------------


class U:
    """``u`` and its derivatives at the collocation points, as the residual asks for them.

    See the module table for the names. Indices follow ``x``'s columns; negative indices count from the end
    (``u.d(-1)`` is ``u.dt`` on a space-time domain).
    """

    def __init__(self, n: int, dim: int, spatial_dim: int, has_time: bool, values: Optional[dict] = None,
                 like: Optional[torch.Tensor] = None, owner: str = "residual"):
        self._n, self._dim, self._sd, self._has_time = n, dim, spatial_dim, has_time
        self._values = values
        self._like = like
        self._owner = owner
        self.requests: set = set()

    # recording (values is None) or serving
    def _get(self, key):
        if self._values is None:
            self.requests.add(key)
            return self._like.new_zeros(self._n)
        try:
            return self._values[key]
        except KeyError:
            raise RuntimeError(f"{self._owner}: requested {_describe(key)}, which it did not request at its first "
                               f"call; a residual must ask for the same derivatives on every call.") from None

    def _index(self, i, what: str) -> int:
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"{self._owner}: {what} needs integer coordinate indices, got {i!r}.")
        i = int(i)
        j = i + self._dim if i < 0 else i
        if not 0 <= j < self._dim:
            raise ValueError(f"{self._owner}: {what}: coordinate index {i} is out of range; x has {self._dim} "
                             f"columns (valid 0..{self._dim - 1}, or -{self._dim}..-1).")
        return j

    def _time(self, what: str) -> int:
        if not self._has_time:
            raise ValueError(f"{self._owner}: u.{what} needs a time coordinate, but the problem's domain has none; "
                             f"use a SpaceTime(space, t0, t1) domain (time is the last column of x) or drop "
                             f"u.{what}.")
        return self._dim - 1

    @property
    def value(self) -> torch.Tensor:
        """``(N,)`` u."""
        return self._get(VALUE)

    @property
    def grad(self) -> torch.Tensor:
        """``(N, spatial_dim)`` spatial gradient."""
        return torch.stack([self._get(("d", i)) for i in range(self._sd)], dim=1)

    def d(self, i: int) -> torch.Tensor:
        """``(N,)`` ``∂u/∂x_i``."""
        return self._get(("d", self._index(i, f"u.d({i})")))

    def d2(self, i: int, j: int) -> torch.Tensor:
        """``(N,)`` ``∂²u/∂x_i∂x_j`` (``i == j``: a diagonal entry, by forward jet; else autograd)."""
        a, b = sorted((self._index(i, f"u.d2({i}, {j})"), self._index(j, f"u.d2({i}, {j})")))
        return self._get(("d2", a, b))

    @property
    def laplacian(self) -> torch.Tensor:
        """``(N,)`` Laplacian over the spatial coordinates (exact, or the configured unbiased estimate)."""
        return self._get(LAPLACIAN)

    @property
    def dt(self) -> torch.Tensor:
        """``(N,)`` ``∂u/∂t``."""
        return self._get(("d", self._time("dt")))

    @property
    def dtt(self) -> torch.Tensor:
        """``(N,)`` ``∂²u/∂t²``."""
        t = self._time("dtt")
        return self._get(("d2", t, t))


def _describe(key) -> str:
    if key in (VALUE, LAPLACIAN):
        return f"u.{key}"
    if key[0] == "d":
        return f"u.d({key[1]})"
    return f"u.d2({key[1]}, {key[2]})"


# --- jets of closed-form functions ----------------------------------------------------------------------


def function_jet(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, directions: Directions) -> Jet:
    """Jet ``(N, 1)`` of a parameter-free scalar function ``fn: (N, D) -> (N,)`` along ``directions``.

    Derivatives come from autograd on ``fn`` alone (no network in the graph) and are detached: ``fn`` is data.
    With no directions (``k = 0``, a plain evaluation) the value keeps its graph to ``x``, so the autograd
    engine differentiates through it.
    """
    if directions.k == 0:
        v = fn(x)
        return Jet(v.unsqueeze(-1), v.new_zeros(v.shape[0], 1, 0), torch.zeros_like(v).unsqueeze(-1), directions)
    with torch.enable_grad():
        z = x.detach().requires_grad_(True)
        v = fn(z)
        zero = torch.zeros_like(z)
        g = _grad(v, z, create_graph=True)
        if g is None:
            g, quad = zero, v.new_zeros(v.shape)
        elif isinstance(directions, Coordinates):
            ws = directions.weighted_sq(x.dtype)
            quad = v.new_zeros(v.shape)
            for i in torch.nonzero(ws).reshape(-1).tolist():
                h = _grad(g[:, i], z, retain_graph=True)
                if h is not None:
                    quad = quad + ws[i] * h[:, i]
        else:
            quad = v.new_zeros(v.shape)
            w = directions.weights
            for k in range(directions.k):
                vk = directions.vectors[:, :, k]
                h = _grad((g * vk).sum(-1), z, retain_graph=True)
                if h is not None:
                    quad = quad + (1.0 if w is None else float(w[k])) * (h * vk).sum(-1)
    return Jet.closed_form(v.detach(), g.detach(), quad.detach(), directions)


def _grad(y: torch.Tensor, z: torch.Tensor, create_graph: bool = False, retain_graph: Optional[bool] = None):
    if not y.requires_grad:
        return None
    (g,) = torch.autograd.grad(y.sum(), z, create_graph=create_graph, retain_graph=retain_graph, allow_unused=True)
    return g


class FunctionLayer(nn.Module):
    """A closed-form function ``fn: (N, D) -> (N,)`` as a one-layer model ``(N, D) -> (N, 1)``; its forward-jet
    rule is :func:`function_jet`. Lets an exact solution go through both derivative engines."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], dim: int):
        super().__init__()
        self.fn = fn
        self.in_features, self.out_features = dim, 1

    def forward(self, x):
        return self.fn(x).reshape(-1, 1)


@register_jet_rule(FunctionLayer)
def _function_rule(layer: FunctionLayer, jet: Jet) -> Jet:
    if not jet.is_input:
        raise TypeError("a FunctionLayer must be the first (and only) layer of a model.")
    return function_jet(layer.fn, jet.value, jet.directions)


class FunctionModel(nn.Module):
    """``fn: (N, D) -> (N,)`` as a pde_kan-style model (``layers``, ``in_features``, ``out_features``)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], dim: int):
        super().__init__()
        self.layers = nn.ModuleList([FunctionLayer(fn, dim)])
        self.in_features, self.out_features = dim, 1

    def forward(self, x):
        return self.layers[0](x)


# --- the routing engine ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a residual asked for, sorted by engine: ``first`` coordinates, ``laplacian``, diagonal second
    derivatives ``diag`` and mixed pairs ``mixed``."""

    value: bool
    first: tuple[int, ...]
    laplacian: bool
    diag: tuple[int, ...]
    mixed: tuple[tuple[int, int], ...]

    @classmethod
    def from_requests(cls, requests) -> "Plan":
        first = sorted({k[1] for k in requests if isinstance(k, tuple) and k[0] == "d"})
        diag = sorted({k[1] for k in requests if isinstance(k, tuple) and k[0] == "d2" and k[1] == k[2]})
        mixed = sorted({(k[1], k[2]) for k in requests if isinstance(k, tuple) and k[0] == "d2" and k[1] != k[2]})
        return cls(VALUE in requests, tuple(first), LAPLACIAN in requests, tuple(diag), tuple(mixed))

    def routing(self, method: str) -> dict[str, str]:
        """Request name -> engine: ``"jet"``, the stochastic estimator's name, or ``"autograd"``."""
        auto = method in AUTOGRAD_METHODS
        out = {"u.value": "autograd" if auto else "jet"}
        for i in self.first:
            out[f"u.d({i})"] = "autograd" if auto else "jet"
        if self.laplacian:
            out["u.laplacian"] = method
        for i in self.diag:
            out[f"u.d2({i}, {i})"] = "autograd" if auto else "jet"
        for i, j in self.mixed:
            out[f"u.d2({i}, {j})"] = "autograd"
        return out


def compute(plan: Plan, model, x: torch.Tensor, method: str, spatial_dim: int, transform=None,
            k: Optional[int] = None, generator: Optional[torch.Generator] = None) -> dict:
    """Derivatives of ``u = transform(x, model(x))`` at ``x: (N, D)`` for ``plan`` -> ``{key: (N,)}``."""
    check_method(method)
    if method in AUTOGRAD_METHODS:
        return _compute_autograd(plan, model, x, method, spatial_dim, transform, k, generator)
    out: dict = {}
    n, dim = x.shape
    first = list(plan.first)
    diag = list(plan.diag)
    spatial_first = [i for i in first if i < spatial_dim]
    if plan.laplacian and method == "jet" and spatial_first:
        # spatial first derivatives are tangents the exact Laplacian's directions carry anyway: no duplicates
        rest = [i for i in first if i >= spatial_dim]
        index = torch.as_tensor(list(range(spatial_dim)) + rest, dtype=torch.long, device=x.device)
        weights = torch.cat([x.new_ones(spatial_dim), x.new_zeros(len(rest))]) if rest else None
        jet = _jet(model, x, Coordinates(index, dim, 1.0, weights), transform)
        out[VALUE], out[LAPLACIAN] = jet.value[:, 0], jet.laplacian[:, 0]
        for i in first:
            out[("d", i)] = jet.tangent[:, 0, i if i < spatial_dim else spatial_dim + rest.index(i)]
    elif plan.laplacian:  # the built-in problems' pass: Laplacian (exact or estimated) plus first derivatives
        d = pde_derivatives(model, x, method, spatial_dim=spatial_dim, first_order=first, transform=transform,
                            k=k, generator=generator)
        out[VALUE], out[LAPLACIAN] = d.value, d.laplacian
        for c, i in enumerate(first):
            out[("d", i)] = d.first[:, c]
    elif first or diag:  # first derivatives (weight 0) and, in the same pass, one diagonal second derivative
        extra = diag[:1]
        diag = diag[1:]
        index = torch.as_tensor(first + extra, dtype=torch.long, device=x.device)
        weights = torch.cat([x.new_zeros(len(first)), x.new_ones(len(extra))])
        jet = _jet(model, x, Coordinates(index, dim, 1.0, weights), transform)
        out[VALUE] = jet.value[:, 0]
        for c, i in enumerate(first):
            out[("d", i)] = jet.tangent[:, 0, c]
        for i in extra:
            out[("d2", i, i)] = jet.second[:, 0]
    else:
        out[VALUE] = apply_transform(transform, x, model(x))
    for i in diag:  # one more pass per diagonal entry: a jet carries one weighted sum of second derivatives
        jet = _jet(model, x, Coordinates(torch.as_tensor([i], device=x.device), dim), transform)
        out[("d2", i, i)] = jet.second[:, 0]
    if plan.mixed:
        rows = _hessian_rows(model, x, transform, sorted({i for i, _ in plan.mixed}))[2]
        for i, j in plan.mixed:
            out[("d2", i, j)] = rows[i][:, j]
    return out


def _jet(model, x, dirs, transform) -> Jet:
    jet = forward_jet(model, x, dirs)
    return transform(x, jet) if transform is not None else jet


def _hessian_rows(model, x, transform, rows):
    """``u (N,)``, ``grad (N, D)`` and Hessian rows ``{i: (N, D)}`` by autograd, graphs kept."""
    if hasattr(model, "check"):
        model.check(x)
    z = x.detach().requires_grad_(True)
    u = apply_transform(transform, z, model(z))
    g = _grad(u, z, create_graph=True)
    g = torch.zeros_like(z) if g is None else g
    out = {}
    for i in rows:
        h = _grad(g[:, i], z, create_graph=True)
        out[i] = torch.zeros_like(z) if h is None else h
    return u, g, out


def _compute_autograd(plan, model, x, method, spatial_dim, transform, k, generator) -> dict:
    lap_index, scale = list(range(spatial_dim)), 1.0
    if plan.laplacian and method == "sdgd_autograd":
        dirs = make_directions("sdgd", x.shape[0], spatial_dim, k=k, generator=generator, device=x.device)
        lap_index, scale = dirs.index.tolist(), dirs.scale
    rows = set(plan.diag) | {i for i, _ in plan.mixed} | (set(lap_index) if plan.laplacian else set())
    u, g, h = _hessian_rows(model, x, transform, sorted(rows))
    out = {VALUE: u}
    for i in plan.first:
        out[("d", i)] = g[:, i]
    if plan.laplacian:
        out[LAPLACIAN] = scale * sum(h[i][:, i] for i in lap_index)
    for i in plan.diag:
        out[("d2", i, i)] = h[i][:, i]
    for i, j in plan.mixed:
        out[("d2", i, j)] = h[i][:, j]
    return out


def first_derivatives(model, x: torch.Tensor, coords: Sequence[int], method: str, transform=None):
    """``u (N,)`` and ``{i: ∂u/∂x_i (N,)}`` for ``coords`` (conditions' normal and time derivatives)."""
    coords = list(coords)
    if not coords:
        return apply_transform(transform, x, model(x)), {}
    if method in AUTOGRAD_METHODS:
        u, g, _ = _hessian_rows(model, x, transform, [])
        return u, {i: g[:, i] for i in coords}
    index = torch.as_tensor(coords, dtype=torch.long, device=x.device)
    jet = _jet(model, x, Coordinates(index, x.shape[1], 1.0, x.new_zeros(len(coords))), transform)
    return jet.value[:, 0], {i: jet.tangent[:, 0, c] for c, i in enumerate(coords)}


# --- hard conditions ------------------------------------------------------------------------------------


def _factor_jet(factor, x, like: Jet) -> Jet:
    v, g, h = factor(x)
    return closed_jet(like, v, g, h)


class Ansatz:
    """``u = A(x) + B(x) raw`` for the hard conditions: ``A`` from the data (``g``, ``u0``), ``B`` the product of
    the boundary parts' distance factors and of ``(t - t0) / (t1 - t0)``. A callable jet transform."""

    def __init__(self, domain, dirichlet: Optional[Dirichlet], initial: Optional[Initial]):
        self.domain, self.dirichlet, self.initial = domain, dirichlet, initial
        parts = boundary_parts(domain)
        self.factors = []
        if dirichlet is not None:
            for p in dirichlet.on:
                self.factors.extend(parts[p].factors)
        if initial is not None:
            t0, t1 = domain.t0, domain.t1

            def time_factor(x):
                grad = torch.zeros_like(x)
                grad[:, -1] = 1.0 / (t1 - t0)
                return (x[:, -1] - t0) / (t1 - t0), grad, torch.zeros_like(x)

            self.factors.append(time_factor)
        g = None if dirichlet is None else dirichlet.g
        u0 = None if initial is None else initial.u0
        self.constant = (g is None or g.is_constant) and (u0 is None or u0.is_constant)
        self.g, self.u0 = g, u0
        # constant data: A = u0 (g + u0 - g) or g, a number added to the value; no derivative to take
        self.shift = float((u0 if u0 is not None else g).fn) if self.constant else 0.0

    def lift(self, x: torch.Tensor) -> torch.Tensor:
        """``A(x) (N,)``: ``g``, ``u0``, or ``g + u0 - g(x, t0)``."""
        if self.g is None:
            return self.u0(x)
        if self.u0 is None:
            return self.g(x)
        x0 = torch.cat([x[:, :-1], torch.full_like(x[:, -1:], self.domain.t0)], 1)
        return self.g(x) + self.u0(x0) - self.g(x0)

    def __call__(self, x: torch.Tensor, raw_jet: Jet) -> Jet:
        b = None
        for f in self.factors:
            fj = _factor_jet(f, x, raw_jet)
            b = fj if b is None else b * fj
        u = b * raw_jet
        if self.constant:
            return Jet(u.value + self.shift, u.tangent, u.second, u.directions) if self.shift else u
        return function_jet(self.lift, x, raw_jet.directions) + u


def _plan_hard(domain, conditions) -> tuple[Optional[Dirichlet], Optional[Initial]]:
    """The Dirichlet and Initial conditions imposed exactly (None each where none is)."""
    parts = boundary_parts(domain)
    dirichlet = [c for c in conditions if isinstance(c, Dirichlet) and c.hard is not False]
    initial = [c for c in conditions if isinstance(c, Initial) and c.hard is not False]
    hard_d = None
    if len(dirichlet) == 1 and all(parts[p].factors for p in dirichlet[0].on):
        hard_d = dirichlet[0]
    hard_i = initial[0] if len(initial) == 1 and isinstance(domain, SpaceTime) else None
    for c in conditions:
        if c.hard is True and c is not hard_d and c is not hard_i:
            why = ("only one Dirichlet (one Initial) condition can be imposed exactly"
                   if isinstance(c, (Dirichlet, Initial)) else "this part has no distance function")
            raise ValueError(f"PDE: {c.describe()} has hard=True but cannot be imposed exactly: {why}; pass "
                             f"hard=None (automatic) or hard=False.")
    return hard_d, hard_i


# --- reference data -------------------------------------------------------------------------------------


def load_reference(reference, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """``(x (M, dim), u (M,))`` float64 from ``(x, u)`` arrays / tensors or an ``.npz`` / ``.h5`` file with
    datasets ``x`` and ``u``."""
    if isinstance(reference, (str, Path)):
        path = Path(reference)
        if not path.is_file():
            raise FileNotFoundError(f"PDE: reference file {str(path)!r} does not exist; pass an .npz or .h5 file "
                                    f"with arrays 'x' (M, {dim}) and 'u' (M,).")
        if path.suffix == ".npz":
            with np.load(path) as f:
                keys = list(f.keys())
                if "x" not in keys or "u" not in keys:
                    raise ValueError(f"PDE: reference file {str(path)!r} must contain arrays 'x' and 'u', found "
                                     f"{keys}.")
                x, u = f["x"], f["u"]
        elif path.suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                if "x" not in f or "u" not in f:
                    raise ValueError(f"PDE: reference file {str(path)!r} must contain datasets 'x' and 'u', found "
                                     f"{sorted(f.keys())}.")
                x, u = f["x"][()], f["u"][()]
        else:
            raise ValueError(f"PDE: reference file {str(path)!r} must end in .npz, .h5 or .hdf5.")
    else:
        try:
            x, u = reference
        except (TypeError, ValueError):
            raise TypeError(f"PDE: reference must be a pair (x, u) of arrays or a path to an .npz / .h5 file, got "
                            f"{type(reference).__name__}.") from None
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    u = np.asarray(u.detach().cpu() if isinstance(u, torch.Tensor) else u, dtype=np.float64)
    if u.ndim == 2 and u.shape[1] == 1:
        u = u[:, 0]
    if x.ndim == 1 and dim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"PDE: reference x must have shape (M, {dim}), got {x.shape}.")
    if u.shape != (x.shape[0],):
        raise ValueError(f"PDE: reference u must have shape ({x.shape[0]},) or ({x.shape[0]}, 1) to match x, got "
                         f"{u.shape}.")
    if not (np.isfinite(x).all() and np.isfinite(u).all()):
        raise ValueError("PDE: reference x and u must be finite; drop the NaN / inf rows.")
    return x, u


# --- the problem ----------------------------------------------------------------------------------------

Domain = Union[Ball, Box, SpaceTime]


@dataclass(frozen=True, kw_only=True)
class PDE(Problem):
    """A PDE from a residual function, a domain and condition objects; exact solution optional.

    Args:
        equation: ``residual(x, u) -> (N,)`` with ``x: (N, D)`` and ``u`` a :class:`U` (positional).
        domain: :class:`Ball`, :class:`Box` or :class:`SpaceTime` (time is the last column of ``x``).
        conditions: condition objects (:mod:`pde_kan.problems.conditions`).
        exact: optional ``u(x) -> (N,)``; metrics ``rel_l2``, ``rel_l1``, ``max_abs`` are measured against it.
        reference: optional ``(x, u)`` arrays or an ``.npz`` / ``.h5`` path (used when ``exact`` is None).
        boundary_weight: multiplies every soft condition's own ``weight`` (``TrainConfig.boundary_weight``
            overrides it).
        sampler: interior sampler of the domain.
        origin: how a registered factory built this problem (``{"name": ..., **kwargs}``); set by the registry so
            that :meth:`params` / :func:`~pde_kan.problems.problem_from_params` rebuild it.

    Without ``exact`` and ``reference`` a run reports the residual and condition losses only; error metrics are
    absent, not numbers.
    """

    name: ClassVar[str] = "pde"
    hard_boundary: ClassVar[bool] = False
    strict_conditions: ClassVar[bool] = True  # PDETask refuses n_boundary=0 with soft conditions

    equation: Callable = field(kw_only=False)
    domain: Any = None
    conditions: tuple = ()
    exact: Any = None
    reference: Any = field(default=None, compare=False)
    boundary_weight: float = 1.0
    origin: Optional[dict] = field(default=None, compare=False)
    _state: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self):
        if not isinstance(self.domain, (Ball, Box, SpaceTime)):
            raise TypeError(f"PDE: domain must be a Ball, Box or SpaceTime, got {self.domain!r}.")
        object.__setattr__(self, "equation", UserFunction(self.equation, "residual"))
        if self.equation.is_constant:
            raise TypeError(f"PDE: the residual must be a function residual(x, u), got {self.equation.fn!r}.")
        object.__setattr__(self, "conditions", check_conditions(self.domain, self.conditions))
        if self.exact is not None:
            object.__setattr__(self, "exact", UserFunction(self.exact, "exact"))
        ref = None
        if self.reference is not None:
            ref = load_reference(self.reference, self.dim)
        self._state["reference"] = ref
        super().__post_init__()
        hard_d, hard_i = _plan_hard(self.domain, self.conditions)
        self._state["transform"] = Ansatz(self.domain, hard_d, hard_i) if (hard_d or hard_i) else None
        self._state["soft"] = tuple((name, c) for name, c in zip(condition_names(self.conditions), self.conditions)
                                    if c is not hard_d and c is not hard_i)
        self._state["hard"] = tuple(c for c in (hard_d, hard_i) if c is not None)
        if self.origin is not None:  # a registered family goes by its registry name (plots, logs, reports)
            object.__setattr__(self, "name", self.origin["name"])

    # ---- description ---------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.domain.dim

    @property
    def spatial_dim(self) -> int:
        return self.domain.dim - 1 if isinstance(self.domain, SpaceTime) else self.domain.dim

    @property
    def has_time(self) -> bool:
        return isinstance(self.domain, SpaceTime)

    @property
    def first_order(self) -> tuple[int, ...]:
        return (self.dim - 1,) if self.has_time else ()

    @property
    def jet_transform(self):
        return self._state["transform"]

    @property
    def hard_conditions(self) -> tuple[Condition, ...]:
        """The conditions imposed exactly by the ansatz."""
        return self._state["hard"]

    @property
    def soft_conditions(self) -> dict[str, Condition]:
        """Loss name -> condition for the conditions enforced by a weighted loss."""
        return dict(self._state["soft"])

    def params(self) -> dict[str, Any]:
        if self.origin is not None:
            return dict(self.origin)
        return {"name": self.name, "equation": self.equation.label, "domain": jsonable(self.domain),
                "domain_type": type(self.domain).__name__, "conditions": [c.params() for c in self.conditions],
                "exact": None if self.exact is None else self.exact.label, "boundary_weight": self.boundary_weight,
                "sampler": self.sampler}

    def with_params(self, **changes) -> "PDE":
        """A new problem: a registered family is rebuilt by its factory with changed keywords; a script's PDE
        takes new field values (``equation``, ``domain``, ``conditions``, ``exact``, ...)."""
        if self.origin is not None:
            from .registry import get_problem

            kw = {k: v for k, v in self.origin.items() if k != "name"}
            return get_problem(self.origin["name"], **{**kw, **changes})
        return super().with_params(**changes)

    # ---- derivatives and residuals -------------------------------------------------------------------
    def plan(self, x: Optional[torch.Tensor] = None) -> Plan:
        """The residual's requests, recorded at its first call (with zeros for every derivative)."""
        plan = self._state.get("plan")
        if plan is None:
            if x is None:
                x = torch.zeros(2, self.dim, dtype=torch.float64)
            probe = U(x.shape[0], self.dim, self.spatial_dim, self.has_time, like=x)
            out = self.equation.fn(x, probe)
            self.equation.check(out, x.shape[0], x, finite=False)
            plan = Plan.from_requests(probe.requests)
            self._state["plan"] = plan
        return plan

    def routing(self, method: str = "jet") -> dict[str, str]:
        """Which engine serves each request of the residual under ``method`` (``TrainConfig.laplacian``)."""
        return self.plan().routing(check_method(method))

    def derivatives(self, model, x: torch.Tensor, method: str = "jet", k: Optional[int] = None,
                    generator: Optional[torch.Generator] = None, transform: Any = "ansatz") -> U:
        """The :class:`U` the residual reads, for ``u`` = the ansatz on ``model`` at ``x: (N, D)``.

        ``transform=None`` differentiates ``model`` itself (e.g. an exact solution wrapped in
        :class:`FunctionModel`).
        """
        self.check_points(x)
        plan = self.plan(x)
        transform = self.jet_transform if transform == "ansatz" else transform
        values = compute(plan, model, x, method, self.spatial_dim, transform, k, generator)
        return U(x.shape[0], self.dim, self.spatial_dim, self.has_time, values=values)

    def residual(self, x: torch.Tensor, d: U) -> torch.Tensor:
        """``(N,)``: the user's residual at ``x`` (shape checked every call, finiteness at the first)."""
        return self.equation(x, d)

    def residual_of(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                    method: str = "jet") -> torch.Tensor:
        """The residual ``(N,)`` of a closed-form ``u = fn(x)`` (no ansatz) through the engine ``method``; checks
        that an exact solution solves the equation."""
        model = FunctionModel(fn, self.dim)
        return self.residual(x, self.derivatives(model, x, method, transform=None,
                                                 generator=torch.Generator().manual_seed(0), k=1))

    # ---- conditions ----------------------------------------------------------------------------------
    def condition_weights(self) -> dict[str, float]:
        return {name: c.weight for name, c in self._state["soft"]}

    def sample_conditions(self, n: int, generator: torch.Generator, dtype=torch.float64,
                          device=None) -> dict[str, torch.Tensor]:
        parts = boundary_parts(self.domain)
        return {name: c.points(parts, n, generator).to(device=device, dtype=dtype) for name, c in self._state["soft"]}

    def condition_residual(self, name: str, model, x: torch.Tensor, method: str = "jet") -> torch.Tensor:
        c = self.soft_conditions[name]
        u, first = first_derivatives(model, x, c.grad_coords(self.dim, self.spatial_dim), method, self.jet_transform)
        return c.residual(self.domain, x, u, first)

    # ---- exact solution and evaluation ---------------------------------------------------------------
    @property
    def has_exact(self) -> bool:
        return self.exact is not None or self._state["reference"] is not None

    def evaluation_set(self, n: int, generator: torch.Generator, dtype=torch.float64, device=None):
        """``(x (M, D), u (M,) or None)``: reference data when given, else ``n`` interior points (and the exact
        solution there when known)."""
        ref = self._state["reference"]
        if self.exact is None and ref is not None:
            x, u = (torch.as_tensor(a, dtype=dtype, device=device) for a in ref)
            return x, u
        x = self.sample_interior(n, generator, dtype=dtype, device=device)
        return x, (None if self.exact is None else self.exact(x).detach())


__all__ = ["Ansatz", "FunctionModel", "PDE", "Plan", "U", "compute", "first_derivatives", "function_jet",
           "load_reference"]
