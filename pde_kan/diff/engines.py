"""Laplacian and gradient engines: one registry, exact and stochastic.

=================  ==========================================================  ==============================
engine             what                                                        cost per point
=================  ==========================================================  ==============================
``jet``            exact forward jet along all d coordinates                    one pass, tangents (width, d)
``sdgd``           jet along n_probes random coordinates, scaled by d / K       one pass, tangents (width, K)
``hutchinson``     jet along n_probes Rademacher/Gaussian probes, scaled 1/K    one pass, tangents (width, K)
``autograd``       d backward passes through the gradient (reference)           d backward passes
``sdgd_autograd``  K backward passes for K random coordinates, scaled d / K      K backward passes
=================  ==========================================================  ==============================

Every engine is an :class:`Engine` in :data:`ENGINES`; :func:`laplacian` and :func:`pde_derivatives` look the
name up there (no branch on names), and the directions an engine probes come from its ``directions`` rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Optional, Sequence

import torch

from .._checks import check_finite, check_points, positive_int
from .directions import Coordinates, Dense, Directions, hutchinson, sdgd
from .jet import Jet, forward_jet


def _all_coordinates(n, dim, n_probes, generator, dtype, device, distribution) -> Directions:
    return Coordinates.all(dim, device=device)


def _sdgd(n, dim, n_probes, generator, dtype, device, distribution) -> Directions:
    return sdgd(dim, n_probes, generator, device=device)


def _hutchinson(n, dim, n_probes, generator, dtype, device, distribution) -> Directions:
    return hutchinson(n, dim, n_probes, generator, dtype=dtype, device=device, distribution=distribution)


@dataclass(frozen=True)
class Engine:
    """A derivative engine: how the Laplacian (or its unbiased estimate) is computed.

    Attributes:
        name: the registry key (``engine=`` in :func:`laplacian`, ``SamplingConfig.engine``, ``--engine``).
        jet: forward jets (one pass, any pde_kan backbone); False: autograd (any callable).
        stochastic: an unbiased estimate from random probes; needs ``n_probes`` and an explicit generator.
        coordinates: the probes are coordinate directions (SDGD): ``n_probes`` may not exceed the dimension.
        directions: ``(n, dim, n_probes, generator, dtype, device, distribution) -> Directions``.
    """

    name: str
    jet: bool
    stochastic: bool
    coordinates: bool
    directions: Callable[..., Directions]

    @property
    def needs_probes(self) -> bool:
        return self.stochastic


ENGINES: dict[str, Engine] = {e.name: e for e in (
    Engine("jet", jet=True, stochastic=False, coordinates=True, directions=_all_coordinates),
    Engine("sdgd", jet=True, stochastic=True, coordinates=True, directions=_sdgd),
    Engine("hutchinson", jet=True, stochastic=True, coordinates=False, directions=_hutchinson),
    Engine("autograd", jet=False, stochastic=False, coordinates=True, directions=_all_coordinates),
    Engine("sdgd_autograd", jet=False, stochastic=True, coordinates=True, directions=_sdgd),
)}
ENGINE_NAMES = tuple(ENGINES)


def available_engines() -> list[str]:
    """The registered engine names, in the order of the module table (``SamplingConfig.engine``, ``--engine``)."""
    return list(ENGINE_NAMES)


def get_engine(engine: str) -> Engine:
    """The :class:`Engine` registered as ``engine``; an unknown name raises listing the valid ones."""
    if isinstance(engine, Engine):
        return engine
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid names: {', '.join(map(repr, ENGINE_NAMES))}.")
    return ENGINES[engine]


def make_directions(engine: str, n: int, dim: int, *, n_probes: Optional[int] = None,
                    generator: Optional[torch.Generator] = None, dtype=torch.float64, device=None,
                    distribution: str = "rademacher") -> Directions:
    """The directions ``engine`` probes for ``n`` points in dimension ``dim``: all coordinates for the exact
    engines, ``n_probes`` random coordinates (``"sdgd"``, ``"sdgd_autograd"``) or probe vectors
    (``"hutchinson"``) for the stochastic ones."""
    spec = get_engine(engine)
    if spec.stochastic:
        if n_probes is None:
            raise ValueError(f"engine {spec.name!r} needs n_probes, the number of probe directions (e.g. "
                             f"n_probes=4).")
        n_probes = positive_int("n_probes", n_probes, owner=spec.name)
        if spec.coordinates and n_probes > dim:
            raise ValueError(f"{spec.name}: n_probes={n_probes} exceeds the dimension d={dim}; use n_probes <= d "
                             f"or engine='jet'.")
        if generator is None:
            raise ValueError(f"engine {spec.name!r} is stochastic and needs an explicit torch.Generator "
                             f"(generator=...).")
    return spec.directions(n, dim, n_probes, generator, dtype, device, distribution)


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


def laplacian(model, x: torch.Tensor, engine: str = "jet", *, n_probes: Optional[int] = None,
              generator: Optional[torch.Generator] = None, distribution: str = "rademacher") -> torch.Tensor:
    """Laplacian (or its unbiased estimate) of a scalar-output model at ``x (N, d)`` -> ``(N,)``.

    Args:
        model: a pde_kan backbone (any engine) or any callable ``(N, d) -> (N, 1)`` (autograd engines only).
        x: the points; checked once here (type, shape, dtype and finite values).
        engine: a name in :data:`ENGINES` (see the module table).
        n_probes: number of probe directions for the stochastic engines.
        generator: explicit ``torch.Generator`` for the stochastic engines (no global RNG).
    """
    spec = get_engine(engine)
    _check_entry("laplacian", model, x)
    n, d = x.shape
    if spec.jet:
        dirs = make_directions(spec, n, d, n_probes=n_probes, generator=generator, dtype=x.dtype, device=x.device,
                               distribution=distribution)
        jet = forward_jet(model, x, dirs)
        return jet.laplacian[:, 0] if jet.value.shape[1] == 1 else jet.laplacian
    index, scale = None, 1.0
    if spec.stochastic:
        dirs = make_directions(spec, n, d, n_probes=n_probes, generator=generator, device=x.device)
        index, scale = dirs.index, dirs.scale
    return autograd_laplacian(model, x, index, scale)[1]


def _check_entry(owner: str, model, x) -> None:
    """The one input check of a public entry point: a tensor ``(N, d)``, the model's own shape / dtype check,
    and finite values (the model's forward no longer checks those: a host sync per call)."""
    check_points(owner, x)
    if hasattr(model, "check"):
        model.check(x)
    check_finite(type(model).__name__, x)


def gradient(model, x: torch.Tensor) -> torch.Tensor:
    """Exact gradient of a scalar-output backbone from one forward jet: ``(N, d)``."""
    _check_entry("gradient", model, x)
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


def pde_derivatives(model, x: torch.Tensor, engine: str = "jet", *, spatial_dim: Optional[int] = None,
                    first_order: Sequence[int] = (), transform: Optional[Transform] = None,
                    n_probes: Optional[int] = None, generator: Optional[torch.Generator] = None,
                    distribution: str = "rademacher") -> Derivatives:
    """Value, spatial Laplacian and selected first derivatives of ``u = transform(x, model(x))``.

    Runs every training step, so it checks only what it must unpack (``x`` a tensor ``(N, d)``); finite
    values are the caller's (the problems sample them).

    Args:
        model: scalar-output backbone ``(N, d) -> (N, 1)``.
        x: ``(N, d)`` points; the Laplacian runs over coordinates ``0 .. spatial_dim - 1`` (default all).
        engine: a name in :data:`ENGINES`.
        first_order: coordinates whose exact first derivative the residual needs (e.g. time).
        transform: ``(x, raw_jet) -> u_jet`` written with :class:`Jet` algebra (hard boundary conditions);
            the same function serves the jet and the autograd paths.
        n_probes, generator, distribution: stochastic probes (see :func:`make_directions`).
    """
    return head_derivatives(model, x, engine, transforms=[transform], spatial_dim=spatial_dim,
                            first_order=first_order, n_probes=n_probes, generator=generator,
                            distribution=distribution)[0]


def head_derivatives(model, x: torch.Tensor, engine: str = "jet", *, transforms: Sequence[Optional[Transform]],
                     spatial_dim: Optional[int] = None, first_order: Sequence[int] = (),
                     n_probes: Optional[int] = None, generator: Optional[torch.Generator] = None,
                     distribution: str = "rademacher") -> list[Derivatives]:
    """:func:`pde_derivatives` of every output of a model with ``H = len(transforms)`` outputs ("heads"):
    ``u_h = transforms[h](x, model(x)[:, h])``, all along the same probe directions. A jet engine propagates one
    jet through the model for all heads; the autograd engines differentiate each head on its own.

    Returns:
        ``[Derivatives of u_0, ..., u_(H-1)]``.
    """
    spec = get_engine(engine)
    check_points("pde_derivatives", x)
    n, d = x.shape
    sd = d if spatial_dim is None else spatial_dim
    fo = torch.as_tensor(list(first_order), dtype=torch.long, device=x.device)
    dirs = make_directions(spec, n, sd, n_probes=n_probes, generator=generator, dtype=x.dtype, device=x.device,
                           distribution=distribution)
    out = []
    if spec.jet:
        dirs = _extend(dirs, d, fo, x.dtype)
        raw = forward_jet(model, x, dirs)
        for h, transform in enumerate(transforms):
            jet = raw if len(transforms) == 1 else raw.column(h)
            if transform is not None:
                jet = transform(x, jet)
            kk = jet.tangent.shape[-1]
            out.append(Derivatives(jet.value[:, 0], jet.laplacian[:, 0], jet.tangent[:, 0, kk - fo.numel():]))
        return out
    if hasattr(model, "check"):
        model.check(x)
    for h, transform in enumerate(transforms):
        u, lap, g = autograd_laplacian(lambda z, h=h: apply_transform(transform, z, model(z)[:, h:h + 1]), x,
                                       dirs.index, dirs.scale)
        out.append(Derivatives(u, lap, g[:, fo]))
    return out


def _extend(dirs: Directions, d: int, fo: torch.Tensor, dtype) -> Directions:
    """Embed spatial directions in the full input dimension and append weight-0 unit directions for ``fo``."""
    nf = fo.numel()
    if isinstance(dirs, Coordinates):
        if dirs.dim == d and nf == 0:
            return dirs
        weights = torch.cat([torch.ones(dirs.n_probes, dtype=dtype, device=fo.device),
                             torch.zeros(nf, dtype=dtype, device=fo.device)])
        return Coordinates(torch.cat([dirs.index, fo]), d, dirs.scale, weights if nf else None)
    v = dirs.vectors
    n, sd, k = v.shape
    full = v.new_zeros(n, d, k + nf)
    full[:, :sd, :k] = v
    full[:, fo, k + torch.arange(nf, device=v.device)] = 1
    weights = torch.cat([torch.ones(k, dtype=dtype, device=v.device), torch.zeros(nf, dtype=dtype, device=v.device)])
    return Dense(full, dirs.scale, weights if nf else None)
