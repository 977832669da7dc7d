"""Manufactured solutions in closed form, with their derivatives.

Every source term in :mod:`pde_kan.problems` is computed from one of these fields, so each derivation lives
here exactly once (and is tested against autograd in float64).

A :class:`Field` holds, at points ``x: (N, D)``, the value ``(N,)``, the gradient ``(N, D)`` and the diagonal
of the Hessian ``(N, D)``; its Laplacian runs over the spatial coordinates ``0 .. spatial_dim - 1`` (the time
coordinate, when there is one, is the last column).

Formulas
--------
**Two-body** (the high-dimensional benchmark of SDGD / STDE / MetaKAN), ``x`` in ``R^d``, ``d >= 2``, pairs
``(x_i, x_{i+1})`` for ``i = 0 .. d-2`` (so ``d - 1`` coefficients)::

    u  = (1 - |x|^2) S,      S = sum_i c_i sin(θ_i),      θ_i = a + cos b + b cos a,   a = x_i, b = x_{i+1}
    θ_a = 1 - b sin a,   θ_b = cos a - sin b,   θ_aa = -b cos a,   θ_bb = -cos b
    ∂S/∂x_j   = c_j cos θ_j θ_a,j + c_{j-1} cos θ_{j-1} θ_b,j-1        (each coordinate is in up to two terms)
    ∂²S/∂x_j² = c_j (cos θ_j θ_aa,j - sin θ_j θ_a,j²) + c_{j-1} (cos θ_{j-1} θ_bb,j-1 - sin θ_{j-1} θ_b,j-1²)
    ∂u/∂x_j   = (1 - |x|^2) ∂S/∂x_j - 2 x_j S
    ∂²u/∂x_j² = (1 - |x|^2) ∂²S/∂x_j² - 4 x_j ∂S/∂x_j - 2 S
    Δu        = (1 - |x|^2) ΔS - 4 x·∇S - 2 d S

(terms with an index outside ``0 .. d-2`` are absent).

**Sine sum** (PINNacle's high-dimensional Poisson): ``u = sum_i sin(π x_i / 2)``,
``∂²u/∂x_j² = -(π/2)^2 sin(π x_j / 2)``, so ``-Δu = (π²/4) sum_i sin(π x_i / 2)``.

**Sine product**: ``u = prod_i sin(π x_i)``, ``∂u/∂x_j = π cos(π x_j) prod_{i≠j} sin(π x_i)``,
``∂²u/∂x_j² = -π² u``, so ``-Δu = d π² u`` (``2π² u`` in 2-D).

**Allen–Cahn radial profile** with parameter ``c``, ``r = |x|`` (spatial part), ``a = 1 - r``, ``s = |a|^2.5``::

    g(r)   = sin(π/2 s) + c sin(π/2 a)
    s'     = -2.5 |a|^1.5 sign(a),        s'' = 3.75 |a|^0.5
    g'(r)  = (π/2) cos(π/2 s) s' - c (π/2) cos(π/2 a)
    g''(r) = (π/2) cos(π/2 s) s'' - (π/2)² sin(π/2 s) s'² - c (π/2)² sin(π/2 a)

A radial field ``G(x) = g(|x|)`` has ``∇G = g' x / r`` and Hessian ``(g'/r) I + (g'' - g'/r) x xᵀ / r²``, so
``∂²G/∂x_j² = g'/r + (g'' - g'/r) x_j² / r²`` and ``ΔG = g'' + (d - 1) g' / r``. The time-dependent solution is
``u = e^{-t} g(|x|)`` with ``u_t = -u`` and ``u_tt = u``.

``g'(0) = 0`` for every ``c`` (both cosines vanish at ``a = 1``), so ``g'/r`` has the finite limit ``g''(0)``, but
``g`` has an ``r^3`` term: ``G`` is C² and not smooth at ``x = 0``. The closed forms here are written so that
they stay finite at the origin (``g'/r`` without a division, the Hessian through the unit vector ``x / r``);
autograd through ``|x|`` at exactly 0 gives NaN, so tests keep their points off the origin (sampled points hit
it with probability 0).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

HALF_PI = math.pi / 2


@dataclass(frozen=True)
class Field:
    """A closed-form scalar field at points ``(N, D)``.

    Attributes:
        value: ``(N,)``.
        grad: ``(N, D)`` gradient over every input coordinate (time included).
        hess_diag: ``(N, D)`` diagonal of the Hessian.
        spatial_dim: the Laplacian sums ``hess_diag[:, :spatial_dim]``.
    """

    value: torch.Tensor
    grad: torch.Tensor
    hess_diag: torch.Tensor
    spatial_dim: int

    @property
    def laplacian(self) -> torch.Tensor:
        """``(N,)`` spatial Laplacian."""
        return self.hess_diag[:, : self.spatial_dim].sum(-1)


def two_body(x: torch.Tensor, coeffs: torch.Tensor) -> Field:
    """``u = (1 - |x|^2) sum_{i=0}^{d-2} c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i)``.

    Args:
        x: ``(N, d)`` with ``d >= 2``.
        coeffs: ``(d - 1,)`` coefficients ``c_i`` (same dtype and device as ``x``).
    """
    d = x.shape[1]
    if coeffs.shape != (d - 1,):
        raise ValueError(f"two_body: coeffs must have shape ({d - 1},) for x of shape {tuple(x.shape)}, "
                         f"got {tuple(coeffs.shape)}.")
    a, b = x[:, :-1], x[:, 1:]
    sin_a, cos_a, sin_b, cos_b = torch.sin(a), torch.cos(a), torch.sin(b), torch.cos(b)
    theta = a + cos_b + b * cos_a
    t_a = 1 - b * sin_a
    t_b = cos_a - sin_b
    t_aa = -b * cos_a
    t_bb = -cos_b
    s, c = torch.sin(theta), torch.cos(theta)
    big_s = s @ coeffs
    # each pair term contributes to coordinate i (as a) and to coordinate i+1 (as b)
    grad_s = x.new_zeros(x.shape)
    grad_s[:, :-1] += coeffs * c * t_a
    grad_s[:, 1:] += coeffs * c * t_b
    hd_s = x.new_zeros(x.shape)
    hd_s[:, :-1] += coeffs * (c * t_aa - s * t_a * t_a)
    hd_s[:, 1:] += coeffs * (c * t_bb - s * t_b * t_b)
    w = 1 - (x * x).sum(-1, keepdim=True)
    value = w[:, 0] * big_s
    grad = w * grad_s - 2 * x * big_s.unsqueeze(-1)
    hess_diag = w * hd_s - 4 * x * grad_s - 2 * big_s.unsqueeze(-1)
    return Field(value, grad, hess_diag, d)


def sine_sum(x: torch.Tensor) -> Field:
    """``u = sum_i sin(π x_i / 2)`` on ``x: (N, d)``."""
    s = torch.sin(HALF_PI * x)
    return Field(s.sum(-1), HALF_PI * torch.cos(HALF_PI * x), -(HALF_PI ** 2) * s, x.shape[1])


def sine_product(x: torch.Tensor) -> Field:
    """``u = prod_i sin(π x_i)`` on ``x: (N, d)``."""
    s = torch.sin(math.pi * x)
    ones = x.new_ones(x.shape[0], 1)
    # product over i != j without dividing by sin (which vanishes on the grid lines): prefix * suffix products
    prefix = torch.cumprod(torch.cat([ones, s[:, :-1]], dim=1), dim=1)
    suffix = torch.cumprod(torch.cat([ones, s.flip(1)[:, :-1]], dim=1), dim=1).flip(1)
    value = s.prod(-1)
    grad = math.pi * torch.cos(math.pi * x) * prefix * suffix
    hess_diag = -(math.pi ** 2) * value.unsqueeze(-1).expand_as(x)
    return Field(value, grad, hess_diag.clone(), x.shape[1])


def allen_cahn_profile(r: torch.Tensor, c: float):
    """Radial profile ``g(r) = sin(π/2 |1 - r|^2.5) + c sin(π/2 (1 - r))`` and its derivatives.

    Args:
        r: ``(N,)`` radii ``>= 0``.
        c: the family parameter.

    Returns:
        ``(g, g', g'/r, g'')``, each ``(N,)``. ``g'/r`` is computed without dividing by ``r`` (finite and accurate
        at and near ``r = 0``): with ``m = 1 - s``, ``cos(π/2 s) = sin(π/2 m)`` and ``cos(π/2 a) = sin(π/2 r)``,
        and ``m / r`` uses ``expm1 / log1p`` for small ``r`` (``m / r -> 2.5``).
    """
    a = 1 - r
    # |a| and sign(a) through where: double backward of abs() goes through a decomposition whose first use
    # imports torch._dynamo (seconds), and the autograd path differentiates this value twice
    positive = a >= 0
    abs_a = torch.where(positive, a, -a)
    s = abs_a ** 2.5
    ds = torch.where(positive, -2.5, 2.5) * abs_a ** 1.5
    d2s = 3.75 * abs_a ** 0.5
    # m / r without cancellation: for r <= 1/2, 1 - (1 - r)^2.5 = -expm1(2.5 log1p(-r))
    r_small = r.clamp(1e-300, 0.5)
    m_over_r = torch.where(r > 0.5, (1 - s) / r.clamp_min(0.5),
                           -torch.expm1(2.5 * torch.log1p(-r_small)) / r_small)
    m = m_over_r * r
    sin_s = torch.sin(HALF_PI * s)
    cos_s_over_r = HALF_PI * torch.sinc(m / 2) * m_over_r  # cos(π/2 s) / r = sin(π/2 m) / r
    cos_a_over_r = HALF_PI * torch.sinc(r / 2)  # cos(π/2 a) / r = sin(π/2 r) / r
    sin_a = torch.sin(HALF_PI * a)
    g = sin_s + c * sin_a
    g1_r = HALF_PI * cos_s_over_r * ds - c * HALF_PI * cos_a_over_r
    g1 = g1_r * r
    g2 = HALF_PI * cos_s_over_r * r * d2s - HALF_PI ** 2 * sin_s * ds * ds - c * HALF_PI ** 2 * sin_a
    return g, g1, g1_r, g2


def radial_parts(xs: torch.Tensor, c: float):
    """Pieces of the radial field ``G(x) = g(|x|)`` at spatial points ``xs: (N, d)``.

    Returns:
        ``(xhat, g, g'/r, g'' - g'/r)``: ``xhat = x / r`` ``(N, d)`` (0 at the origin) and ``(N,)`` tensors, so that
        ``∇G = (g'/r) x`` and ``∇²G = (g'/r) I + (g'' - g'/r) xhat xhatᵀ`` stay finite at ``x = 0``.
    """
    r = torch.sqrt((xs * xs).sum(-1))
    g, _, g1_r, g2 = allen_cahn_profile(r, c)
    xhat = xs / r.clamp_min(1e-300).unsqueeze(-1)
    return xhat, g, g1_r, g2 - g1_r


def allen_cahn_time(x: torch.Tensor, c: float, spatial_dim: int) -> Field:
    """``u = e^{-t} g(|x_s|)`` at ``x = (x_s, t): (N, spatial_dim + 1)`` (time last)."""
    if x.shape[1] != spatial_dim + 1:
        raise ValueError(f"allen_cahn_time: x must have shape (N, {spatial_dim + 1}) (space then time), "
                         f"got {tuple(x.shape)}.")
    xs, t = x[:, :spatial_dim], x[:, spatial_dim]
    xhat, g, g1_r, k = radial_parts(xs, c)
    e = torch.exp(-t)
    value = e * g
    grad = torch.cat([(e * g1_r).unsqueeze(-1) * xs, -value.unsqueeze(-1)], dim=1)
    hd_space = (e * g1_r).unsqueeze(-1) + (e * k).unsqueeze(-1) * xhat * xhat
    hess_diag = torch.cat([hd_space, value.unsqueeze(-1)], dim=1)
    return Field(value, grad, hess_diag, spatial_dim)


def as_coeffs(coeffs: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """A coefficient tuple as a tensor of ``like``'s dtype and device."""
    return torch.as_tensor(coeffs, dtype=like.dtype, device=like.device)
