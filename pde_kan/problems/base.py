"""The :class:`Problem` base: a frozen description of a PDE with a manufactured exact solution.

A problem knows its domain and samplers, its exact solution (a :class:`~pde_kan.problems.manufactured.Field`),
the source term derived from it, the residual, and — for hard boundary conditions — the ansatz written once as a
jet transform ``(x, raw_jet) -> u_jet``. :func:`pde_kan.diff.pde_derivatives` uses that one transform for both
the forward-jet and the autograd paths, and :meth:`Problem.ansatz` evaluates it plainly.

Network inputs and the spline grid: KAN layers default to ``grid_range = [-1, 1]``; inputs outside it only see
the base branch. Every domain here already lies inside it — the unit ball, ``[-1, 1]^2`` and ``[0, 1]^d`` — and
so does the time coordinate ``t in [0, 1]``; no input mapping is applied.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import torch

from ..diff import Derivatives, Jet, pde_derivatives
from ..diff.engines import apply_transform
from .._checks import check_points, choice, positive_float
from .manufactured import Field


def jsonable(value: Any) -> Any:
    """Tuples, tensors and arrays as (nested) lists, numbers as Python numbers."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().tolist()
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return value.tolist()
    if isinstance(value, (tuple, list)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


@dataclass(frozen=True, kw_only=True)
class Problem:
    """Base class of every PDE problem (frozen dataclass; build new ones with :meth:`with_params`).

    Subclasses define ``name``, the fields ``dim`` / ``spatial_dim`` (or properties), ``domain``, ``solution``,
    ``source``, ``residual`` and — with ``hard_boundary = True`` — ``transform``.

    Attributes:
        boundary_weight: weight of the soft boundary loss (unused, 0, with a hard boundary condition).
        sampler: interior sampler name, one of ``domain.interior_samplers``.
    """

    name: ClassVar[str] = "problem"
    hard_boundary: ClassVar[bool] = True
    first_order: ClassVar[tuple[int, ...]] = ()

    boundary_weight: float = 0.0
    sampler: str = "uniform"

    def __post_init__(self):
        owner = type(self).__name__
        w = positive_float("boundary_weight", self.boundary_weight, owner=owner, allow_zero=True)
        if self.hard_boundary and w != 0:
            raise ValueError(f"{owner}: boundary_weight must be 0 for a problem with a hard boundary condition "
                             f"(the ansatz satisfies it exactly), got {w}.")
        object.__setattr__(self, "boundary_weight", w)
        choice("sampler", self.sampler, self.domain.interior_samplers, owner=owner)

    # ---- subclass hooks ----------------------------------------------------------------------------------
    @property
    def domain(self):
        """The :mod:`~pde_kan.problems.domains` domain the points live in."""
        raise NotImplementedError

    def solution(self, x: torch.Tensor) -> Field:
        """The exact solution with its gradient and Hessian diagonal at ``x: (N, dim)``."""
        raise NotImplementedError

    def source(self, x: torch.Tensor) -> torch.Tensor:
        """Source term ``f`` at ``x: (N, dim)`` -> ``(N,)``."""
        raise NotImplementedError

    def residual(self, x: torch.Tensor, d: Derivatives) -> torch.Tensor:
        """PDE residual ``(N,)`` from ``d.value``, ``d.laplacian`` and ``d.first`` at ``x: (N, dim)``."""
        raise NotImplementedError

    def transform(self, x: torch.Tensor, raw_jet: Jet) -> Jet:
        """Hard-boundary ansatz ``u = A(x, raw)`` as a jet transform; the identity (``u = raw``) by default."""
        return raw_jet

    # ---- shared behaviour ---------------------------------------------------------------------------------
    def check_points(self, x: torch.Tensor) -> torch.Tensor:
        return check_points(type(self).__name__, x, self.dim)

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        """Exact solution ``(N,)`` at ``x: (N, dim)``."""
        return self.solution(self.check_points(x)).value

    @property
    def jet_transform(self):
        """The transform to hand to :func:`pde_kan.diff.pde_derivatives` (None without a hard boundary)."""
        return self.transform if self.hard_boundary else None

    def ansatz(self, x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """``u (N,)`` from the network output ``raw: (N, 1)`` or ``(N,)`` at ``x: (N, dim)``."""
        self.check_points(x)
        if raw.ndim == 1:
            raw = raw.unsqueeze(-1)
        if raw.shape != (x.shape[0], 1):
            raise ValueError(f"{type(self).__name__}: raw must have shape ({x.shape[0]}, 1) (one network output "
                             f"per point), got {tuple(raw.shape)}.")
        return apply_transform(self.jet_transform, x, raw)

    def sample_interior(self, n: int, generator: torch.Generator, dtype=torch.float64, device=None) -> torch.Tensor:
        """``(n, dim)`` collocation points from the problem's interior sampler."""
        return self.domain.sample_interior(n, generator, sampler=self.sampler, dtype=dtype, device=device)

    def sample_boundary(self, n: int, generator: torch.Generator, dtype=torch.float64,
                        device=None) -> Optional[torch.Tensor]:
        """``(n, dim)`` boundary points for the soft boundary loss; None when the boundary condition is hard."""
        if self.hard_boundary:
            return None
        return self.domain.sample_boundary(n, generator, dtype=dtype, device=device)

    def boundary_residual(self, x: torch.Tensor, u: torch.Tensor) -> Optional[torch.Tensor]:
        """Soft Dirichlet residual ``u - g`` ``(N,)`` at boundary points (``g`` = exact solution); None if hard."""
        if self.hard_boundary:
            return None
        return u.reshape(-1) - self.exact(x)

    # ---- the loss and evaluation protocol of PDETask (a PDE overrides these) ----------------------------
    @property
    def has_exact(self) -> bool:
        """Whether :meth:`evaluation_set` gives exact values (error metrics can be measured)."""
        return True

    def condition_weights(self) -> dict[str, float]:
        """Loss name -> relative weight of each soft condition (scaled by the boundary weight)."""
        return {} if self.hard_boundary else {"bc": 1.0}

    def sample_conditions(self, n: int, generator: torch.Generator, dtype=torch.float64,
                          device=None) -> dict[str, torch.Tensor]:
        """Loss name -> ``(n, dim)`` points for each soft condition."""
        xb = self.sample_boundary(n, generator, dtype=dtype, device=device)
        return {} if xb is None else {"bc": xb}

    def condition_residual(self, name: str, model, x: torch.Tensor, engine: str = "jet") -> torch.Tensor:
        """Residual ``(n,)`` of the soft condition ``name`` at its points ``x``."""
        return self.boundary_residual(x, self.ansatz(x, model(x)))

    def evaluation_set(self, n: int, generator: torch.Generator, dtype=torch.float64, device=None):
        """``(x (n, dim), exact u (n,))`` from the interior sampler."""
        x = self.sample_interior(n, generator, dtype=dtype, device=device)
        return x, self.exact(x)

    def derivatives(self, model, x: torch.Tensor, engine: str = "jet", n_probes: Optional[int] = None,
                    generator: Optional[torch.Generator] = None) -> Derivatives:
        """Value, spatial Laplacian and first derivatives of the ansatz ``u`` built on ``model`` at ``x``."""
        return pde_derivatives(model, self.check_points(x), engine, spatial_dim=self.spatial_dim,
                               first_order=self.first_order, transform=self.jet_transform, n_probes=n_probes,
                               generator=generator)

    def with_params(self, **changes) -> "Problem":
        """A new problem with some fields changed (validated as at construction)."""
        valid = [f.name for f in dataclasses.fields(self) if f.init]
        unknown = [k for k in changes if k not in valid]
        if unknown:
            raise ValueError(f"{type(self).__name__}.with_params: unknown parameter {unknown[0]!r}; valid names: "
                             f"{', '.join(map(repr, valid))}.")
        return dataclasses.replace(self, **changes)

    def params(self) -> dict[str, Any]:
        """JSON-serialisable description: ``name`` plus every field (tuples as lists)."""
        cls = type(self)
        # a user subclass without a registered name is rebuilt from "module:Class"
        name = self.name if "name" in cls.__dict__ or cls.__module__.startswith("pde_kan.") else \
            f"{cls.__module__}:{cls.__qualname__}"
        out: dict[str, Any] = {"name": name}
        for f in dataclasses.fields(self):
            out[f.name] = jsonable(getattr(self, f.name))
        return out

    def check_model(self, model) -> None:
        """Raise ValueError unless ``model`` maps ``(N, dim)`` to ``(N, 1)``."""
        owner = f"{type(self).__name__} (dim={self.dim})"
        try:
            n_in, n_out = model.in_features, model.out_features
        except AttributeError:
            raise TypeError(f"{owner}: model must expose in_features and out_features (a pde_kan backbone), "
                            f"got {type(model).__name__}.") from None
        if n_in != self.dim:
            raise ValueError(f"{owner}: model.in_features must equal the problem dimension {self.dim}, got "
                             f"{n_in}; build the model with widths starting at {self.dim}, e.g. [{self.dim}, 64, 64, 1].")
        if n_out != 1:
            raise ValueError(f"{owner}: model.out_features must be 1 (one scalar field u), got {n_out}; end the "
                             f"model widths with 1.")


def closed_jet(raw_jet: Jet, value: torch.Tensor, grad: torch.Tensor, hess_diag: Optional[torch.Tensor] = None,
               rank_one: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> Jet:
    """Jet of a closed-form scalar field on the directions of ``raw_jet``.

    The Hessian is ``diag(hess_diag) + coef * w wᵀ`` with ``rank_one = (coef (N,), w (N, D))`` (both optional),
    so ``sum_k a_k v_kᵀ H v_k = quad_diag(hess_diag) + coef * cross(w, w)`` for any directions.

    Args:
        value: ``(N,)``; grad: ``(N, D)``; hess_diag: ``(N, D)``.
    """
    dirs = raw_jet.directions
    quad = value.new_zeros(value.shape)
    if hess_diag is not None:
        quad = quad + dirs.quad_diag(hess_diag)
    if rank_one is not None:
        coef, w = rank_one
        quad = quad + coef * dirs.cross(w, w)
    return Jet.closed_form(value, grad, quad, dirs)


def finite_float(name: str, value: Any, owner: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}.") from None
    if not math.isfinite(f):
        raise ValueError(f"{owner}: {name} must be finite, got {value!r}.")
    return f
