"""The named boundary parts of a domain (:func:`boundary_parts`: samplers and distance factors), outward normals
and normal derivatives; the conditions of :mod:`pde_kan.problems.conditions` live on these parts (its docstring
lists the part names of each domain)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .domains import Ball, SpaceTime
from .sampling import unit_cube


@dataclass(frozen=True)
class Part:
    """A named piece of a domain's boundary.

    Attributes:
        sample: ``(n, generator) -> (n, D)`` float64 points on the part (CPU).
        factors: closed-form distance factors ``x -> (value (N,), grad (N, D), hess_diag (N, D))`` whose
            product vanishes on the part (None: no distance function, the part cannot carry a hard condition).
    """

    name: str
    sample: Callable[[int, torch.Generator], torch.Tensor]
    factors: Optional[tuple] = None


def _space(domain):
    return domain.space if isinstance(domain, SpaceTime) else domain


def _lift(points: torch.Tensor, domain, generator: torch.Generator) -> torch.Tensor:
    """Append a uniform time to spatial points on a space-time domain."""
    if not isinstance(domain, SpaceTime):
        return points
    return torch.cat([points, domain._times(points.shape[0], generator)], dim=1)


def _face_sampler(domain, axis: int, side: int):
    space = _space(domain)

    def sample(n, generator):
        u = unit_cube(n, space.dim, generator)
        lo, hi = space._lh(u)
        x = lo + (hi - lo) * u
        x[:, axis] = (hi if side else lo)[axis]
        return _lift(x, domain, generator)

    return sample


def _box_factor(domain, axis: int, low: bool, high: bool):
    """Distance factor for the low and/or high face of ``axis``, scaled to be O(1) inside."""
    space = _space(domain)
    lo, hi = space.lows[axis], space.highs[axis]
    w = hi - lo

    def factor(x):
        z = x[:, axis]
        grad = torch.zeros_like(x)
        hess = torch.zeros_like(x)
        if low and high:  # (z - lo)(hi - z) / (w/2)^2: 1 at the centre
            s = 4.0 / (w * w)
            grad[:, axis] = s * (lo + hi - 2 * z)
            hess[:, axis] = -2 * s
            return s * (z - lo) * (hi - z), grad, hess
        if low:
            grad[:, axis] = 1.0 / w
            return (z - lo) / w, grad, hess
        grad[:, axis] = -1.0 / w
        return (hi - z) / w, grad, hess

    return factor


def _ball_factor(domain):
    ball = _space(domain)
    r2 = ball.radius ** 2
    sd = ball.dim

    def factor(x):
        c = torch.as_tensor(ball.center, dtype=x.dtype, device=x.device)
        y = x[:, :sd] - c
        grad = torch.zeros_like(x)
        hess = torch.zeros_like(x)
        grad[:, :sd] = -2 * y / r2
        hess[:, :sd] = -2.0 / r2
        return 1 - (y * y).sum(-1) / r2, grad, hess

    return factor


def boundary_parts(domain) -> dict[str, Part]:
    """The named boundary parts of ``domain`` (see the module docstring)."""
    space = _space(domain)
    parts: dict[str, Part] = {}
    if isinstance(space, Ball):
        parts["boundary"] = Part("boundary", lambda n, g: _lift(space.sample_boundary(n, g), domain, g),
                                 (_ball_factor(domain),))
    else:
        full = tuple(_box_factor(domain, i, True, True) for i in range(space.dim))
        parts["boundary"] = Part("boundary", lambda n, g: _lift(space.sample_boundary(n, g), domain, g), full)
        for i in range(space.dim):
            for side, label in ((0, "low"), (1, "high")):
                parts[f"x{i}_{label}"] = Part(f"x{i}_{label}", _face_sampler(domain, i, side),
                                              (_box_factor(domain, i, side == 0, side == 1),))
    if isinstance(domain, SpaceTime):
        parts["initial"] = Part("initial", lambda n, g: domain.sample_initial(n, g))
    return parts


def outward_normal(domain, x: torch.Tensor) -> torch.Tensor:
    """``(N, D)`` outward unit normal at boundary points ``x: (N, D)`` (zero in the time column).

    On a box the normal of the nearest face (relative to the box's widths); on a ball ``(x - c) / |x - c|``.
    """
    space = _space(domain)
    sd = space.dim
    xs = x[:, :sd]
    n = torch.zeros_like(x)
    if isinstance(space, Ball):
        c = torch.as_tensor(space.center, dtype=x.dtype, device=x.device)
        y = xs - c
        n[:, :sd] = y / torch.linalg.vector_norm(y, dim=-1, keepdim=True).clamp_min(1e-300)
        return n
    lo, hi = space._lh(xs)
    w = hi - lo
    dist = torch.cat([(xs - lo) / w, (hi - xs) / w], dim=1)  # (N, 2 sd)
    k = dist.argmin(1)
    axis = k % sd
    sign = torch.where(k < sd, -1.0, 1.0).to(x.dtype)
    n[torch.arange(x.shape[0], device=x.device), axis] = sign
    return n


def normal_derivative(domain, x: torch.Tensor, first: dict[int, torch.Tensor]) -> torch.Tensor:
    """``∂u/∂n (N,)`` from the spatial first derivatives ``first[i] (N,)`` at boundary points ``x``."""
    n = outward_normal(domain, x)
    return sum(n[:, i] * first[i] for i in first)


__all__ = ["Part", "boundary_parts", "normal_derivative", "outward_normal"]
