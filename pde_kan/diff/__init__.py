"""Derivative engines: forward jets (exact and stochastic) and the autograd reference, one registry
(:func:`get_engine`, :func:`available_engines`)."""
from .control_variate import ball_ansatz_derivatives
from .directions import Coordinates, Dense, Directions, hutchinson, sdgd
from .engines import (Derivatives, Engine, autograd_laplacian, available_engines, get_engine, gradient,
                      head_derivatives, laplacian, make_directions, pde_derivatives)
from .jet import Jet, edge_derivatives, forward_jet, register_jet_rule

__all__ = [  # public names only; internals stay importable from their modules
    "Coordinates", "Dense", "Derivatives", "Directions", "Engine", "Jet", "autograd_laplacian", "available_engines",
    "ball_ansatz_derivatives", "edge_derivatives", "forward_jet", "get_engine", "gradient", "head_derivatives",
    "hutchinson",
    "laplacian", "make_directions", "pde_derivatives", "register_jet_rule", "sdgd",
]
