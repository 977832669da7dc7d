"""Slim KAN (arXiv 2502.06153): each layer's coefficient tensor is a :class:`~pde_kan.nn.tucker.Tucker` tensor.

:class:`TuckerCoefficients` is the coefficient source (a Tucker tensor plus a dense base weight, with the choice
between contracting the features through the factors and materialising ``C``); :class:`SlimKAN` the backbone.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import choice
from .backbone import Backbone, layer_bases
from .layer import CoefficientSource, KANLayer, dense_contract, normal_init
from .tucker import Tucker, rank_spec, resolve_ranks

#: How a Slim KAN layer contracts its features (see :meth:`TuckerCoefficients.contract`).
CONTRACTIONS = ("auto", "factored", "materialized")

#: Cost-model constants of :meth:`TuckerCoefficients.contraction_costs`, measured on the project's CPUs:
#: multiply-adds per element moved at memory speed (tensors of CACHE_ELEMENTS and more) or from cache
#: (interpolated in between), and per kernel launch.
MAC_PER_ELEMENT = 32
MAC_PER_ELEMENT_CACHED = 4
CACHE_ELEMENTS = 262144
MAC_PER_OP = 125_000


class TuckerCoefficients(Tucker, CoefficientSource):
    """Slim KAN: ``C = G x1 U_out x2 U_in x3 U_basis`` (a :class:`~pde_kan.nn.tucker.Tucker` tensor); ``w`` dense.

    Parameters: ``r_out r_in r_basis + out r_out + in r_in + n_basis r_basis + out in``.
    Init: factors with orthonormal columns and a Gaussian core scaled so that ``Var(C)`` equals the dense
    init's ``init_scale^2 / in`` (Tucker's ``"random"`` init), then ``w ~ N(0, 1/in)``. A layer calls
    :meth:`contract`; calling the source itself is :meth:`Tucker.forward <pde_kan.nn.tucker.Tucker.forward>`, the
    spline tensor alone.

    Args:
        ranks: ``(r_out, r_in, r_basis)``, each within its dimension (see :func:`~pde_kan.nn.tucker.resolve_ranks`).
        contraction: ``"factored"`` contracts the features through the factors without forming ``C``,
            ``"materialized"`` forms ``C`` and runs one GEMM, ``"auto"`` picks the path the cost model
            (:meth:`contraction_costs`) estimates cheaper for the batch at hand.
    """

    def __init__(self, in_features, out_features, n_basis, *, ranks, init_scale=0.1, generator=None,
                 dtype=torch.float64, device=None, contraction="auto"):
        dims = (out_features, in_features, n_basis)
        ranks = resolve_ranks(ranks, dims, owner="SlimKAN")
        core_std = math.sqrt(init_scale**2 / in_features * math.prod(dims) / math.prod(ranks))
        super().__init__(dims, ranks, init="random", core_std=core_std, generator=generator, dtype=dtype,
                         device=device, owner="SlimKAN")
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        self.contraction = choice("contraction", contraction, CONTRACTIONS, owner="SlimKAN")
        self.base_weight = nn.Parameter(normal_init((out_features, in_features), 1.0 / math.sqrt(in_features),
                                                    generator, dtype, device))

    def coefficients(self):
        return self.to_tensor(), self.base_weight

    def packed_columns(self, index):
        return torch.cat([self.base_weight[:, index].unsqueeze(-1), self.to_tensor(index)], dim=-1)

    def contraction_costs(self, n: int) -> tuple[float, float]:
        """Estimated cost of one forward+backward of the ``(factored, materialised)`` paths for a batch of ``n``.

        Units are multiply-adds. Both paths are dominated by different things: the materialised one by its
        GEMM over ``in * (n_basis + 1)`` (and by writing ``C`` and its gradient), the factored one by passes over
        its ``(N, in, rank)`` intermediates, which run at memory speed, not GEMM speed: each element moved
        costs :data:`MAC_PER_ELEMENT` multiply-adds (:data:`MAC_PER_ELEMENT_CACHED` while a tensor fits in
        cache), and each kernel launch :data:`MAC_PER_OP`. The constants were measured on the project's CPUs
        (``benchmarks/layer_speed.py --tucker-paths``; docs/benchmarks.md compares the model's pick with the
        measured winner per layer shape); a GPU shifts them but not which path wins at the extremes, and
        ``contraction=`` overrides the pick.
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
        """``features (N, in, n_basis + 1)`` -> ``(N, out)`` along the path ``contraction`` names."""
        factored = (self.contraction == "factored"
                    or (self.contraction == "auto" and self.factored_is_cheaper(features.shape[0])))
        return self.contract_factored(features) if factored else dense_contract(features, *self.coefficients())

    def contract_factored(self, features: torch.Tensor) -> torch.Tensor:
        """``features (N, in, n_basis + 1)`` -> ``(N, out)`` through the factors, never forming ``C``."""
        return self.forward(features, skip=1, add=features[..., 0] @ self.base_weight.T)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, contraction={self.contraction!r}"


class SlimKAN(Backbone):
    """KAN with each layer's ``C (out, in, n_basis)`` in Tucker form ``G x1 U_out x2 U_in x3 U_basis``.

    ``x: (N, widths[0]) -> (N, widths[-1])``. Per layer parameters:
    ``r_out r_in r_b + out r_out + in r_in + n_basis r_b + out in`` (the last term is the dense base weight).

    Args:
        ranks: ``(r_out, r_in, r_basis)`` used for every layer, one integer rank for every mode, or a fraction
            in (0, 1] of each dimension (:func:`~pde_kan.nn.tucker.resolve_ranks`). ``r_out`` and ``r_in`` are
            clipped to each layer's widths, so ``(8, 8, 4)`` works for an input layer of width 2; a rank above
            ``n_basis`` raises.
        contraction: ``"auto"``, ``"factored"`` or ``"materialized"``; see :class:`TuckerCoefficients`.

    Other arguments as :class:`~pde_kan.nn.KAN`.
    """

    name = "slimkan"
    recommended_lr = 1e-2

    def __init__(self, widths, ranks=(8, 8, 4), grid_size=5, spline_order=3, grid_range=(-1.0, 1.0),
                 base_activation="silu", init_scale=0.1, seed=0, dtype=torch.float64, device=None,
                 contraction="auto"):
        super().__init__()
        bases, grid = layer_bases(widths, grid_size, spline_order, grid_range, "SlimKAN")
        n_basis = bases[0].n_basis
        ranks_cfg = list(ranks) if isinstance(ranks, (tuple, list)) else ranks
        choice("contraction", contraction, CONTRACTIONS, owner="SlimKAN")
        self._setup(widths, dtype, dict(grid, ranks=ranks_cfg, base_activation=base_activation,
                                        init_scale=init_scale, seed=seed, contraction=contraction))
        spec = rank_spec(ranks, owner="SlimKAN")
        if not isinstance(spec, float) and spec[2] > n_basis:
            raise ValueError(f"SlimKAN: ranks must be (r_out, r_in, r_basis) with r_basis <= n_basis="
                             f"{n_basis}, got {ranks!r}; lower r_basis or raise grid_size.")
        g = torch.Generator().manual_seed(int(seed))
        self.layers = nn.ModuleList(
            KANLayer(i, o, basis, TuckerCoefficients(
                i, o, n_basis, ranks=resolve_ranks(spec, (o, i, n_basis), clip=(True, True, False), owner="SlimKAN"),
                init_scale=init_scale, generator=g, dtype=self.dtype, device=device, contraction=contraction),
                base_activation)
            for i, o, basis in zip(self.widths[:-1], self.widths[1:], bases)
        )
