"""Problem registry: ``get_problem(name, **kw)``, ``available_problems()``, ``problem_from_params(params)``.

=========================  ==================================================  ============================
name                       factory                                             keywords
=========================  ==================================================  ============================
``poisson-two-body``       :meth:`Poisson.two_body`                            ``dim``, ``seed`` (0)
``allen-cahn-two-body``    :meth:`AllenCahn.two_body`                          ``dim``, ``seed`` (0)
``poisson-sine-cube``      :meth:`Poisson.sine_cube`                           ``dim`` (5)
``poisson-sine-square``    :meth:`Poisson.sine_square`                         (``dim`` = 2 accepted)
``allen-cahn-time``        :meth:`AllenCahn.time`                              ``spatial_dim`` or ``dim``
                                                                               (= spatial_dim + 1), ``c`` (1)
=========================  ==================================================  ============================

Every factory also accepts the problem's fields (``sampler``, ``boundary_weight``, ``coeffs``, ...). ``dim``
always means the network input dimension, ``problem.dim``.
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable

from .._checks import lookup
from .allen_cahn import AllenCahn, AllenCahnTime, AllenCahnTwoBody
from .base import Problem
from .poisson import Poisson, PoissonSineCube, PoissonSineSquare, PoissonTwoBody


def _sine_square(dim: int = 2, **fields) -> PoissonSineSquare:
    if dim != 2:
        raise ValueError(f"poisson-sine-square: dim must be 2 (the problem lives on [-1, 1]^2), got {dim!r}.")
    return Poisson.sine_square(**fields)


def _allen_cahn_time(spatial_dim: int | None = None, c: float = 1.0, dim: int | None = None,
                     **fields) -> AllenCahnTime:
    if spatial_dim is None and dim is None:
        raise ValueError("allen-cahn-time: pass spatial_dim (the ball's dimension) or dim (the network input "
                         "dimension, spatial_dim + 1).")
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"allen-cahn-time: dim (network input = spatial_dim + 1) must be an integer >= 2, "
                             f"got {dim!r}.")
        if spatial_dim is not None and spatial_dim != dim - 1:
            raise ValueError(f"allen-cahn-time: dim={dim} and spatial_dim={spatial_dim} disagree; dim is the "
                             f"network input dimension spatial_dim + 1, pass only one of them.")
        spatial_dim = dim - 1
    return AllenCahn.time(spatial_dim, c, **fields)


PROBLEMS: dict[str, Callable[..., Problem]] = {
    PoissonTwoBody.name: Poisson.two_body,
    AllenCahnTwoBody.name: AllenCahn.two_body,
    PoissonSineCube.name: Poisson.sine_cube,
    PoissonSineSquare.name: _sine_square,
    AllenCahnTime.name: _allen_cahn_time,
}

PROBLEM_CLASSES: dict[str, type] = {cls.name: cls for cls in
                                    (PoissonTwoBody, AllenCahnTwoBody, PoissonSineCube, PoissonSineSquare,
                                     AllenCahnTime)}


def available_problems() -> list[str]:
    """Registered problem names."""
    return sorted(PROBLEMS)


def get_problem(name: str, **kw: Any) -> Problem:
    """Build a registered problem, e.g. ``get_problem("poisson-two-body", dim=10, seed=0)``.

    Raises:
        ValueError: unknown name (lists the valid names), unknown or missing keywords (lists the valid ones).
    """
    factory = lookup(PROBLEMS, "problem", name)
    cls = PROBLEM_CLASSES[name]
    keywords = [p for p in inspect.signature(factory).parameters if p not in ("fields",)]
    field_names = [f.name for f in dataclasses.fields(cls) if f.init]
    valid = list(dict.fromkeys(keywords + field_names))
    unknown = [k for k in kw if k not in valid]
    if unknown:
        raise ValueError(f"{name}: unknown keyword {unknown[0]!r}; valid keywords: {', '.join(map(repr, valid))}.")
    try:
        inspect.signature(factory).bind(**kw)
    except TypeError as err:
        raise ValueError(f"{name}: {err}; valid keywords: {', '.join(map(repr, valid))}.") from None
    return factory(**kw)


def problem_from_params(params: dict[str, Any]) -> Problem:
    """Rebuild a problem from :meth:`Problem.params` (``name`` plus every field)."""
    if "name" not in params:
        raise ValueError(f"problem_from_params: params must contain 'name' (from Problem.params()), got keys "
                         f"{sorted(params)}.")
    cls = lookup(PROBLEM_CLASSES, "problem", params["name"])
    fields = {k: v for k, v in params.items() if k != "name"}
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in fields if k not in valid]
    if unknown:
        raise ValueError(f"problem_from_params: unknown field {unknown[0]!r} for {params['name']!r}; valid fields: "
                         f"{', '.join(map(repr, valid))}.")
    return cls(**fields)
