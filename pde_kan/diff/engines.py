"""Laplacian and gradient engines: one registry, exact and stochastic.

===============  ==========================================================  ==============================
method           what                                                        cost per point
===============  ==========================================================  ==============================
``jet``          exact forward jet along all d coordinates                    one pass, tangents (width, d)
``sdgd``         jet along K random coordinates, scaled by d / K (unbiased)   one pass, tangents (width, K)
``hutchinson``   jet along K Rademacher/Gaussian probes, scaled by 1/K        one pass, tangents (width, K)
``autograd``     d backward passes through the gradient (reference)           d backward passes
``sdgd_autograd`` K backward passes for K random coordinates, scaled d / K    K backward passes
===============  ==========================================================  ==============================
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .._checks import positive_int
from .directions import Coordinates, Directions, hutchinson, sdgd
from .jet import Jet, forward_jet

JET_METHODS = ("jet", "sdgd", "hutchinson")
AUTOGRAD_METHODS = ("autograd", "sdgd_autograd")
METHODS = JET_METHODS + AUTOGRAD_METHODS
STOCHASTIC_METHODS = ("sdgd", "hutchinson", "sdgd_autograd")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown laplacian method {method!r}; valid names: {', '.join(map(repr, METHODS))}.")
    return method


def make_directions(method: str, n: int, dim: int, *, k: Optional[int] = None,
                    generator: Optional[torch.Generator] = None, dtype=torch.float64, device=None,
                    distribution: str = "rademacher") -> Directions:
    """Directions for a jet method: ``"jet"`` (all coordinates), ``"sdgd"`` or ``"hutchinson"`` (K probes)."""
    check_method(method)
    if method == "jet":
        return Coordinates.all(dim, device=device)
    if method not in JET_METHODS:
        raise ValueError(f"method {method!r} is not a jet method; jet methods: {', '.join(JET_METHODS)}.")
    if k is None:
        raise ValueError(f"method {method!r} needs k, the number of probe directions (e.g. k=4).")
    k = positive_int("k", k, owner=method)
    if method == "sdgd" and k > dim:
        raise ValueError(f"sdgd: k={k} exceeds the dimension d={dim}; use k <= d or method='jet'.")
    if generator is None:
        raise ValueError(f"method {method!r} is stochastic and needs an explicit torch.Generator (generator=...).")
    if method == "sdgd":
        return sdgd(dim, k, generator, device=device)
    return hutchinson(n, dim, k, generator, dtype=dtype, device=device, distribution=distribution)


def autograd_laplacian(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       index: Optional[torch.Tensor] = None, scale: float = 1.0):
    """Reference Laplacian by a loop of backward passes: ``fn: (N, d) -> (N, 1)`` or ``(N,)``.

    Args:
        index: coordinates to sum over (default all); ``scale`` multiplies the sum (d/K for SDGD).

    Returns:
        ``(u (N,), lap (N,), grad (N, d))`` with graphs kept, so the result can be differentiated again.
    """
    x = x.detach().requires_grad_(True)
    u = fn(x)
    u = u.reshape(u.shape[0], -1)
    if u.shape[1] != 1:
        raise ValueError(f"autograd_laplacian needs a scalar field, got output shape {tuple(u.shape)}.")
    u = u[:, 0]
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    idx = range(x.shape[1]) if index is None else index.tolist()
    lap = torch.zeros_like(u)
    for i in idx:
        (h,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=True)
        lap = lap + h[:, i]
    return u, scale * lap, g


def laplacian(model, x: torch.Tensor, method: str = "jet", *, k: Optional[int] = None,
              generator: Optional[torch.Generator] = None, distribution: str = "rademacher") -> torch.Tensor:
    """Laplacian (or its unbiased estimate) of a scalar-output model at ``x (N, d)`` -> ``(N,)``.

    Args:
        model: a pde_kan backbone (any method) or any callable ``(N, d) -> (N, 1)`` (autograd methods only).
        method: see the module table.
        k: number of probe directions for the stochastic methods.
        generator: explicit ``torch.Generator`` for the stochastic methods (no global RNG).
    """
    check_method(method)
    n, d = x.shape
    if method in JET_METHODS:
        dirs = make_directions(method, n, d, k=k, generator=generator, dtype=x.dtype, device=x.device,
                               distribution=distribution)
        jet = forward_jet(model, x, dirs)
        return jet.laplacian[:, 0] if jet.value.shape[1] == 1 else jet.laplacian
    index, scale = None, 1.0
    if method == "sdgd_autograd":
        dirs = make_directions("sdgd", n, d, k=k, generator=generator, device=x.device)
        index, scale = dirs.index, dirs.scale
    if hasattr(model, "check"):
        model.check(x)
    return autograd_laplacian(model, x, index, scale)[1]


def gradient(model, x: torch.Tensor) -> torch.Tensor:
    """Exact gradient of a scalar-output backbone from one forward jet: ``(N, d)``."""
    jet = forward_jet(model, x, Coordinates.all(x.shape[1], device=x.device))
    if jet.value.shape[1] != 1:
        raise ValueError(f"gradient needs a scalar-output model, got {jet.value.shape[1]} outputs.")
    return jet.tangent[:, 0, :]
