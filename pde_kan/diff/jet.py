"""Forward jets: value, first directional derivatives and summed second directional derivatives in one pass.

For a univariate edge ``phi`` applied to a feature with tangents ``t_k`` and second term ``s``::

    t'_k = phi'(x) t_k,      s' = phi''(x) sum_k a_k t_k^2 + phi'(x) s

and a KAN layer sums edges: ``T_out = D1 @ T`` and ``S_out = D2 @ q + D1 @ S`` with ``D1_ji = phi'_ji(x_i)``,
``D2_ji = phi''_ji(x_i)`` ``(N, out, in)`` and ``q_i = sum_k a_k T_ik^2``. In the first layer the tangents are the
probe directions themselves, so ``T_out`` is ``D1`` pushed onto the directions (for coordinate directions only
the chosen columns are evaluated) and ``S_out = D2 @ weighted_sq``. Linear layers map tangents linearly.

Jets are plain tensors built with differentiable torch ops, so ``loss.backward()`` through a Laplacian works.
Rules are looked up by layer type in a registry; :func:`register_jet_rule` adds one for a custom layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

import torch
from torch import nn

from ..nn import Activation, KANLayer
from .directions import Coordinates, Directions


@dataclass
class Jet:
    """Second-order jet of features ``(N, F)`` along K directions.

    Attributes:
        value: ``(N, F)``.
        tangent: ``(N, F, K)`` first directional derivatives — or the :class:`Directions` themselves for the
            input jet (identity tangents are never materialised).
        second: ``(N, F)`` ``sum_k a_k v_k^T ∇²f v_k``; None means zero (the input jet).
        directions: the probe directions (scale, weights).
    """

    value: torch.Tensor
    tangent: Union[torch.Tensor, Directions]
    second: Optional[torch.Tensor]
    directions: Directions

    @classmethod
    def input(cls, x: torch.Tensor, directions: Directions) -> "Jet":
        if directions.dim != x.shape[1]:
            raise ValueError(f"directions have dimension {directions.dim}, x has shape {tuple(x.shape)}; "
                             f"build the directions for d={x.shape[1]}.")
        return cls(x, directions, None, directions)

    @property
    def is_input(self) -> bool:
        return isinstance(self.tangent, Directions)

    @property
    def laplacian(self) -> torch.Tensor:
        """``(N, F)``: the (weighted) Laplacian or its unbiased estimate, ``scale * second``."""
        return self.directions.scale * self.second

    def weighted_sq_tangent(self) -> torch.Tensor:
        """``q = sum_k a_k T_k^2``: ``(N, F)``."""
        t2 = self.tangent * self.tangent
        w = self.directions.weights
        return t2 @ w.to(t2.dtype) if w is not None else t2.sum(-1)

    def column(self, j: int) -> "Jet":
        """The jet of feature ``j`` alone, ``(N, 1)`` (views of this jet's tensors; not for the input jet)."""
        return Jet(self.value[:, j:j + 1], self.tangent[:, j:j + 1], self.second[:, j:j + 1], self.directions)

    # --- jet arithmetic (features broadcast like tensors) -----------------------------------------------
    def __add__(self, other: "Jet") -> "Jet":
        return Jet(self.value + other.value, self.tangent + other.tangent, self.second + other.second,
                   self.directions)

    def __mul__(self, other: "Jet") -> "Jet":
        cross = self.tangent * other.tangent
        w = self.directions.weights
        cross = cross @ w.to(cross.dtype) if w is not None else cross.sum(-1)
        return Jet(
            self.value * other.value,
            self.value.unsqueeze(-1) * other.tangent + other.value.unsqueeze(-1) * self.tangent,
            self.value * other.second + other.value * self.second + 2 * cross,
            self.directions,
        )

    def map(self, f: torch.Tensor, d1: torch.Tensor, d2: torch.Tensor) -> "Jet":
        """Apply an elementwise function given its values ``f, f', f''`` at ``self.value``."""
        return Jet(f, d1.unsqueeze(-1) * self.tangent, d2 * self.weighted_sq_tangent() + d1 * self.second,
                   self.directions)

    @classmethod
    def closed_form(cls, value: torch.Tensor, grad: torch.Tensor, quad: torch.Tensor, directions: Directions) -> "Jet":
        """Jet of a closed-form scalar field: ``value (N,)``, ``grad (N, d)``, ``quad (N,) = sum_k a_k v_k^T H v_k``."""
        return cls(value.unsqueeze(-1), directions.project(grad).unsqueeze(1), quad.unsqueeze(-1), directions)


JetRule = Callable[[nn.Module, Jet], Jet]
_JET_RULES: dict[type, JetRule] = {}


def register_jet_rule(layer_type: type) -> Callable[[JetRule], JetRule]:
    """Decorator: ``@register_jet_rule(MyLayer) def rule(layer, jet) -> Jet``."""

    def deco(fn: JetRule) -> JetRule:
        _JET_RULES[layer_type] = fn
        return fn

    return deco


def _rule_for(layer: nn.Module) -> JetRule:
    for cls in type(layer).__mro__:
        if cls in _JET_RULES:
            return _JET_RULES[cls]
    raise TypeError(f"no jet rule for layer type {type(layer).__name__}; register one with "
                    f"pde_kan.diff.register_jet_rule({type(layer).__name__}) or use engine='autograd'.")


def _edge_slopes(feats: torch.Tensor, packed: torch.Tensor) -> torch.Tensor:
    """``sum_m packed[o, i, m] feats[n, i, m]`` for every edge: ``(N, out, in)``, contiguous.

    One batched GEMM over the inputs, ``(in, N, m+1) @ (in, m+1, out)``. The operands are made contiguous
    first: torch's CPU batched GEMM falls back to a slow loop for some transposed batch layouts (in this
    product's backward, and when the result feeds the next layer's tangent product), which costs far more than
    the copies.
    """
    d = torch.bmm(feats.transpose(0, 1).contiguous(), packed.permute(1, 2, 0).contiguous())
    return d.permute(1, 2, 0).contiguous()


def edge_derivatives(layer: KANLayer, x: torch.Tensor, c: torch.Tensor, w: torch.Tensor):
    """``D1, D2: (N, out, in)`` — first and second derivatives of every edge function at ``x (N, in)``.

    ``c: (out, in, n_basis)`` and ``w: (out, in)`` are the (possibly column-selected) coefficients. Also returns
    the basis values ``(N, in, n_basis)`` first: ``(B, D1, D2)``.
    """
    act = layer.act
    f0, f1, f2 = layer.basis.features(x, (act.f(x), act.d1(x), act.d2(x)))
    packed = torch.cat([w.unsqueeze(-1), c], dim=-1)
    return f0[..., 1:].contiguous(), _edge_slopes(f1, packed), _edge_slopes(f2, packed)


def _is_identity(dirs: Directions) -> bool:
    """All d coordinates in order with unit weights: tangents are the edge slopes themselves."""
    return (isinstance(dirs, Coordinates) and dirs.n_probes == dirs.dim and dirs.weights is None
            and bool((dirs.index == torch.arange(dirs.dim, device=dirs.index.device)).all()))


@register_jet_rule(KANLayer)
def _kan_rule(layer: KANLayer, jet: Jet) -> Jet:
    """Value ``F0 @ W^T``, tangents ``D1 @ T`` and second term ``(F2 q + F1 s) @ W^T``.

    ``F_d = [act^(d)(x), B^(d)(x)]`` are the layer features of derivative order d and ``W`` the packed weights
    ``[w, C]``, so ``S_out = sum_i D2_i q_i + D1_i s_i`` is one GEMM over in * (n_basis + 1), exactly as the
    value; the per-edge second derivatives ``D2`` are never formed.
    """
    x = jet.value
    n = x.shape[0]
    act, basis = layer.act, layer.basis
    dirs = jet.directions
    if jet.is_input and dirs.index is not None and dirs.n_probes < dirs.dim:
        # only the chosen input columns need derivatives: O(N * out * K * n_basis), not O(N * out * d * n_basis);
        # the value goes through the layer's own contraction (chunked for MetaKAN, factored for Slim KAN), and
        # only the K chosen columns of the coefficients are built
        (f0,) = basis.features(x, (act.f(x),))
        xs = x[:, dirs.index]
        f1, f2 = basis.features(xs, (act.d1(xs), act.d2(xs)), first=1)
        sub = layer.source.packed_columns(dirs.index)
        t_out = _edge_slopes(f1, sub)
        if dirs.weights is not None:
            f2 = f2 * dirs.weights.to(f2.dtype).unsqueeze(-1)
        s_out = f2.reshape(n, -1) @ sub.reshape(sub.shape[0], -1).T
        return Jet(layer.source.contract(f0), t_out, s_out, dirs)
    packed = layer.source.packed()
    weight = packed.reshape(packed.shape[0], -1)
    f0, f1, f2 = basis.features(x, (act.f(x), act.d1(x), act.d2(x)))
    d1 = _edge_slopes(f1, packed)
    if jet.is_input:
        t_out = d1 if _is_identity(dirs) else dirs.apply(d1)
        g = f2 * dirs.weighted_sq(x.dtype).unsqueeze(-1)
    else:
        t_out = torch.bmm(d1, jet.tangent)
        g = torch.addcmul(f2 * jet.weighted_sq_tangent().unsqueeze(-1), f1, jet.second.unsqueeze(-1))
    s_out = g.reshape(n, -1) @ weight.T
    value = f0.reshape(n, -1) @ weight.T
    return Jet(value, t_out, s_out, dirs)


@register_jet_rule(nn.Linear)
def _linear_rule(layer: nn.Linear, jet: Jet) -> Jet:
    value = layer(jet.value)
    n = jet.value.shape[0]
    if jet.is_input:
        t_out = jet.directions.apply(layer.weight)
        if t_out.ndim == 2:  # coordinate directions give (out, K) for all points; out may equal N by chance
            t_out = t_out.expand(n, -1, -1)
        s_out = torch.zeros_like(value)
    else:
        t_out = torch.einsum("oi,nik->nok", layer.weight, jet.tangent)
        s_out = jet.second @ layer.weight.T
    return Jet(value, t_out, s_out, jet.directions)


@register_jet_rule(Activation)
def _activation_rule(layer: Activation, jet: Jet) -> Jet:
    if jet.is_input:
        raise TypeError("an Activation cannot be the first layer of a jet; start the network with a linear or "
                        "KAN layer.")
    z = jet.value
    return jet.map(layer.fns.f(z), layer.fns.d1(z), layer.fns.d2(z))


def forward_jet(model: nn.Module, x: torch.Tensor, directions: Directions) -> Jet:
    """Propagate ``x (N, d)`` along ``directions`` through ``model.layers``; returns the output jet ``(N, out)``."""
    if not hasattr(model, "layers"):
        raise TypeError(f"forward jets need a model with a `layers` sequence (a pde_kan backbone), got "
                        f"{type(model).__name__}; use engine='autograd' for arbitrary callables.")
    if hasattr(model, "check"):
        model.check(x)
    jet = Jet.input(x, directions)
    for layer in model.layers:
        jet = _rule_for(layer)(layer, jet)
    return jet
