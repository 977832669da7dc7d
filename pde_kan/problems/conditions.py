"""Boundary and initial conditions as objects, and the boundary parts of a domain they live on.

================================  ==============================================  ========================
condition                         residual at its points                          hard ansatz (automatic)
================================  ==============================================  ========================
``Dirichlet(g, on=...)``          ``u - g``                                       ``u = g + φ raw``
``Neumann(g, on=...)``            ``∂u/∂n - g`` (outward normal)                  never (soft)
``Robin(alpha, beta, g, on=...)`` ``alpha u + beta ∂u/∂n - g``                    never (soft)
``Periodic(axis)``                ``u(lo) - u(hi)`` and ``∂_axis u(lo) - ∂_axis u(hi)``   never (soft)
``Initial(u0)``                   ``u(x, t0) - u0``                               ``u = u0 + (t - t0) raw``
``InitialVelocity(v0)``           ``u_t(x, t0) - v0``                             never (soft)
================================  ==============================================  ========================

Every data function (``g``, ``u0``, ``v0``, ``alpha``, ``beta``) receives the points ``x: (N, D)`` (time last on a
space-time domain) and returns ``(N,)`` or ``(N, 1)``; a number is a constant. Soft conditions add
``weight * boundary_weight * mean(residual²)`` to the loss on ``TrainConfig.n_boundary`` fresh points of their
part each step.

Boundary parts (``on=``), listed by :func:`boundary_parts`:

* :class:`~pde_kan.problems.domains.Ball`: ``"boundary"`` (the sphere).
* :class:`~pde_kan.problems.domains.Box`: ``"boundary"`` (every face) and the faces ``"x{i}_low"``,
  ``"x{i}_high"`` (``x_i = lows[i]`` / ``highs[i]``).
* :class:`~pde_kan.problems.domains.SpaceTime`: the same names for the lateral boundary (space part times
  ``[t0, t1]``) and ``"initial"`` (``t = t0``), which the initial conditions use.

``on`` may be one name or a tuple of names (the points are split evenly between them).

Hard conditions: with ``hard=None`` (default) a Dirichlet condition is imposed exactly when the domain has a
distance function for its parts — the ball's sphere, any set of box faces, either on their own or as the
lateral boundary of a space-time domain — and it is the only Dirichlet condition; an initial value condition
is imposed exactly on a space-time domain. Both together give ``u = g + (u0 - g(x, t0)) + φ (t - t0) raw``,
exact when the data agree at ``t = t0`` on the boundary (the compatibility a classical solution needs).
``hard=False`` keeps a condition soft, ``hard=True`` raises where the ansatz cannot be built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

import torch

from .._checks import positive_float, positive_int
from .boundary import Part, _space, boundary_parts, normal_derivative
from .domains import Box, SpaceTime
from .functions import UserFunction


def _parts_tuple(on, owner: str) -> tuple[str, ...]:
    names = (on,) if isinstance(on, str) else tuple(on) if isinstance(on, (tuple, list)) else None
    if not names or not all(isinstance(s, str) for s in names):
        raise TypeError(f"{owner}: on must be a boundary part name or a tuple of names (e.g. 'boundary', "
                        f"'x0_low'), got {on!r}.")
    return names


@dataclass(frozen=True)
class Condition:
    """Base of every condition: ``on`` (part names), ``weight`` (relative soft-loss weight), ``hard``; every
    subclass declares these three fields (with its own default ``on``)."""

    kind: ClassVar[str] = "condition"
    can_be_hard: ClassVar[bool] = False

    def _setup(self, functions: dict[str, Any]) -> None:
        owner = self.describe()
        object.__setattr__(self, "on", _parts_tuple(self.on, owner))
        object.__setattr__(self, "weight", positive_float("weight", self.weight, owner=owner, allow_zero=True))
        if self.hard not in (None, True, False):
            raise TypeError(f"{owner}: hard must be None (automatic), True or False, got {self.hard!r}.")
        if self.hard and not self.can_be_hard:
            raise ValueError(f"{owner}: hard=True is not available for {type(self).__name__} (only Dirichlet and "
                             f"Initial conditions have an exact ansatz); drop hard=True.")
        for name, fn in functions.items():
            object.__setattr__(self, name, UserFunction(fn, f"{owner}.{name}"))

    def describe(self) -> str:
        on = self.on[0] if isinstance(self.on, tuple) and len(self.on) == 1 else self.on
        return f"{type(self).__name__}(on={on!r})"

    def grad_coords(self, dim: int, spatial_dim: int) -> tuple[int, ...]:
        """Coordinates whose first derivative the residual needs (empty: the value alone)."""
        return ()

    def points(self, parts: dict[str, Part], n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, D)`` float64 points on the condition's parts (split evenly between them)."""
        sizes = [len(t) for t in torch.tensor_split(torch.arange(n), len(self.on))]
        return torch.cat([parts[p].sample(max(s, 1), generator) for p, s in zip(self.on, sizes)])

    def residual(self, domain, x: torch.Tensor, value: torch.Tensor, first: dict[int, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        out = {"type": type(self).__name__}
        for k, v in self.__dict__.items():
            out[k] = v.label if isinstance(v, UserFunction) else list(v) if isinstance(v, tuple) else v
        return out


@dataclass(frozen=True)
class Dirichlet(Condition):
    """``u = g`` on ``on`` (default the whole boundary; the lateral boundary on a space-time domain)."""

    g: Any = 0.0
    on: Union[str, tuple] = "boundary"
    weight: float = 1.0
    hard: Optional[bool] = None

    kind: ClassVar[str] = "dirichlet"
    can_be_hard: ClassVar[bool] = True

    def __post_init__(self):
        self._setup({"g": self.g})

    def residual(self, domain, x, value, first):
        return value - self.g(x)


@dataclass(frozen=True)
class Neumann(Condition):
    """``∂u/∂n = g`` on ``on`` with the outward normal ``n`` (soft)."""

    g: Any = 0.0
    on: Union[str, tuple] = "boundary"
    weight: float = 1.0
    hard: Optional[bool] = None

    kind: ClassVar[str] = "neumann"

    def __post_init__(self):
        self._setup({"g": self.g})

    def grad_coords(self, dim, spatial_dim):
        return tuple(range(spatial_dim))

    def residual(self, domain, x, value, first):
        return normal_derivative(domain, x, first) - self.g(x)


@dataclass(frozen=True)
class Robin(Condition):
    """``alpha u + beta ∂u/∂n = g`` on ``on`` (soft); ``alpha``, ``beta``, ``g`` functions or numbers."""

    alpha: Any = 1.0
    beta: Any = 1.0
    g: Any = 0.0
    on: Union[str, tuple] = "boundary"
    weight: float = 1.0
    hard: Optional[bool] = None

    kind: ClassVar[str] = "robin"

    def __post_init__(self):
        self._setup({"alpha": self.alpha, "beta": self.beta, "g": self.g})

    def grad_coords(self, dim, spatial_dim):
        return tuple(range(spatial_dim))

    def residual(self, domain, x, value, first):
        return self.alpha(x) * value + self.beta(x) * normal_derivative(domain, x, first) - self.g(x)


@dataclass(frozen=True)
class Periodic(Condition):
    """``u`` (and, with ``derivative``, ``∂u/∂x_axis``) equal on the faces ``x_axis = low`` and ``= high`` of a box
    (soft). The residual stacks both differences at ``n`` paired points."""

    axis: int = 0
    derivative: bool = True
    weight: float = 1.0
    on: Union[str, tuple] = "periodic"
    hard: Optional[bool] = None

    kind: ClassVar[str] = "periodic"

    def __post_init__(self):
        object.__setattr__(self, "axis", positive_int("axis", self.axis, minimum=0, owner="Periodic"))
        object.__setattr__(self, "on", (f"x{self.axis}_low", f"x{self.axis}_high"))
        self._setup({})

    def describe(self):
        return f"Periodic(axis={self.axis})"

    def grad_coords(self, dim, spatial_dim):
        return (self.axis,) if self.derivative else ()

    def points(self, parts, n, generator):
        lo = parts[self.on[0]].sample(n, generator)
        hi = lo.clone()
        hi[:, self.axis] = parts[self.on[1]].sample(1, generator)[0, self.axis]
        return torch.cat([lo, hi])

    def residual(self, domain, x, value, first):
        n = x.shape[0] // 2
        r = [value[:n] - value[n:]]
        if self.derivative:
            d = first[self.axis]
            r.append(d[:n] - d[n:])
        return torch.cat(r)


@dataclass(frozen=True)
class Initial(Condition):
    """``u(x, t0) = u0(x)`` (space-time domains); ``u0`` receives the points ``(N, D)`` with ``t = t0``."""

    u0: Any = 0.0
    weight: float = 1.0
    hard: Optional[bool] = None
    on: Union[str, tuple] = "initial"

    kind: ClassVar[str] = "initial"
    can_be_hard: ClassVar[bool] = True

    def __post_init__(self):
        self._setup({"u0": self.u0})

    def residual(self, domain, x, value, first):
        return value - self.u0(x)


@dataclass(frozen=True)
class InitialVelocity(Condition):
    """``u_t(x, t0) = v0(x)`` (second order in time, e.g. the wave equation; soft)."""

    v0: Any = 0.0
    weight: float = 1.0
    hard: Optional[bool] = None
    on: Union[str, tuple] = "initial"

    kind: ClassVar[str] = "initial_velocity"

    def __post_init__(self):
        self._setup({"v0": self.v0})

    def grad_coords(self, dim, spatial_dim):
        return (dim - 1,)

    def residual(self, domain, x, value, first):
        return first[x.shape[1] - 1] - self.v0(x)


CONDITIONS = {cls.__name__: cls for cls in (Dirichlet, Neumann, Robin, Periodic, Initial, InitialVelocity)}


def check_conditions(domain, conditions) -> tuple[Condition, ...]:
    """Validate ``conditions`` against ``domain``: each a :class:`Condition` on parts the domain has."""
    if isinstance(conditions, Condition):
        conditions = (conditions,)
    try:
        conditions = tuple(conditions)
    except TypeError:
        raise TypeError(f"PDE: conditions must be a list of condition objects (Dirichlet, Neumann, Robin, "
                        f"Periodic, Initial, InitialVelocity), got {conditions!r}.") from None
    parts = boundary_parts(domain)
    space = _space(domain)
    for c in conditions:
        if not isinstance(c, Condition):
            raise TypeError(f"PDE: every condition must be a condition object (Dirichlet, Neumann, Robin, "
                            f"Periodic, Initial, InitialVelocity), got {c!r} ({type(c).__name__}).")
        if isinstance(c, (Initial, InitialVelocity)) and not isinstance(domain, SpaceTime):
            raise ValueError(f"PDE: {c.describe()} needs a time coordinate, but the domain "
                             f"{type(domain).__name__} has none; use SpaceTime(space, t0, t1).")
        if isinstance(c, Periodic):
            if not isinstance(space, Box):
                raise ValueError(f"PDE: {c.describe()} needs a box (periodic faces), got a {type(space).__name__}.")
            if c.axis >= space.dim:
                raise ValueError(f"PDE: {c.describe()}: axis must be a spatial axis 0..{space.dim - 1}, got "
                                 f"{c.axis}.")
        missing = [p for p in c.on if p not in parts]
        if missing:
            raise ValueError(f"PDE: {c.describe()}: the domain {type(domain).__name__} has no boundary part "
                             f"{missing[0]!r}; valid parts: {', '.join(map(repr, parts))}.")
    return conditions


def condition_names(conditions) -> tuple[str, ...]:
    """``kind`` of each condition, numbered from the second of a kind on (``dirichlet``, ``dirichlet_2``)."""
    seen: dict[str, int] = {}
    names = []
    for c in conditions:
        seen[c.kind] = seen.get(c.kind, 0) + 1
        names.append(c.kind if seen[c.kind] == 1 else f"{c.kind}_{seen[c.kind]}")
    return tuple(names)


__all__ = ["CONDITIONS", "Condition", "Dirichlet", "Initial", "InitialVelocity", "Neumann", "Periodic", "Robin",
           "check_conditions", "condition_names"]
