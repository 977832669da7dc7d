"""Shipped :class:`~pde_kan.problems.pde.PDE` problems with exact or reference solutions.

==================================  ==========================================  ===============================
registry name (factory)             equation on the domain                      exact / reference solution
==================================  ==========================================  ===============================
``heat-sine`` (:func:`heat`)        ``u_t = k Δu`` on ``[0, 1]^d x [0, 1]``     ``e^{-d π² k t} Π sin(π x_i)``
``wave-1d`` (:func:`wave`)          ``u_tt = c² u_xx`` on ``[0, 1] x [0, 1]``    ``sin(πx) cos(cπt)
                                                                                + ½ sin(2πx) cos(2cπt)``
``helmholtz-2d`` (:func:`helmholtz`)  ``Δu + k² u = f`` on ``[-1, 1]²``           ``sin(a₁πx) sin(a₂πy)``
``burgers-1d`` (:func:`burgers`)    ``u_t + u u_x = ν u_xx`` on ``[-1, 1] x [0, 1]``, ``u0 = -sin(πx)``
                                                                                Cole–Hopf (quadrature)
``anisotropic-advection-diffusion``  ``u_t + b·∇u - ∇·(A∇u) = f`` on           ``e^{-t} sin(πx) sin(πy)``
(:func:`advection_diffusion`)       ``[0, 1]² x [0, 1]``, ``A`` with a mixed term
==================================  ==========================================  ===============================

Every problem has homogeneous Dirichlet data on the (lateral) boundary and, when time-dependent, its initial
value (and, for the wave, a zero initial velocity) as condition objects; the hard ansatz is built automatically.
Residuals and solutions are small frozen dataclasses, so two problems with the same parameters compare equal,
and the factories record their keywords in ``origin`` for :func:`~pde_kan.problems.problem_from_params`.

Cole–Hopf: with ``φ`` solving the heat equation, ``u = -2ν φ_x / φ``; for ``u0 = -sin(πx)``::

    u(x, t) = -∫ sin(π(x - η)) F(x - η) e^{-η²/4νt} dη / ∫ F(x - η) e^{-η²/4νt} dη,   F(y) = e^{-cos(πy) / 2πν}

evaluated with ``η = √(4νt) z`` by the trapezoid rule on ``z ∈ [-10, 10]`` (spectrally accurate for this
rapidly decaying smooth integrand; ``n_quad`` nodes) in log-sum-exp form, in torch, so that both derivative
engines differentiate it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .._checks import positive_float, positive_int
from .base import finite_float
from .conditions import Dirichlet, Initial, InitialVelocity
from .domains import Box, SpaceTime
from .pde import PDE

PI = math.pi


def _origin(name, **kw):
    return {"name": name, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}}


def _fields(fields):
    extra = {k: fields.pop(k) for k in ("sampler", "boundary_weight") if k in fields}
    if fields:
        raise TypeError(f"unexpected keyword {next(iter(fields))!r}; valid extra keywords: 'sampler', "
                        f"'boundary_weight'.")
    return extra


# --- heat ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SineProduct:
    """``e^{-rate t} Π_{i<d} sin(π x_i)`` at ``x: (N, d [+1])`` (``rate = 0`` and no time column: steady)."""

    d: int
    rate: float = 0.0
    time: bool = True

    def __call__(self, x):
        u = torch.prod(torch.sin(PI * x[:, : self.d]), dim=1)
        return u * torch.exp(-self.rate * x[:, -1]) if self.time else u


@dataclass(frozen=True)
class HeatResidual:
    k: float

    def __call__(self, x, u):
        return u.dt - self.k * u.laplacian


def heat(dim: int = 2, k: float = 0.1, **fields) -> PDE:
    """``u_t = k Δu`` on ``[0, 1]^dim x [0, 1]``, ``u = 0`` on the faces, ``u(x, 0) = Π sin(π x_i)``."""
    extra = _fields(fields)
    dim = positive_int("dim", dim, owner="heat")
    k = positive_float("k", k, owner="heat")
    return PDE(HeatResidual(k), domain=SpaceTime(Box.cube(dim, 0.0, 1.0), 0.0, 1.0),
               conditions=(Dirichlet(0.0), Initial(SineProduct(dim, 0.0))),
               exact=SineProduct(dim, dim * PI ** 2 * k), origin=_origin("heat-sine", dim=dim, k=k, **extra), **extra)


# --- wave ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaveSolution:
    c: float

    def __call__(self, x):
        z, t = x[:, 0], x[:, 1]
        return (torch.sin(PI * z) * torch.cos(self.c * PI * t)
                + 0.5 * torch.sin(2 * PI * z) * torch.cos(2 * self.c * PI * t))


@dataclass(frozen=True)
class WaveResidual:
    c: float

    def __call__(self, x, u):
        return u.dtt - self.c ** 2 * u.laplacian


def wave(c: float = 1.0, **fields) -> PDE:
    """``u_tt = c² u_xx`` on ``[0, 1] x [0, 1]``; ``u = 0`` at ``x = 0, 1``; initial value and zero velocity."""
    extra = _fields(fields)
    c = positive_float("c", c, owner="wave")
    sol = WaveSolution(c)
    return PDE(WaveResidual(c), domain=SpaceTime(Box.cube(1, 0.0, 1.0), 0.0, 1.0),
               conditions=(Dirichlet(0.0), Initial(sol), InitialVelocity(0.0)), exact=sol,
               origin=_origin("wave-1d", c=c, **extra), **extra)


# --- Helmholtz ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SineModes:
    a: tuple

    def __call__(self, x):
        return torch.sin(self.a[0] * PI * x[:, 0]) * torch.sin(self.a[1] * PI * x[:, 1])


@dataclass(frozen=True)
class HelmholtzResidual:
    k: float
    a: tuple

    def __call__(self, x, u):
        f = (self.k ** 2 - (self.a[0] ** 2 + self.a[1] ** 2) * PI ** 2) * SineModes(self.a)(x)
        return u.laplacian + self.k ** 2 * u.value - f


def helmholtz(k: float = 1.0, a: Sequence[float] = (1.0, 4.0), **fields) -> PDE:
    """``Δu + k² u = f`` on ``[-1, 1]²``, ``u = sin(a₁πx) sin(a₂πy)`` (zero on the boundary when ``a`` are
    integers), ``f = (k² - (a₁² + a₂²)π²) u``."""
    extra = _fields(fields)
    k = finite_float("k", k, "helmholtz")
    a = tuple(finite_float("a", v, "helmholtz") for v in a)
    if len(a) != 2:
        raise ValueError(f"helmholtz: a must have 2 entries (the modes in x and y), got {len(a)}.")
    sol = SineModes(a)
    g = 0.0 if all(v == int(v) for v in a) else sol  # integer modes vanish on the square's boundary
    return PDE(HelmholtzResidual(k, a), domain=Box.cube(2, -1.0, 1.0), conditions=(Dirichlet(g),), exact=sol,
               origin=_origin("helmholtz-2d", k=k, a=a, **extra), **extra)


# --- Burgers ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColeHopf:
    """Cole–Hopf solution of ``u_t + u u_x = ν u_xx``, ``u(x, 0) = -sin(πx)`` at ``x: (N, 2)`` (see module)."""

    nu: float
    n_quad: int = 4001
    chunk: int = 512

    def __call__(self, x):
        if x.shape[0] > self.chunk:
            return torch.cat([self(x[i:i + self.chunk]) for i in range(0, x.shape[0], self.chunk)])
        z = torch.linspace(-10.0, 10.0, self.n_quad, dtype=x.dtype, device=x.device)
        s = torch.sqrt(4 * self.nu * x[:, 1:2])  # (N, 1)
        y = x[:, 0:1] - s * z  # (N, Q)
        logw = -torch.cos(PI * y) / (2 * PI * self.nu) - z * z
        w = torch.softmax(logw, dim=1)
        return -(torch.sin(PI * y) * w).sum(1)


@dataclass(frozen=True)
class BurgersResidual:
    nu: float

    def __call__(self, x, u):
        return u.dt + u.value * u.d(0) - self.nu * u.laplacian


@dataclass(frozen=True)
class MinusSine:
    def __call__(self, x):
        return -torch.sin(PI * x[:, 0])


def burgers(nu: float = 0.01 / PI, n_quad: int = 4001, **fields) -> PDE:
    """Viscous Burgers ``u_t + u u_x = ν u_xx`` on ``[-1, 1] x [0, 1]``, ``u(x, 0) = -sin(πx)``, ``u(±1, t) = 0``
    (Raissi et al.'s benchmark at the default ``ν = 0.01/π``); reference by Cole–Hopf quadrature."""
    extra = _fields(fields)
    nu = positive_float("nu", nu, owner="burgers")
    n_quad = positive_int("n_quad", n_quad, minimum=101, owner="burgers")
    return PDE(BurgersResidual(nu), domain=SpaceTime(Box.cube(1, -1.0, 1.0), 0.0, 1.0),
               conditions=(Dirichlet(0.0), Initial(MinusSine())), exact=ColeHopf(nu, n_quad),
               origin=_origin("burgers-1d", nu=nu, n_quad=n_quad, **extra), **extra)


# --- anisotropic advection-diffusion ------------------------------------------------------------------------


@dataclass(frozen=True)
class DecayingSines:
    def __call__(self, x):
        return torch.exp(-x[:, 2]) * torch.sin(PI * x[:, 0]) * torch.sin(PI * x[:, 1])


@dataclass(frozen=True)
class AdvectionDiffusionResidual:
    b: tuple
    a: tuple  # (a11, a12, a22)

    def source(self, x):
        e = torch.exp(-x[:, 2])
        sx, sy, cx, cy = (torch.sin(PI * x[:, 0]), torch.sin(PI * x[:, 1]), torch.cos(PI * x[:, 0]),
                          torch.cos(PI * x[:, 1]))
        u = e * sx * sy
        ux, uy, uxy = PI * e * cx * sy, PI * e * sx * cy, PI ** 2 * e * cx * cy
        a11, a12, a22 = self.a
        return -u + self.b[0] * ux + self.b[1] * uy + (a11 + a22) * PI ** 2 * u - 2 * a12 * uxy

    def __call__(self, x, u):
        a11, a12, a22 = self.a
        div = a11 * u.d2(0, 0) + 2 * a12 * u.d2(0, 1) + a22 * u.d2(1, 1)
        return u.dt + self.b[0] * u.d(0) + self.b[1] * u.d(1) - div - self.source(x)


def advection_diffusion(b: Sequence[float] = (1.0, 0.5), a: Sequence[float] = (0.1, 0.05, 0.1), **fields) -> PDE:
    """``u_t + b·∇u - (a₁₁ u_xx + 2 a₁₂ u_xy + a₂₂ u_yy) = f`` on ``[0, 1]² x [0, 1]`` with
    ``u = e^{-t} sin(πx) sin(πy)``; ``a = (a₁₁, a₁₂, a₂₂)`` must be positive definite."""
    extra = _fields(fields)
    b = tuple(finite_float("b", v, "advection_diffusion") for v in b)
    a = tuple(finite_float("a", v, "advection_diffusion") for v in a)
    if len(b) != 2 or len(a) != 3:
        raise ValueError(f"advection_diffusion: b needs 2 entries and a 3 (a11, a12, a22), got {len(b)} and "
                         f"{len(a)}.")
    if not (a[0] > 0 and a[0] * a[2] - a[1] ** 2 > 0):
        raise ValueError(f"advection_diffusion: the diffusion matrix [[a11, a12], [a12, a22]] must be positive "
                         f"definite, got a={a}.")
    sol = DecayingSines()
    return PDE(AdvectionDiffusionResidual(b, a), domain=SpaceTime(Box.cube(2, 0.0, 1.0), 0.0, 1.0),
               conditions=(Dirichlet(0.0), Initial(sol)), exact=sol,
               origin=_origin("anisotropic-advection-diffusion", b=b, a=a, **extra), **extra)


FACTORIES = {"heat-sine": heat, "wave-1d": wave, "helmholtz-2d": helmholtz, "burgers-1d": burgers,
             "anisotropic-advection-diffusion": advection_diffusion}
