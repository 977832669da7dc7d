"""One KAN layer for every backbone; the coefficient *source* is what differs.

Edge function ``phi_ji(x) = w_ji * silu(x) + sum_m C_jim B_m(x)``; the layer output is
``y_j = sum_i phi_ji(x_i)``. A coefficient source supplies ``C: (out, in, n_basis)`` and ``w: (out, in)``:

* :class:`DenseCoefficients` — both are parameters (KAN).
* :class:`HyperCoefficients` — a hypernetwork maps one small embedding per edge to the edge's
  ``n_basis + 1`` numbers (MetaKAN, arXiv 2506.07549).
* :class:`TuckerCoefficients` — ``C = G x1 U_out x2 U_in x3 U_basis`` (Slim KAN, arXiv 2502.06153).

Sources that wrap other sources (LoTRA adapters) only need to implement :meth:`CoefficientSource.coefficients`.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import positive_int
from .activations import get_activation
from .splines import BSplineBasis
from .tucker import check_ranks, tucker_to_tensor


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


#: Cost-model constants of :meth:`TuckerCoefficients.contraction_costs`, measured on the project's CPUs:
#: multiply-adds per element moved at memory speed (tensors of CACHE_ELEMENTS and more) or from cache
#: (interpolated in between), and per kernel launch.
MAC_PER_ELEMENT = 32
MAC_PER_ELEMENT_CACHED = 4
CACHE_ELEMENTS = 262144
MAC_PER_OP = 125_000


class TuckerCoefficients(CoefficientSource):
    """Slim KAN: ``C = G x1 U_out x2 U_in x3 U_basis``; ``w`` dense.

    Parameters: ``r_out r_in r_basis + out r_out + in r_in + n_basis r_basis + out in``.
    Init: factors with orthonormal columns and a Gaussian core scaled so that ``Var(C)`` equals the dense
    init's ``init_scale^2 / in``. The forward pass contracts the basis features through the factors without
    materialising ``C`` when that costs fewer multiply-adds.
    """

    def __init__(self, in_features, out_features, n_basis, *, ranks, init_scale=0.1, generator=None,
                 dtype=torch.float64, device=None):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        self.ranks = check_ranks(ranks, (out_features, in_features, n_basis), "SlimKAN")
        dims = (out_features, in_features, n_basis)
        factors = []
        for d, r in zip(dims, self.ranks):
            q, _ = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=dtype))
            factors.append(nn.Parameter(q.contiguous().to(device)))  # QR returns column-major; L-BFGS views flat
        self.u_out, self.u_in, self.u_basis = factors
        var = init_scale**2 / in_features
        core_std = math.sqrt(var * math.prod(dims) / math.prod(self.ranks))
        self.core = nn.Parameter(normal_init(self.ranks, core_std, generator, dtype, device))
        self.base_weight = nn.Parameter(normal_init((out_features, in_features), 1.0 / math.sqrt(in_features),
                                                generator, dtype, device))

    def factors(self) -> list[torch.Tensor]:
        return [self.u_out, self.u_in, self.u_basis]

    def coefficients(self):
        return tucker_to_tensor(self.core, self.factors()), self.base_weight

    def packed_columns(self, index):
        c = tucker_to_tensor(self.core, [self.u_out, self.u_in[index], self.u_basis])
        return torch.cat([self.base_weight[:, index].unsqueeze(-1), c], dim=-1)

    def contraction_costs(self, n: int) -> tuple[float, float]:
        """Estimated cost of one forward+backward of the ``(factored, materialised)`` paths for a batch of ``n``.

        Units are multiply-adds. Both paths are dominated by different things: the materialised one by its
        GEMM over ``in * (n_basis + 1)`` (and by writing ``C`` and its gradient), the factored one by passes over
        its ``(N, in, rank)`` intermediates, which run at memory speed, not GEMM speed: each element moved
        costs :data:`MAC_PER_ELEMENT` multiply-adds (:data:`MAC_PER_ELEMENT_CACHED` while a tensor fits in
        cache), and each kernel launch :data:`MAC_PER_OP`. The constants were measured on the project's CPUs
        (``benchmarks/layer_speed.py --tucker-paths``; docs/benchmarks.md compares the model's pick with the
        measured winner per layer shape); a GPU shifts them but not which path wins at the extremes.
        """
        o, i, m = self.shape
        ro, ri, rb = self.ranks

        def per_element(size):  # tensors that stay in cache are moved far more cheaply
            return MAC_PER_ELEMENT_CACHED + (MAC_PER_ELEMENT - MAC_PER_ELEMENT_CACHED) * min(1.0, size / CACHE_ELEMENTS)

        gemm = 3 * n * i * (m + 1) * o
        build = o * ro * ri * rb + o * ri * i * rb + o * i * rb * m  # tucker_to_tensor, left to right
        dense = gemm + 3 * build + per_element(o * i * (m + 1)) * 4 * o * i * (m + 1) + MAC_PER_OP * 6
        macs = 3 * n * (i * (m + 1) * rb + i * rb * ri + ri * rb * ro + ro * o + i * o)
        moved = 3 * n * (i * (m + 1) + 2 * i * rb + 2 * rb * ri + ro + 2 * o)
        factored = macs + per_element(n * i * (m + 1)) * moved + MAC_PER_OP * 8
        return float(factored), float(dense)

    def factored_is_cheaper(self, n: int) -> bool:
        """Whether the factored contraction is estimated cheaper than materialising ``C`` for a batch of ``n``."""
        factored, dense = self.contraction_costs(n)
        return factored < dense

    def contract(self, features):
        n = features.shape[0]
        if not self.factored_is_cheaper(n):
            return super().contract(features)
        return self.contract_factored(features)

    def contract_factored(self, features: torch.Tensor) -> torch.Tensor:
        """``features (N, in, n_basis + 1)`` -> ``(N, out)`` through the factors, never forming ``C``."""
        n = features.shape[0]
        o, i, m = self.shape
        ro, ri, rb = self.ranks
        # basis factor with a zero row for the activation column: one GEMM on the features as they are
        u_basis = torch.cat([self.u_basis.new_zeros(1, rb), self.u_basis])
        z = (features.reshape(n * i, m + 1) @ u_basis).view(n, i, rb)
        z = torch.matmul(z.transpose(1, 2), self.u_in)  # (N, rb, ri), batched over points, no copies
        z = z.reshape(n, rb * ri) @ self.core.permute(0, 2, 1).reshape(ro, rb * ri).T
        return torch.addmm(features[..., 0] @ self.base_weight.T, z, self.u_out.T)


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
