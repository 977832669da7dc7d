"""Derivative engines: forward jets (exact and stochastic) and the autograd reference."""
from .directions import Coordinates, Dense, Directions, hutchinson, sdgd
from .engines import (METHODS, Derivatives, autograd_laplacian, gradient, laplacian, make_directions,
                      pde_derivatives)
from .jet import Jet, edge_derivatives, forward_jet, register_jet_rule

__all__ = [  # public names only; internals stay importable from their modules
    "Coordinates", "Dense", "Derivatives", "Directions", "Jet", "METHODS", "autograd_laplacian", "edge_derivatives",
    "forward_jet", "gradient", "hutchinson", "laplacian", "make_directions", "pde_derivatives", "register_jet_rule",
    "sdgd",
]
