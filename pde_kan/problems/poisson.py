"""Poisson problems: the two-body family on the unit ball, the sine cube and the sine square.

========================  ==============  ======================================  ==================  =========
class (registry name)     equation        exact solution                          domain              boundary
========================  ==============  ======================================  ==================  =========
``PoissonTwoBody``        ``Δu = f``      ``(1-|x|²) Σ_i c_i sin(θ_i)``            unit ball in R^d    hard
(``poisson-two-body``)                    ``θ_i = x_i + cos x_{i+1} + x_{i+1} cos x_i``, ``i = 0..d-2``
``PoissonSineCube``       ``-Δu = f``     ``Σ_i sin(π x_i / 2)``                  ``[0, 1]^d``        soft
(``poisson-sine-cube``)
``PoissonSineSquare``     ``-Δu = f``     ``sin(πx) sin(πy)``                     ``[-1, 1]^2``       hard
(``poisson-sine-square``)
========================  ==============  ======================================  ==================  =========

Source terms come from the closed forms in :mod:`pde_kan.problems.manufactured` (derived once there).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from ..diff import Derivatives, Jet
from .._checks import choice, positive_int
from .base import Problem, closed_jet
from .domains import Ball, Box
from .manufactured import Field, as_coeffs, sine_product, sine_sum, two_body


class TwoBodyMixin:
    """Fields and behaviour shared by the Poisson and Allen–Cahn two-body problems.

    ``u = (1 - |x|^2) sum_{i=0}^{d-2} c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i)`` on the unit ball, ``d >= 2``,
    with ``d - 1`` coefficients ``c`` (the family parameter; transfer changes it with ``with_params(coeffs=...)``).
    Hard boundary condition: ``u = (1 - |x|^2) * raw``. Interior samplers: ``"uniform"`` (uniform in the ball)
    and ``"uniform-radius"`` (radius uniform, as in the reference MetaKAN scripts).
    """

    def _validate_two_body(self) -> None:
        owner = type(self).__name__
        dim = positive_int("dim", self.dim, minimum=2, owner=owner)
        coeffs = self.coeffs
        if isinstance(coeffs, torch.Tensor):
            coeffs = coeffs.detach().cpu().reshape(-1).tolist()
        elif hasattr(coeffs, "tolist"):
            coeffs = coeffs.tolist()
        try:
            coeffs = tuple(float(c) for c in coeffs)
        except (TypeError, ValueError):
            raise TypeError(f"{owner}: coeffs must be a sequence of {dim - 1} numbers, got {self.coeffs!r}.") from None
        if len(coeffs) != dim - 1:
            raise ValueError(
                f"{owner}: coeffs must have dim - 1 = {dim - 1} entries (one per pair (x_i, x_(i+1))), got "
                f"{len(coeffs)}; to scale the coefficients pass e.g. coeffs=[2 * c for c in problem.coeffs] "
                f"(2 * tuple repeats the tuple), and for another dimension build a new problem with "
                f"{owner}.two_body(dim, seed).")
        if not all(math.isfinite(c) for c in coeffs):
            raise ValueError(f"{owner}: coeffs must be finite, got {coeffs}.")
        object.__setattr__(self, "dim", dim)
        object.__setattr__(self, "coeffs", coeffs)

    @property
    def spatial_dim(self) -> int:
        return self.dim

    @property
    def domain(self) -> Ball:
        return Ball(self.dim)

    def solution(self, x: torch.Tensor) -> Field:
        return two_body(x, as_coeffs(self.coeffs, x))

    def transform(self, x: torch.Tensor, raw_jet: Jet) -> Jet:
        """``u = (1 - |x|^2) raw``: gradient ``-2x``, Hessian ``-2 I``."""
        bump = closed_jet(raw_jet, 1 - (x * x).sum(-1), -2 * x, torch.full_like(x, -2.0))
        return bump * raw_jet


#: Random generators the two-body coefficients can be drawn with.
COEFF_RNGS = ("torch", "numpy")


def draw_coeffs(dim: int, seed: int, rng: str = "torch") -> tuple[float, ...]:
    """``dim - 1`` standard normal coefficients (float64) from ``torch.Generator().manual_seed(seed)``, or with
    ``rng="numpy"`` from numpy's legacy generator seeded ``seed`` (``np.random.seed(seed); np.random.randn(1, d-1)``,
    the draw of the reference MetaKAN scripts, without touching numpy's global state)."""
    dim = positive_int("dim", dim, minimum=2, owner="two_body")
    seed = positive_int("seed", seed, minimum=0, owner="two_body")
    choice("rng", rng, COEFF_RNGS, owner="two_body")
    if rng == "numpy":
        return tuple(float(c) for c in np.random.RandomState(seed).randn(dim - 1))
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(dim - 1, generator=g, dtype=torch.float64).tolist())


