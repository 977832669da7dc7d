"""PDE problems: domains, samplers, manufactured solutions, Poisson and Allen–Cahn families, the general
:class:`PDE` (any residual written with the lazy derivative object :class:`U`, condition objects, optional exact
solution; see docs/problems.md), the shipped heat / wave / Helmholtz / Burgers / advection–diffusion problems,
registry.

Every problem is a frozen dataclass (:class:`Problem`) with a closed-form exact solution; its source term is
derived once in :mod:`pde_kan.problems.manufactured`. Hard boundary conditions are jet transforms used by both
derivative paths of :func:`pde_kan.diff.pde_derivatives`.

All domains lie inside the default spline grid range ``[-1, 1]`` (unit ball, ``[-1, 1]^2``, ``[0, 1]^d``,
``t in [0, 1]``), so network inputs need no rescaling.
"""
from .allen_cahn import AllenCahn, AllenCahnTime, AllenCahnTwoBody
from .base import Problem
from .boundary import boundary_parts
from .classic import advection_diffusion, burgers, heat, helmholtz, wave
from .closed_form import FunctionModel
from .conditions import Dirichlet, Initial, InitialVelocity, Neumann, Periodic, Robin
from .domains import Ball, Box, SpaceTime
from .pde import PDE
from .poisson import Poisson, PoissonSineCube, PoissonSineSquare, PoissonTwoBody
from .reference import load_reference
from .registry import ENTRY_POINT_GROUP, available_problems, get_problem, problem_from_params
from .requests import U

__all__ = [  # public names only; internals stay importable from their modules
    "AllenCahn", "AllenCahnTime", "AllenCahnTwoBody", "Ball", "Box", "Dirichlet", "ENTRY_POINT_GROUP",
    "FunctionModel", "Initial", "InitialVelocity", "Neumann", "PDE", "Periodic", "Poisson", "PoissonSineCube",
    "PoissonSineSquare", "PoissonTwoBody", "Problem", "Robin", "SpaceTime", "U", "advection_diffusion",
    "available_problems", "boundary_parts", "burgers", "get_problem", "heat", "helmholtz", "load_reference",
    "problem_from_params", "wave",
]
