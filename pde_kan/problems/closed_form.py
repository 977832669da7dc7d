"""Closed-form functions through the derivative engines: :func:`function_jet` (jet of a parameter-free
``fn: (N, D) -> (N,)``) and :class:`FunctionModel` (``fn`` as a one-layer model, so an exact solution goes
through both engines)."""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from ..diff import Coordinates, Directions, Jet, register_jet_rule


def function_jet(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, directions: Directions) -> Jet:
    """Jet ``(N, 1)`` of a parameter-free scalar function ``fn: (N, D) -> (N,)`` along ``directions``.

    Derivatives come from autograd on ``fn`` alone (no network in the graph) and are detached: ``fn`` is data.
    With no directions (``k = 0``, a plain evaluation) the value keeps its graph to ``x``, so the autograd
    engine differentiates through it.
    """
    if directions.n_probes == 0:
        v = fn(x)
        return Jet(v.unsqueeze(-1), v.new_zeros(v.shape[0], 1, 0), torch.zeros_like(v).unsqueeze(-1), directions)
    with torch.enable_grad():
        z = x.detach().requires_grad_(True)
        v = fn(z)
        zero = torch.zeros_like(z)
        g = _grad(v, z, create_graph=True)
        if g is None:
            g, quad = zero, v.new_zeros(v.shape)
        elif isinstance(directions, Coordinates):
            ws = directions.weighted_sq(x.dtype)
            quad = v.new_zeros(v.shape)
            for i in torch.nonzero(ws).reshape(-1).tolist():
                h = _grad(g[:, i], z, retain_graph=True)
                if h is not None:
                    quad = quad + ws[i] * h[:, i]
        else:
            quad = v.new_zeros(v.shape)
            w = directions.weights
            for k in range(directions.n_probes):
                vk = directions.vectors[:, :, k]
                h = _grad((g * vk).sum(-1), z, retain_graph=True)
                if h is not None:
                    quad = quad + (1.0 if w is None else float(w[k])) * (h * vk).sum(-1)
    return Jet.closed_form(v.detach(), g.detach(), quad.detach(), directions)


def _grad(y: torch.Tensor, z: torch.Tensor, create_graph: bool = False, retain_graph: Optional[bool] = None):
    if not y.requires_grad:
        return None
    (g,) = torch.autograd.grad(y.sum(), z, create_graph=create_graph, retain_graph=retain_graph, allow_unused=True)
    return g


class FunctionLayer(nn.Module):
    """A closed-form function ``fn: (N, D) -> (N,)`` as a one-layer model ``(N, D) -> (N, 1)``; its forward-jet
    rule is :func:`function_jet`. Lets an exact solution go through both derivative engines."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], dim: int):
        super().__init__()
        self.fn = fn
        self.in_features, self.out_features = dim, 1

    def forward(self, x):
        return self.fn(x).reshape(-1, 1)


@register_jet_rule(FunctionLayer)
def _function_rule(layer: FunctionLayer, jet: Jet) -> Jet:
    if not jet.is_input:
        raise TypeError("a FunctionLayer must be the first (and only) layer of a model.")
    return function_jet(layer.fn, jet.value, jet.directions)


class FunctionModel(nn.Module):
    """``fn: (N, D) -> (N,)`` as a pde_kan-style model (``layers``, ``in_features``, ``out_features``)."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], dim: int):
        super().__init__()
        self.layers = nn.ModuleList([FunctionLayer(fn, dim)])
        self.in_features, self.out_features = dim, 1

    def forward(self, x):
        return self.layers[0](x)