@dataclass(frozen=True, kw_only=True)
class Poisson(Problem):
    """Poisson problems ``sign * Δu = f``; build them with the factories below."""

    laplacian_sign: ClassVar[float] = 1.0

    def residual(self, x: torch.Tensor, d: Derivatives) -> torch.Tensor:
        return self.laplacian_sign * d.laplacian - self.source(x)

    def source(self, x: torch.Tensor) -> torch.Tensor:
        return self.laplacian_sign * self.solution(self.check_points(x)).laplacian

    @staticmethod
    def two_body(dim: int, seed: int = 0, rng: str = "torch", coeffs=None, **fields) -> "PoissonTwoBody":
        """``Δu = f`` on the unit ball in ``R^dim`` with coefficients ``c ~ N(0, 1)`` drawn from ``seed`` (with
        ``rng``, see :func:`draw_coeffs`), or the given ``coeffs`` (``seed`` and ``rng`` then unused)."""
        return PoissonTwoBody(dim=dim, coeffs=draw_coeffs(dim, seed, rng) if coeffs is None else coeffs, **fields)

    @staticmethod
    def sine_cube(dim: int = 5, **fields) -> "PoissonSineCube":
        """``-Δu = (π²/4) Σ sin(π x_i / 2)`` on ``[0, 1]^dim`` with a soft Dirichlet boundary loss."""
        return PoissonSineCube(dim=dim, **fields)

    @staticmethod
    def sine_square(**fields) -> "PoissonSineSquare":
        """``-Δu = 2π² sin(πx) sin(πy)`` on ``[-1, 1]^2`` with the hard ansatz ``(1 - x²)(1 - y²) raw``."""
        return PoissonSineSquare(**fields)


@dataclass(frozen=True, kw_only=True)
class PoissonTwoBody(TwoBodyMixin, Poisson):
    """``Δu = f`` with the two-body exact solution (see :class:`TwoBodyMixin`).

    ``f = (1-|x|²) ΔS - 4 x·∇S - 2 d S`` (:func:`pde_kan.problems.manufactured.two_body`).
    """

    name: ClassVar[str] = "poisson-two-body"

    dim: int
    coeffs: tuple[float, ...]

    def __post_init__(self):
        self._validate_two_body()
        super().__post_init__()


@dataclass(frozen=True, kw_only=True)
class PoissonSineCube(Poisson):
    """``-Δu = (π²/4) Σ_i sin(π x_i / 2)`` on ``[0, 1]^dim``, ``u = Σ_i sin(π x_i / 2)`` (PINNacle, d = 5).

    Dirichlet data ``g = u`` enter through a soft boundary loss ``boundary_weight * mean((u - g)^2)`` on points
    uniform on the faces. The default weight 10 roughly balances the two terms: the interior residual scales
    with ``(π²/4) u`` and its square is about 6 times the boundary residual's. Interior samplers: ``"uniform"``,
    ``"sobol"``, ``"halton"``, ``"latin-hypercube"``.
    """

    name: ClassVar[str] = "poisson-sine-cube"
    hard_boundary: ClassVar[bool] = False
    laplacian_sign: ClassVar[float] = -1.0

    dim: int = 5
    boundary_weight: float = 10.0

    def __post_init__(self):
        object.__setattr__(self, "dim", positive_int("dim", self.dim, owner=type(self).__name__))
        super().__post_init__()

    @property
    def spatial_dim(self) -> int:
        return self.dim

    @property
    def domain(self) -> Box:
        return Box.cube(self.dim, 0.0, 1.0)

    def solution(self, x: torch.Tensor) -> Field:
        return sine_sum(x)


@dataclass(frozen=True, kw_only=True)
class PoissonSineSquare(Poisson):
    """``-Δu = 2π² u`` on ``[-1, 1]^2`` with ``u = sin(πx) sin(πy)``.

    Hard boundary condition ``u = (1 - x²)(1 - y²) raw`` (zero on the square's boundary). Interior samplers as
    for :class:`PoissonSineCube`.
    """

    name: ClassVar[str] = "poisson-sine-square"
    laplacian_sign: ClassVar[float] = -1.0

    @property
    def dim(self) -> int:
        return 2

    @property
    def spatial_dim(self) -> int:
        return 2

    @property
    def domain(self) -> Box:
        return Box.cube(2, -1.0, 1.0)

    def solution(self, x: torch.Tensor) -> Field:
        return sine_product(x)

    def transform(self, x: torch.Tensor, raw_jet: Jet) -> Jet:
        """``u = (1 - x²)(1 - y²) raw`` as a product of one-coordinate jets (their cross term included)."""
        zero = torch.zeros_like(x[:, 0])
        x0, x1 = x[:, 0], x[:, 1]
        fx = closed_jet(raw_jet, 1 - x0 * x0, torch.stack([-2 * x0, zero], 1), torch.stack([zero - 2, zero], 1))
        fy = closed_jet(raw_jet, 1 - x1 * x1, torch.stack([zero, -2 * x1], 1), torch.stack([zero, zero - 2], 1))
        return fx * fy * raw_jet
