"""One KAN layer for every backbone; the coefficient *source* is what differs.

Edge function ``phi_ji(x) = w_ji * silu(x) + sum_m C_jim B_m(x)``; the layer output is
``y_j = sum_i phi_ji(x_i)``. A coefficient source supplies ``C: (out, in, n_basis)`` and ``w: (out, in)``:

* :class:`DenseCoefficients` — both are parameters (KAN).
* :class:`~pde_kan.nn.hyper.HyperCoefficients` — a hypernetwork maps one small embedding per edge to the edge's
  ``n_basis + 1`` numbers (MetaKAN, arXiv 2506.07549).
* :class:`~pde_kan.nn.slimkan.TuckerCoefficients` — ``C = G x1 U_out x2 U_in x3 U_basis`` (Slim KAN, arXiv
  2502.06153).

Sources that wrap other sources (LoTRA adapters) only need to implement :meth:`CoefficientSource.coefficients`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import positive_int
from .activations import get_activation
from .splines import BSplineBasis


def normal_init(shape, std, generator, dtype, device) -> torch.Tensor:
    """``N(0, std^2)`` of ``shape`` drawn from ``generator`` on the CPU (reproducible on any device), then moved."""
    t = torch.randn(shape, generator=generator, dtype=dtype)
    return (t * std).to(device)


def dense_contract(features: torch.Tensor, c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``features (N, in, m + 1)`` = [act, B] against ``c (out, in, m)``, ``w (out, in)`` -> ``(N, out)``.

    One GEMM over ``in * (m + 1)`` needs the weights in the features' interleaved order, i.e. a copy of
    ``out * in * (m + 1)`` numbers (and of their gradient in backward); the alternative copies the basis part of
    the features instead (``N * in * m``) and accumulates two GEMMs into one output. The smaller copy wins:
    weights for PINN-sized layers (``out < N``), features for wide layers on small batches (``out > N``).
    """
    n = features.shape[0]
    o = c.shape[0]
    if o > n:
        basis = features[..., 1:].reshape(n, -1)
        base = features[..., 0].contiguous()  # a view would keep the whole features tensor alive for backward
        return torch.addmm(base @ w.T, basis, c.reshape(o, -1).T)
    weight = torch.cat([w.unsqueeze(-1), c], dim=-1).reshape(o, -1)
    return features.reshape(n, -1) @ weight.T


class CoefficientSource(nn.Module):
    """Supplies a KAN layer's spline coefficients ``C (out, in, n_basis)`` and base weights ``w (out, in)``."""

    out_features: int
    in_features: int
    n_basis: int

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(C, w)`` with shapes ``(out, in, n_basis)`` and ``(out, in)``."""
        raise NotImplementedError

    def packed(self) -> torch.Tensor:
        """``(out, in, n_basis + 1)`` = ``[w, C]``: the weights in the order of the layer's features."""
        c, w = self.coefficients()
        return torch.cat([w.unsqueeze(-1), c], dim=-1)

    def packed_columns(self, index: torch.Tensor) -> torch.Tensor:
        """``(out, K, n_basis + 1)`` = ``packed()[:, index]`` for ``index (K,)`` input columns, built (by every
        source here) without forming the whole packed tensor."""
        return self.packed()[:, index]

    def contract(self, features: torch.Tensor) -> torch.Tensor:
        """``features (N, in, n_basis + 1)`` = [silu(x), B(x)] -> ``(N, out)``: GEMM over in * (n_basis + 1)."""
        c, w = self.coefficients()
        return dense_contract(features, c, w)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Named parameter groups (a trainer may give each its own learning rate)."""
        return {"default": [p for p in self.parameters() if p.requires_grad]}

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.out_features, self.in_features, self.n_basis)


class DenseCoefficients(CoefficientSource):
    """KAN: ``C`` and ``w`` are parameters. Parameters: ``out * in * (n_basis + 1)``.

    Init: ``w ~ N(0, 1/in)``, ``C ~ N(0, init_scale^2 / in)``.
    """

    def __init__(self, in_features, out_features, n_basis, *, init_scale=0.1, generator=None,
                 dtype=torch.float64, device=None):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        std = 1.0 / math.sqrt(in_features)
        self.spline_weight = nn.Parameter(normal_init((out_features, in_features, n_basis), init_scale * std, generator,
                                                      dtype, device))
        self.base_weight = nn.Parameter(normal_init((out_features, in_features), std, generator, dtype, device))

    def coefficients(self):
        return self.spline_weight, self.base_weight

    def packed_columns(self, index):
        return torch.cat([self.base_weight[:, index].unsqueeze(-1), self.spline_weight[:, index]], dim=-1)


class ScaledDenseCoefficients(CoefficientSource):
    """The reference KAN's edge parameters (the efficient-KAN layer of the reference MetaKAN code): dense ``C0`` and
    ``w`` plus a trainable per-edge spline scale ``s``, ``C = C0 * s``. Parameters: ``out * in * (n_basis + 2)``.

    Init (the reference's): ``w ~ U(-1, 1) / sqrt(in)``, ``C0 ~ N(0, (0.01 / sqrt(in * n_basis))^2)``,
    ``s ~ N(1, 0.1^2)``. For reproducing reference runs (:meth:`pde_kan.nn.KAN.reference`); LoTRA does not adapt
    it (the effective ``C`` is a product).
    """

    def __init__(self, in_features, out_features, n_basis, *, generator=None, dtype=torch.float64, device=None):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        u = torch.rand((out_features, in_features), generator=generator, dtype=dtype) * 2 - 1
        self.base_weight = nn.Parameter((u / math.sqrt(in_features)).to(device))
        std = 0.01 / math.sqrt(in_features) / math.sqrt(n_basis)
        self.spline_weight = nn.Parameter(normal_init((out_features, in_features, n_basis), std, generator, dtype,
                                                      device))
        self.spline_scale = nn.Parameter(1.0 + normal_init((out_features, in_features), 0.1, generator, dtype, device))

    def coefficients(self):
        return self.spline_weight * self.spline_scale.unsqueeze(-1), self.base_weight


class KANLayer(nn.Module):
    """``y_j = sum_i w_ji silu(x_i) + sum_i sum_m C_jim B_m(x_i)`` for ``x: (N, in)`` -> ``y: (N, out)``.

    Args:
        in_features, out_features: layer widths.
        basis: the :class:`BSplineBasis` shared by all edges of the layer.
        source: a :class:`CoefficientSource` of shape ``(out, in, basis.n_basis)``.
        base_activation: name of the base branch activation (``"silu"``).
    """

    def __init__(self, in_features: int, out_features: int, basis: BSplineBasis, source: CoefficientSource,
                 base_activation: str = "silu"):
        super().__init__()
        self.in_features = positive_int("in_features", in_features, owner="KANLayer")
        self.out_features = positive_int("out_features", out_features, owner="KANLayer")
        expected = (out_features, in_features, basis.n_basis)
        if tuple(source.shape) != expected:
            raise ValueError(f"KANLayer: source must have shape {expected}, got {tuple(source.shape)}.")
        self.basis = basis
        self.source = source
        self.base_activation = base_activation
        self.act = get_activation(base_activation)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, in)`` -> ``(N, in, n_basis + 1)``: base activation followed by the basis values."""
        return self.basis.features(x, (self.act.f(x),))[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.source.contract(self.features(x))

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, basis={self.basis!r}, base={self.base_activation}"
