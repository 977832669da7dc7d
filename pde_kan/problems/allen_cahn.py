"""Allen–Cahn problems: the stationary two-body family and the time-dependent radial family.

* ``AllenCahnTwoBody`` (``allen-cahn-two-body``): ``Δu + u - u³ = f`` on the unit ball with the two-body exact
  solution of :class:`~pde_kan.problems.poisson.PoissonTwoBody` and the same hard ansatz ``(1 - |x|²) raw``.
* ``AllenCahnTime`` (``allen-cahn-time``): ``u_t = Δu + u - u³ + f`` on ``ball x [0, 1]`` (time last), exact
  ``u_c = e^{-t} (sin(π/2 |1-|x||^2.5) + c sin(π/2 (1-|x|)))`` with the family parameter ``c``.

Source terms come from the closed forms in :mod:`pde_kan.problems.manufactured`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..diff import Derivatives, Jet
from .._checks import positive_int
from .base import Problem, closed_jet, finite_float
from .domains import Ball, SpaceTime
from .manufactured import Field, allen_cahn_time, radial_parts
from .poisson import TwoBodyMixin, draw_coeffs


@dataclass(frozen=True, kw_only=True)
class AllenCahn(Problem):
    """Stationary Allen–Cahn ``Δu + u - u³ = f``; build problems with the factories below."""

    def residual(self, x: torch.Tensor, d: Derivatives) -> torch.Tensor:
        u = d.value
        return d.laplacian + u - u ** 3 - self.source(x)

    def source(self, x: torch.Tensor) -> torch.Tensor:
        s = self.solution(self.check_points(x))
        return s.laplacian + s.value - s.value ** 3

    @staticmethod
    def two_body(dim: int, seed: int = 0, rng: str = "torch", coeffs=None, **fields) -> "AllenCahnTwoBody":
        """``Δu + u - u³ = f`` on the unit ball in ``R^dim``, coefficients ``c ~ N(0, 1)`` from ``seed`` (with
        ``rng``, see :func:`~pde_kan.problems.poisson.draw_coeffs`), or the given ``coeffs`` (``seed`` and
        ``rng`` then unused)."""
        return AllenCahnTwoBody(dim=dim, coeffs=draw_coeffs(dim, seed, rng) if coeffs is None else coeffs, **fields)

    @staticmethod
    def time(spatial_dim: int, c: float = 1.0, **fields) -> "AllenCahnTime":
        """``u_t = Δu + u - u³ + f`` on the unit ball in ``R^spatial_dim`` times ``[0, 1]``."""
        return AllenCahnTime(spatial_dim=spatial_dim, c=c, **fields)


@dataclass(frozen=True, kw_only=True)
class AllenCahnTwoBody(TwoBodyMixin, AllenCahn):
    """``Δu + u - u³ = f`` with the two-body exact solution; ``f = Δu + u - u³`` of it."""

    name: ClassVar[str] = "allen-cahn-two-body"

    dim: int
    coeffs: tuple[float, ...]

    def __post_init__(self):
        self._validate_two_body()
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class AllenCahnTime(AllenCahn):
    """``u_t = Δu + u - u³ + f`` on ``B_1 x [0, 1]`` in ``R^spatial_dim x R``; network input ``(x, t)``.

    Exact ``u = e^{-t} g(|x|)``, ``g(r) = sin(π/2 |1-r|^2.5) + c sin(π/2 (1-r))``, so ``u_t = -u`` and
    ``f = u_t - Δu - u + u³ = -2u - e^{-t} (g'' + (d-1) g'/r) + u³``. ``g(1) = 0``: ``u`` vanishes on the sphere.

    Hard ansatz enforcing the initial condition ``u(x, 0) = g(|x|)`` and ``u = 0`` on the sphere::

        u = g(|x|) + t (1 - |x|²) raw

    (the initial profile, not the exact ``e^{-t} g``: an ansatz that contained the exact solution would make
    ``raw = 0`` exact and leave nothing to learn or to transfer across ``c``). It is written as a jet transform; the radial Hessian ``(g'/r) I + (g'' - g'/r) x̂x̂ᵀ`` enters through
    ``Directions.quad_diag`` and ``Directions.cross``. ``g`` has an ``|x|³`` term, so ``u`` is C² but not smooth at
    ``x = 0`` (the closed forms stay finite there; autograd through ``|x|`` does not at exactly 0).

    Attributes:
        spatial_dim: dimension of the ball (``dim = spatial_dim + 1``).
        c: family parameter (transfer across ``c``).
    """

    name: ClassVar[str] = "allen-cahn-time"

    spatial_dim: int
    c: float = 1.0

    def __post_init__(self):
        owner = type(self).__name__
        object.__setattr__(self, "spatial_dim", positive_int("spatial_dim", self.spatial_dim, owner=owner))
        object.__setattr__(self, "c", finite_float("c", self.c, owner))
        super().__post_init__()

    @property
    def dim(self) -> int:
        return self.spatial_dim + 1

    @property
    def first_order(self) -> tuple[int, ...]:
        return (self.spatial_dim,)

    @property
    def domain(self) -> SpaceTime:
        return SpaceTime(Ball(self.spatial_dim), 0.0, 1.0)

    def solution(self, x: torch.Tensor) -> Field:
        return allen_cahn_time(x, self.c, self.spatial_dim)

    def source(self, x: torch.Tensor) -> torch.Tensor:
        s = self.solution(self.check_points(x))
        u_t = s.grad[:, self.spatial_dim]
        return u_t - s.laplacian - s.value + s.value ** 3

    def residual(self, x: torch.Tensor, d: Derivatives) -> torch.Tensor:
        u = d.value
        return d.first[:, 0] - d.laplacian - u + u ** 3 - self.source(x)

    def transform(self, x: torch.Tensor, raw_jet: Jet) -> Jet:
        """``u = g(|x|) + t (1 - |x|²) raw`` as jets over all ``dim`` coordinates."""
        sd = self.spatial_dim
        xs, t = x[:, :sd], x[:, sd]
        zero_col = torch.zeros_like(t).unsqueeze(-1)
        space_only = torch.cat([torch.ones_like(xs), zero_col], 1)  # (N, D): Hessian diagonal pattern of I_space
        time_only = torch.cat([torch.zeros_like(xs), zero_col + 1], 1)  # e_t
        xhat, g, g1_r, k = radial_parts(xs, self.c)
        radial = closed_jet(raw_jet, g, torch.cat([g1_r.unsqueeze(-1) * xs, zero_col], 1),
                            g1_r.unsqueeze(-1) * space_only, (k, torch.cat([xhat, zero_col], 1)))
        time = closed_jet(raw_jet, t, time_only)
        bump = closed_jet(raw_jet, 1 - (xs * xs).sum(-1), torch.cat([-2 * xs, zero_col], 1), -2 * space_only)
        return radial + time * bump * raw_jet
