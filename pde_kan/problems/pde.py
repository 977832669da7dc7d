"""Any PDE a user can write down: :class:`PDE`, the lazy derivative object :class:`U` and the routing engine.

A residual reads like the equation::

    def heat(x, u):                         # x: (N, d + 1), time last; u: U
        return u.dt - 0.1 * u.laplacian     # (N,) (or (N, 1))

    problem = PDE(heat, domain=SpaceTime(Box.cube(2), 0, 1),
                  conditions=[Dirichlet(0.0), Initial(u0)], exact=u_exact)      # exact optional

What ``u`` offers (all ``(N,)`` unless said otherwise; ``D`` inputs, the first ``spatial_dim`` of them spatial):

==================  =====================================================  ================================
name                meaning                                                engine (``engine="jet"``)
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
With ``engine="autograd"`` (``SamplingConfig``) everything goes through autograd instead (the reference).
:meth:`PDE.routing` says which engine serves which request.

Modules: :mod:`.requests` (:class:`U`, :class:`~pde_kan.problems.requests.Plan`), :mod:`.routing` (the engine),
:mod:`.closed_form` (:func:`function_jet`, :class:`FunctionModel`), :mod:`.ansatz` (hard conditions),
:mod:`.reference` (reference data), this module (the :class:`PDE` class).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional

import torch

from ..diff import get_engine
from .ansatz import Ansatz, _plan_hard
from .base import Problem, jsonable
from .closed_form import FunctionModel
from .boundary import boundary_parts
from .conditions import Condition, check_conditions, condition_names
from .domains import DOMAINS, SpaceTime
from .functions import UserFunction
from .reference import load_reference
from .requests import U, Plan
from .routing import compute, first_derivatives


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
        if not isinstance(self.domain, DOMAINS):
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

    def routing(self, engine: str = "jet") -> dict[str, str]:
        """Which engine serves each request of the residual under ``engine`` (``SamplingConfig.engine``)."""
        return self.plan().routing(get_engine(engine).name)

    def derivatives(self, model, x: torch.Tensor, engine: str = "jet", n_probes: Optional[int] = None,
                    generator: Optional[torch.Generator] = None, transform: Any = "ansatz") -> U:
        """The :class:`U` the residual reads, for ``u`` = the ansatz on ``model`` at ``x: (N, D)``.

        ``transform=None`` differentiates ``model`` itself (e.g. an exact solution wrapped in
        :class:`FunctionModel`).
        """
        self.check_points(x)
        plan = self.plan(x)
        transform = self.jet_transform if transform == "ansatz" else transform
        values = compute(plan, model, x, engine, self.spatial_dim, transform, n_probes, generator)
        return U(x.shape[0], self.dim, self.spatial_dim, self.has_time, values=values)

    def residual(self, x: torch.Tensor, d: U) -> torch.Tensor:
        """``(N,)``: the user's residual at ``x`` (shape checked every call, finiteness at the first)."""
        return self.equation(x, d)

    def residual_of(self, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                    engine: str = "jet") -> torch.Tensor:
        """The residual ``(N,)`` of a closed-form ``u = fn(x)`` (no ansatz) through the engine ``engine``; checks
        that an exact solution solves the equation."""
        model = FunctionModel(fn, self.dim)
        return self.residual(x, self.derivatives(model, x, engine, transform=None,
                                                 generator=torch.Generator().manual_seed(0), n_probes=1))

    # ---- conditions ----------------------------------------------------------------------------------
    def condition_weights(self) -> dict[str, float]:
        return {name: c.weight for name, c in self._state["soft"]}

    def sample_conditions(self, n: int, generator: torch.Generator, dtype=torch.float64,
                          device=None) -> dict[str, torch.Tensor]:
        parts = boundary_parts(self.domain)
        return {name: c.points(parts, n, generator).to(device=device, dtype=dtype) for name, c in self._state["soft"]}

    def condition_residual(self, name: str, model, x: torch.Tensor, engine: str = "jet") -> torch.Tensor:
        c = self.soft_conditions[name]
        u, first = first_derivatives(model, x, c.grad_coords(self.dim, self.spatial_dim), engine, self.jet_transform)
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


__all__ = ["PDE"]

