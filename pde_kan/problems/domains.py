"""Domains with interior and boundary samplers: :class:`Ball`, :class:`Box` and :class:`SpaceTime`.

Domains are frozen dataclasses. Samplers take ``n``, an explicit ``torch.Generator`` and a sampler name (see
:mod:`pde_kan.problems.sampling`), draw in float64 on the generator's device and return ``(n, dim)`` tensors of
the requested ``dtype`` and ``device``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import torch

from .._checks import choice, positive_float, positive_int
from .sampling import CUBE_SAMPLERS, RADIAL_SAMPLERS, ball_radii, check_generator, sphere_directions, unit_cube


def _finite_tuple(name: str, values, owner: str) -> tuple[float, ...]:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().reshape(-1).tolist()
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{owner}: {name} must be a sequence of numbers, got {values!r}.")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {name} must be a sequence of numbers, got {values!r}.") from None
    bad = [i for i, v in enumerate(out) if not math.isfinite(v)]
    if bad:
        raise ValueError(f"{owner}: {name} must be finite, got {out[bad[0]]} at index {bad[0]}.")
    return out


def _finish(points: torch.Tensor, dtype, device) -> torch.Tensor:
    return points.to(device=device if device is not None else points.device, dtype=dtype)


@dataclass(frozen=True)
class Ball:
    """Ball ``|x - center| <= radius`` in ``R^dim``.

    Args:
        dim: dimension ``>= 1``.
        radius: ``> 0``.
        center: a number (every coordinate) or ``dim`` numbers; stored as a tuple.

    Interior samplers: ``"uniform"`` (uniform in volume: Gaussian direction times ``radius * U^(1/dim)``) and
    ``"uniform-radius"`` (radius ``radius * U``; not uniform in volume — the reference MetaKAN scripts' choice).
    """

    dim: int
    radius: float = 1.0
    center: Union[float, Sequence[float]] = 0.0

    interior_samplers = tuple(RADIAL_SAMPLERS)

    def __post_init__(self):
        dim = positive_int("dim", self.dim, owner="Ball")
        radius = positive_float("radius", self.radius, owner="Ball")
        center = self.center
        if isinstance(center, (int, float)) and not isinstance(center, bool):
            center = (center,) * dim
        center = _finite_tuple("center", center, "Ball")
        if len(center) != dim:
            raise ValueError(f"Ball: center must have {dim} entries (one per dimension) or be a number, "
                             f"got {len(center)}.")
        object.__setattr__(self, "dim", dim)
        object.__setattr__(self, "radius", radius)
        object.__setattr__(self, "center", center)

    def _center(self, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(self.center, dtype=like.dtype, device=like.device)

    def sample_interior(self, n: int, generator: torch.Generator, *, sampler: str = "uniform",
                        dtype=torch.float64, device=None) -> torch.Tensor:
        """``(n, dim)`` points inside the ball."""
        n = positive_int("n", n, owner="Ball.sample_interior")
        choice("ball sampler", sampler, self.interior_samplers, owner="Ball")
        check_generator(generator, "Ball.sample_interior")
        direction = sphere_directions(n, self.dim, generator)
        r = ball_radii(n, self.dim, generator, sampler)
        x = self._center(direction) + self.radius * r.unsqueeze(-1) * direction
        return _finish(x, dtype, device)

    def sample_boundary(self, n: int, generator: torch.Generator, *, dtype=torch.float64, device=None) -> torch.Tensor:
        """``(n, dim)`` points uniform on the sphere ``|x - center| = radius``."""
        n = positive_int("n", n, owner="Ball.sample_boundary")
        check_generator(generator, "Ball.sample_boundary")
        direction = sphere_directions(n, self.dim, generator)
        return _finish(self._center(direction) + self.radius * direction, dtype, device)

    def distance_from_center(self, x: torch.Tensor) -> torch.Tensor:
        """``(N,)`` Euclidean distance of ``x: (N, dim)`` from the center."""
        return torch.linalg.vector_norm(x - self._center(x), dim=-1)

    def contains(self, x: torch.Tensor, tol: float = 1e-12) -> torch.Tensor:
        """``(N,)`` bool: ``|x - center| <= radius (1 + tol)``."""
        return self.distance_from_center(x) <= self.radius * (1 + tol)

    def on_boundary(self, x: torch.Tensor, tol: float = 1e-9) -> torch.Tensor:
        """``(N,)`` bool: ``| |x - center| - radius | <= tol * radius``."""
        return (self.distance_from_center(x) - self.radius).abs() <= tol * self.radius

    @property
    def bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Axis-aligned bounding box ``(lows, highs)``."""
        return (tuple(c - self.radius for c in self.center), tuple(c + self.radius for c in self.center))


@dataclass(frozen=True)
class Box:
    """Axis-aligned box ``lows <= x <= highs`` (``lows[i] < highs[i]`` for every ``i``).

    Interior samplers: ``"uniform"``, ``"sobol"``, ``"halton"``, ``"latin-hypercube"`` (scipy.stats.qmc,
    scrambled, seeded from the generator). The boundary sampler is uniform in surface measure: a face is
    picked with probability proportional to its area (all faces equally likely on a cube), then a uniform
    point on it.
    """

    lows: Sequence[float]
    highs: Sequence[float]

    interior_samplers = tuple(CUBE_SAMPLERS)

    def __post_init__(self):
        lows = _finite_tuple("lows", self.lows, "Box")
        highs = _finite_tuple("highs", self.highs, "Box")
        if len(lows) < 1:
            raise ValueError("Box: lows and highs need at least one entry (dim >= 1), got 0.")
        if len(lows) != len(highs):
            raise ValueError(f"Box: lows and highs must have the same length, got {len(lows)} and {len(highs)}.")
        for i, (lo, hi) in enumerate(zip(lows, highs)):
            if not lo < hi:
                raise ValueError(f"Box: lows[{i}] must be < highs[{i}], got lows[{i}]={lo} >= highs[{i}]={hi}; "
                                 f"swap them or widen the box.")
        object.__setattr__(self, "lows", lows)
        object.__setattr__(self, "highs", highs)

    @classmethod
    def cube(cls, dim: int, low: float = 0.0, high: float = 1.0) -> "Box":
        """The cube ``[low, high]^dim``."""
        dim = positive_int("dim", dim, owner="Box.cube")
        return cls((low,) * dim, (high,) * dim)

    @property
    def dim(self) -> int:
        return len(self.lows)

    def _lh(self, like: torch.Tensor):
        lo = torch.as_tensor(self.lows, dtype=like.dtype, device=like.device)
        hi = torch.as_tensor(self.highs, dtype=like.dtype, device=like.device)
        return lo, hi

    def sample_interior(self, n: int, generator: torch.Generator, *, sampler: str = "uniform",
                        dtype=torch.float64, device=None) -> torch.Tensor:
        """``(n, dim)`` points in the box from the named sampler."""
        choice("box sampler", sampler, self.interior_samplers, owner="Box")
        u = unit_cube(n, self.dim, check_generator(generator, "Box.sample_interior"), sampler)
        lo, hi = self._lh(u)
        return _finish(lo + (hi - lo) * u, dtype, device)

    def sample_boundary(self, n: int, generator: torch.Generator, *, dtype=torch.float64, device=None) -> torch.Tensor:
        """``(n, dim)`` points on the faces, uniform in surface measure."""
        n = positive_int("n", n, owner="Box.sample_boundary")
        check_generator(generator, "Box.sample_boundary")
        u = unit_cube(n, self.dim, generator)
        lo, hi = self._lh(u)
        width = hi - lo
        area = torch.prod(width) / width  # area of the face normal to axis i (1 for every axis when dim = 1)
        axis = torch.multinomial(area.to(generator.device), n, replacement=True, generator=generator).cpu()
        side = torch.randint(0, 2, (n,), generator=generator, device=generator.device).cpu()
        x = lo + width * u
        rows = torch.arange(n)
        x[rows, axis] = torch.where(side == 1, hi[axis], lo[axis])
        return _finish(x, dtype, device)

    def contains(self, x: torch.Tensor, tol: float = 1e-12) -> torch.Tensor:
        """``(N,)`` bool: inside the box up to ``tol`` times the widths."""
        lo, hi = self._lh(x)
        slack = tol * (hi - lo)
        return ((x >= lo - slack) & (x <= hi + slack)).all(-1)

    def on_boundary(self, x: torch.Tensor, tol: float = 1e-9) -> torch.Tensor:
        """``(N,)`` bool: inside and within ``tol`` times the width of some face."""
        lo, hi = self._lh(x)
        slack = tol * (hi - lo)
        near = ((x - lo).abs() <= slack) | ((x - hi).abs() <= slack)
        return self.contains(x, tol) & near.any(-1)

    @property
    def bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return self.lows, self.highs


Spatial = Union[Ball, Box]


@dataclass(frozen=True)
class SpaceTime:
    """``space x [t0, t1]``; points are ``(x, t)`` with time as the last coordinate (``dim = space.dim + 1``).

    Interior: the space sampler for ``x`` and ``t`` uniform. Boundary: the lateral boundary (space boundary
    times uniform ``t``). Initial: space interior at ``t = t0``.
    """

    space: Spatial
    t0: float = 0.0
    t1: float = 1.0

    def __post_init__(self):
        if not isinstance(self.space, (Ball, Box)):
            raise TypeError(f"SpaceTime: space must be a Ball or a Box, got {type(self.space).__name__}.")
        t0, t1 = (_finite_tuple("(t0, t1)", (self.t0, self.t1), "SpaceTime"))
        if not t0 < t1:
            raise ValueError(f"SpaceTime: t0 must be < t1, got t0={t0} >= t1={t1}.")
        object.__setattr__(self, "t0", t0)
        object.__setattr__(self, "t1", t1)

    @property
    def dim(self) -> int:
        return self.space.dim + 1

    @property
    def interior_samplers(self) -> tuple[str, ...]:
        return self.space.interior_samplers

    def _times(self, n: int, generator: torch.Generator) -> torch.Tensor:
        u = torch.rand(n, 1, generator=generator, dtype=torch.float64, device=generator.device).cpu()
        return self.t0 + (self.t1 - self.t0) * u

    def sample_interior(self, n: int, generator: torch.Generator, *, sampler: str = "uniform",
                        dtype=torch.float64, device=None) -> torch.Tensor:
        x = self.space.sample_interior(n, generator, sampler=sampler)
        return _finish(torch.cat([x, self._times(n, generator)], dim=1), dtype, device)

    def sample_boundary(self, n: int, generator: torch.Generator, *, dtype=torch.float64, device=None) -> torch.Tensor:
        x = self.space.sample_boundary(n, generator)
        return _finish(torch.cat([x, self._times(n, generator)], dim=1), dtype, device)

    def sample_initial(self, n: int, generator: torch.Generator, *, sampler: str = "uniform",
                       dtype=torch.float64, device=None) -> torch.Tensor:
        x = self.space.sample_interior(n, generator, sampler=sampler)
        return _finish(torch.cat([x, x.new_full((n, 1), self.t0)], dim=1), dtype, device)

    @property
    def bounds(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Bounding box ``(lows, highs)``: the space's, then ``t0`` / ``t1``."""
        lo, hi = self.space.bounds
        return lo + (self.t0,), hi + (self.t1,)

    def contains(self, x: torch.Tensor, tol: float = 1e-12) -> torch.Tensor:
        t = x[:, -1]
        slack = tol * (self.t1 - self.t0)
        return self.space.contains(x[:, :-1], tol) & (t >= self.t0 - slack) & (t <= self.t1 + slack)


Domain = Union[Ball, Box, SpaceTime]
#: the domain types (each has ``dim``, ``bounds``, ``contains``, ``sample_interior``, ``sample_boundary``)
DOMAINS = (Ball, Box, SpaceTime)
