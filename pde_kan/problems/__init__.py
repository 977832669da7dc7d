"""PDE problems: domains, samplers, manufactured solutions, Poisson and Allen–Cahn families, registry.

Every problem is a frozen dataclass (:class:`Problem`) with a closed-form exact solution; its source term is
derived once in :mod:`pde_kan.problems.manufactured`. Hard boundary conditions are jet transforms used by both
derivative paths of :func:`pde_kan.diff.pde_derivatives`.

All domains lie inside the default spline grid range ``[-1, 1]`` (unit ball, ``[-1, 1]^2``, ``[0, 1]^d``,
``t in [0, 1]``), so network inputs need no rescaling.
"""
from .allen_cahn import AllenCahn, AllenCahnTime, AllenCahnTwoBody
from .base import Problem, closed_jet
from .domains import Ball, Box, SpaceTime
from .manufactured import Field
from .poisson import Poisson, PoissonSineCube, PoissonSineSquare, PoissonTwoBody
from .registry import PROBLEMS, available_problems, get_problem, problem_from_params
from .sampling import CUBE_SAMPLERS, RADIAL_SAMPLERS

__all__ = [
    "AllenCahn", "AllenCahnTime", "AllenCahnTwoBody", "Ball", "Box", "CUBE_SAMPLERS", "Field", "PROBLEMS",
    "Poisson", "PoissonSineCube", "PoissonSineSquare", "PoissonTwoBody", "Problem", "RADIAL_SAMPLERS",
    "SpaceTime", "available_problems", "closed_jet", "get_problem", "problem_from_params",
]
