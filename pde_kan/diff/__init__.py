"""Derivative engines: forward jets (exact and stochastic) and the autograd reference, one registry
(:data:`ENGINES`)."""
from .control_variate import ball_ansatz_derivatives
from .directions import Coordinates, Dense, Directions, hutchinson, sdgd
from .engines import (ENGINES, Derivatives, Engine, apply_transform, autograd_laplacian, get_engine, gradient,
                      laplacian, make_directions, pde_derivatives)
from .jet import Jet, forward_jet, register_jet_rule

__all__ = [
    "Coordinates", "Dense", "Derivatives", "Directions", "ENGINES", "Engine", "Jet", "apply_transform",
    "autograd_laplacian", "ball_ansatz_derivatives", "forward_jet", "get_engine", "gradient", "hutchinson",
    "laplacian", "make_directions", "pde_derivatives", "register_jet_rule", "sdgd",
]
