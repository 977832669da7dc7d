"""Derivative engines: forward jets (exact and stochastic) and the autograd reference."""
from .directions import Coordinates, Dense, Directions, hutchinson, sdgd
from .engines import (AUTOGRAD_METHODS, JET_METHODS, METHODS, STOCHASTIC_METHODS, Derivatives, apply_transform, autograd_laplacian,
                      check_method, gradient, laplacian, make_directions, pde_derivatives)
from .jet import JET_RULES, Jet, edge_derivatives, forward_jet, register_jet_rule

__all__ = [
    "AUTOGRAD_METHODS", "Coordinates", "Derivatives", "apply_transform", "pde_derivatives", "Dense", "Directions", "JET_METHODS", "JET_RULES", "Jet", "METHODS",
    "STOCHASTIC_METHODS", "autograd_laplacian", "check_method", "edge_derivatives", "forward_jet", "gradient",
    "hutchinson", "laplacian", "make_directions", "register_jet_rule", "sdgd",
]
