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

from typing import Callable, NamedTuple, Optional, Sequence

import torch

from .._checks import positive_int
from .directions import Coordinates, Dense, Directions, hutchinson, sdgd
from .jet import Jet, forward_jet

JET_METHODS = ("jet", "sdgd", "hutchinson")
AUTOGRAD_METHODS = ("autograd", "sdgd_autograd")
METHODS = JET_METHODS + AUTOGRAD_METHODS
STOCHASTIC_METHODS = ("sdgd", "hutchinson", "sdgd_autograd")


def check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown laplacian method {method!r}; valid names: {', '.join(map(repr, METHODS))}.")
    return method


def check_points(owner: str, x) -> torch.Tensor:
    """``x`` must be a tensor ``(N, d)``; checked before its shape is unpacked (the model checks the rest)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner}: x must be a torch.Tensor of shape (N, d), got {type(x).__name__}.")
    if x.ndim != 2:
        raise ValueError(f"{owner}: x must have shape (N, d), got {tuple(x.shape)}; reshape a single point "
                         f"with x.reshape(1, -1) or a 1-D grid with x.reshape(-1, 1).")
    return x


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
    (g,) = torch.autograd.grad(u.sum(), x, create_graph=True, allow_unused=True)
    g = torch.zeros_like(x) if g is None else g
    idx = range(x.shape[1]) if index is None else index.tolist()
    lap = torch.zeros_like(u)
    for i in idx:
        if not g.requires_grad:  # the gradient does not depend on x or on parameters (a frozen linear field)
            break
        # allow_unused: a field linear in x (e.g. an MLP without hidden layer) has no second-derivative graph
        (h,) = torch.autograd.grad(g[:, i].sum(), x, create_graph=True, allow_unused=True)
        if h is not None:
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
    check_points("laplacian", x)
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
    check_points("gradient", x)
    jet = forward_jet(model, x, Coordinates.all(x.shape[1], device=x.device))
    if jet.value.shape[1] != 1:
        raise ValueError(f"gradient needs a scalar-output model, got {jet.value.shape[1]} outputs.")
    return jet.tangent[:, 0, :]


class Derivatives(NamedTuple):
    """What a PDE residual reads: ``value (N,)``, ``laplacian (N,)`` over the spatial coordinates (exact or an
    unbiased estimate) and ``first (N, F)`` — exact first derivatives along the ``first_order`` coordinates."""

    value: torch.Tensor
    laplacian: torch.Tensor
    first: torch.Tensor


Transform = Callable[[torch.Tensor, Jet], Jet]


def value_directions(dim: int, device=None) -> Coordinates:
    """No directions at all (K = 0): a jet that carries only values, for evaluating a transform plainly."""
    return Coordinates(torch.zeros(0, dtype=torch.long, device=device), dim)


def apply_transform(transform: Optional[Transform], x: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
    """Plain evaluation of a jet transform (e.g. a hard-BC ansatz): ``raw (N, 1)`` -> ``u (N,)``."""
    if transform is None:
        return raw[:, 0]
    dirs = value_directions(x.shape[1], device=x.device)
    raw_jet = Jet(raw, raw.new_zeros(raw.shape[0], raw.shape[1], 0), torch.zeros_like(raw), dirs)
    return transform(x, raw_jet).value[:, 0]


def pde_derivatives(model, x: torch.Tensor, method: str = "jet", *, spatial_dim: Optional[int] = None,
                    first_order: Sequence[int] = (), transform: Optional[Transform] = None,
                    k: Optional[int] = None, generator: Optional[torch.Generator] = None,
                    distribution: str = "rademacher") -> Derivatives:
    """Value, spatial Laplacian and selected first derivatives of ``u = transform(x, model(x))``.

    Args:
        model: scalar-output backbone ``(N, d) -> (N, 1)``.
        x: ``(N, d)`` points; the Laplacian runs over coordinates ``0 .. spatial_dim - 1`` (default all).
        method: one of :data:`METHODS`.
        first_order: coordinates whose exact first derivative the residual needs (e.g. time).
        transform: ``(x, raw_jet) -> u_jet`` written with :class:`Jet` algebra (hard boundary conditions);
            the same function serves the jet and the autograd paths.
        k, generator, distribution: stochastic probes (see :func:`make_directions`).
    """
    check_method(method)
    check_points("pde_derivatives", x)
    n, d = x.shape
    sd = d if spatial_dim is None else spatial_dim
    fo = torch.as_tensor(list(first_order), dtype=torch.long, device=x.device)
    if method in JET_METHODS:
        if method == "jet":
            dirs = Coordinates.all(sd, device=x.device)
        else:
            dirs = make_directions(method, n, sd, k=k, generator=generator, dtype=x.dtype, device=x.device,
                                   distribution=distribution)
        dirs = _extend(dirs, d, fo, x.dtype)
        jet = forward_jet(model, x, dirs)
        if transform is not None:
            jet = transform(x, jet)
        kk = jet.tangent.shape[-1]
        return Derivatives(jet.value[:, 0], jet.laplacian[:, 0], jet.tangent[:, 0, kk - fo.numel():])
    index, scale = torch.arange(sd, device=x.device), 1.0
    if method == "sdgd_autograd":
        dirs = make_directions("sdgd", n, sd, k=k, generator=generator, device=x.device)
        index, scale = dirs.index, dirs.scale
    if hasattr(model, "check"):
        model.check(x)
    u, lap, g = autograd_laplacian(lambda z: apply_transform(transform, z, model(z)), x, index, scale)
    return Derivatives(u, lap, g[:, fo])


def _extend(dirs: Directions, d: int, fo: torch.Tensor, dtype) -> Directions:
    """Embed spatial directions in the full input dimension and append weight-0 unit directions for ``fo``."""
    nf = fo.numel()
    if isinstance(dirs, Coordinates):
        if dirs.dim == d and nf == 0:
            return dirs
        weights = torch.cat([torch.ones(dirs.k, dtype=dtype, device=fo.device),
                             torch.zeros(nf, dtype=dtype, device=fo.device)])
        return Coordinates(torch.cat([dirs.index, fo]), d, dirs.scale, weights if nf else None)
    v = dirs.vectors
    n, sd, k = v.shape
    full = v.new_zeros(n, d, k + nf)
    full[:, :sd, :k] = v
    full[:, fo, k + torch.arange(nf, device=v.device)] = 1
    weights = torch.cat([torch.ones(k, dtype=dtype, device=v.device), torch.zeros(nf, dtype=dtype, device=v.device)])
    return Dense(full, dirs.scale, weights if nf else None)
