"""Random and quasi-random point generators, in registries.

All randomness comes from an explicit ``torch.Generator``. Quasi-Monte-Carlo samplers (scipy.stats.qmc) are
scrambled and seeded from one integer drawn from that generator, so the same generator state gives the same
points, and successive calls give fresh, independent scrambles.

Unit-cube samplers (``CUBE_SAMPLERS``), each ``(n, d, generator) -> (n, d)`` float64 points in ``[0, 1)^d``:

* ``"uniform"``: i.i.d. uniform.
* ``"sobol"``: scrambled Sobol' sequence. Its balance properties hold for ``n`` a power of 2; other ``n`` work
  (scipy's warning about it is silenced here because PINN batches are rarely powers of 2).
* ``"halton"``: scrambled Halton sequence.
* ``"latin-hypercube"``: Latin hypercube (one point in each of ``n`` strata per coordinate).

Ball radius samplers (``RADIAL_SAMPLERS``), each ``(n, d, generator) -> (n,)`` radii in ``[0, 1)`` for the unit ball:

* ``"uniform"``: ``U^(1/d)`` — with a uniform direction this is uniform in volume (``r^d`` is uniform).
* ``"uniform-radius"``: ``U`` — the radius itself uniform, **not** uniform in volume: points crowd towards the
  centre as ``d`` grows. This is what the reference MetaKAN scripts draw; use it only to reproduce their numbers.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch

from .._checks import lookup, positive_int

Sampler = Callable[[int, int, torch.Generator], torch.Tensor]


def check_generator(generator, owner: str) -> torch.Generator:
    """Require an explicit ``torch.Generator`` (the package never touches the global RNG)."""
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"{owner}: generator must be a torch.Generator, got {type(generator).__name__}; pass "
                        f"generator=torch.Generator().manual_seed(seed).")
    return generator


def seed_from(generator: torch.Generator) -> int:
    """One integer seed drawn from ``generator`` (for numpy / scipy samplers)."""
    return int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=generator.device).item())


def _uniform(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, d, generator=generator, dtype=torch.float64, device=generator.device).cpu()


def _qmc(engine: Callable[[int, np.random.Generator], object]) -> Sampler:
    def sample(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
        rng = np.random.default_rng(seed_from(generator))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*balance properties of Sobol.*")
            points = engine(d, rng).random(n)
        return torch.from_numpy(np.ascontiguousarray(points, dtype=np.float64))

    return sample


def _sobol(d, rng):
    from scipy.stats import qmc
    return qmc.Sobol(d, scramble=True, seed=rng)


def _halton(d, rng):
    from scipy.stats import qmc
    return qmc.Halton(d, scramble=True, seed=rng)


def _lhs(d, rng):
    from scipy.stats import qmc
    return qmc.LatinHypercube(d, seed=rng)


CUBE_SAMPLERS: dict[str, Sampler] = {
    "uniform": _uniform,
    "sobol": _qmc(_sobol),
    "halton": _qmc(_halton),
    "latin-hypercube": _qmc(_lhs),
}


def _radius_volume(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device).cpu()
    return u ** (1.0 / d)


def _radius_uniform(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, dtype=torch.float64, device=generator.device).cpu()


RADIAL_SAMPLERS: dict[str, Callable[[int, int, torch.Generator], torch.Tensor]] = {
    "uniform": _radius_volume,
    "uniform-radius": _radius_uniform,
}


def unit_cube(n: int, d: int, generator: torch.Generator, sampler: str = "uniform") -> torch.Tensor:
    """``(n, d)`` float64 CPU points in ``[0, 1)^d`` from the named cube sampler."""
    n = positive_int("n", n, owner="unit_cube")
    d = positive_int("d", d, owner="unit_cube")
    fn = lookup(CUBE_SAMPLERS, "box sampler", sampler)
    return fn(n, d, check_generator(generator, "unit_cube"))


def sphere_directions(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """``(n, d)`` float64 CPU unit vectors, uniform on the sphere: normalised standard Gaussians."""
    g = torch.randn(n, d, generator=generator, dtype=torch.float64, device=generator.device).cpu()
    norm = torch.linalg.vector_norm(g, dim=1, keepdim=True)
    # a zero Gaussian vector has probability 0; guard the division anyway
    return g / norm.clamp_min(1e-300)


def ball_radii(n: int, d: int, generator: torch.Generator, sampler: str = "uniform") -> torch.Tensor:
    """``(n,)`` float64 CPU radii for the unit ball from the named radial sampler."""
    fn = lookup(RADIAL_SAMPLERS, "ball sampler", sampler)
    return fn(n, d, generator)
