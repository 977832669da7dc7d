"""The routing engine: the derivatives of a :class:`~pde_kan.problems.requests.Plan` by the cheapest exact
engine (forward jets, one pass per extra diagonal second derivative, autograd only for mixed ones), and the first
derivatives the conditions need."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..diff import Coordinates, Jet, forward_jet, get_engine, make_directions, pde_derivatives
from ..diff.engines import apply_transform
from .closed_form import _grad
from .requests import LAPLACIAN, VALUE, Plan


def compute(plan: Plan, model, x: torch.Tensor, engine: str, spatial_dim: int, transform=None,
            n_probes: Optional[int] = None, generator: Optional[torch.Generator] = None) -> dict:
    """Derivatives of ``u = transform(x, model(x))`` at ``x: (N, D)`` for ``plan`` -> ``{key: (N,)}``."""
    spec = get_engine(engine)
    if not spec.jet:
        return _compute_autograd(plan, model, x, spec, spatial_dim, transform, n_probes, generator)
    out: dict = {}
    n, dim = x.shape
    first = list(plan.first)
    diag = list(plan.diag)
    spatial_first = [i for i in first if i < spatial_dim]
    if plan.laplacian and spec.name == "jet" and spatial_first:
        # spatial first derivatives are tangents the exact Laplacian's directions carry anyway: no duplicates
        rest = [i for i in first if i >= spatial_dim]
        index = torch.as_tensor(list(range(spatial_dim)) + rest, dtype=torch.long, device=x.device)
        weights = torch.cat([x.new_ones(spatial_dim), x.new_zeros(len(rest))]) if rest else None
        jet = _jet(model, x, Coordinates(index, dim, 1.0, weights), transform)
        out[VALUE], out[LAPLACIAN] = jet.value[:, 0], jet.laplacian[:, 0]
        for i in first:
            out[("d", i)] = jet.tangent[:, 0, i if i < spatial_dim else spatial_dim + rest.index(i)]
    elif plan.laplacian:  # the built-in problems' pass: Laplacian (exact or estimated) plus first derivatives
        d = pde_derivatives(model, x, spec, spatial_dim=spatial_dim, first_order=first, transform=transform,
                            n_probes=n_probes, generator=generator)
        out[VALUE], out[LAPLACIAN] = d.value, d.laplacian
        for c, i in enumerate(first):
            out[("d", i)] = d.first[:, c]
    elif first or diag:  # first derivatives (weight 0) and, in the same pass, one diagonal second derivative
        extra = diag[:1]
        diag = diag[1:]
        index = torch.as_tensor(first + extra, dtype=torch.long, device=x.device)
        weights = torch.cat([x.new_zeros(len(first)), x.new_ones(len(extra))])
        jet = _jet(model, x, Coordinates(index, dim, 1.0, weights), transform)
        out[VALUE] = jet.value[:, 0]
        for c, i in enumerate(first):
            out[("d", i)] = jet.tangent[:, 0, c]
        for i in extra:
            out[("d2", i, i)] = jet.second[:, 0]
    else:
        out[VALUE] = apply_transform(transform, x, model(x))
    for i in diag:  # one more pass per diagonal entry: a jet carries one weighted sum of second derivatives
        jet = _jet(model, x, Coordinates(torch.as_tensor([i], device=x.device), dim), transform)
        out[("d2", i, i)] = jet.second[:, 0]
    if plan.mixed:
        rows = _hessian_rows(model, x, transform, sorted({i for i, _ in plan.mixed}))[2]
        for i, j in plan.mixed:
            out[("d2", i, j)] = rows[i][:, j]
    return out


def _jet(model, x, dirs, transform) -> Jet:
    jet = forward_jet(model, x, dirs)
    return transform(x, jet) if transform is not None else jet


def _hessian_rows(model, x, transform, rows):
    """``u (N,)``, ``grad (N, D)`` and Hessian rows ``{i: (N, D)}`` by autograd, graphs kept."""
    if hasattr(model, "check"):
        model.check(x)
    z = x.detach().requires_grad_(True)
    u = apply_transform(transform, z, model(z))
    g = _grad(u, z, create_graph=True)
    g = torch.zeros_like(z) if g is None else g
    out = {}
    for i in rows:
        h = _grad(g[:, i], z, create_graph=True)
        out[i] = torch.zeros_like(z) if h is None else h
    return u, g, out


def _compute_autograd(plan, model, x, spec, spatial_dim, transform, n_probes, generator) -> dict:
    lap_index, scale = list(range(spatial_dim)), 1.0
    if plan.laplacian and spec.stochastic:
        dirs = make_directions(spec, x.shape[0], spatial_dim, n_probes=n_probes, generator=generator,
                               device=x.device)
        lap_index, scale = dirs.index.tolist(), dirs.scale
    rows = set(plan.diag) | {i for i, _ in plan.mixed} | (set(lap_index) if plan.laplacian else set())
    u, g, h = _hessian_rows(model, x, transform, sorted(rows))
    out = {VALUE: u}
    for i in plan.first:
        out[("d", i)] = g[:, i]
    if plan.laplacian:
        out[LAPLACIAN] = scale * sum(h[i][:, i] for i in lap_index)
    for i in plan.diag:
        out[("d2", i, i)] = h[i][:, i]
    for i, j in plan.mixed:
        out[("d2", i, j)] = h[i][:, j]
    return out


def first_derivatives(model, x: torch.Tensor, coords: Sequence[int], engine: str, transform=None):
    """``u (N,)`` and ``{i: ∂u/∂x_i (N,)}`` for ``coords`` (conditions' normal and time derivatives)."""
    coords = list(coords)
    if not coords:
        return apply_transform(transform, x, model(x)), {}
    if not get_engine(engine).jet:
        u, g, _ = _hessian_rows(model, x, transform, [])
        return u, {i: g[:, i] for i in coords}
    index = torch.as_tensor(coords, dtype=torch.long, device=x.device)
    jet = _jet(model, x, Coordinates(index, x.shape[1], 1.0, x.new_zeros(len(coords))), transform)
    return jet.value[:, 0], {i: jet.tangent[:, 0, c] for c, i in enumerate(coords)}
