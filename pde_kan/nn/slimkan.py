"""Slim KAN backbone: coefficient tensors stored in Tucker form (arXiv 2502.06153)."""
from __future__ import annotations

import torch
from torch import nn

from .backbone import Backbone, layer_bases
from .layer import KANLayer, TuckerCoefficients


def layer_ranks(ranks, out_features: int, in_features: int, n_basis: int) -> tuple[int, int, int]:
    """Ranks for one layer: an explicit triple, or a fraction in (0, 1] of each dimension (at least 1)."""
    if isinstance(ranks, (int, float)) and not isinstance(ranks, bool):
        if not 0 < ranks <= 1:
            raise ValueError(f"SlimKAN: ranks as a fraction must lie in (0, 1], got {ranks!r}; "
                             f"or pass a triple (r_out, r_in, r_basis).")
        return tuple(max(1, round(ranks * d)) for d in (out_features, in_features, n_basis))
    return tuple(ranks)


class SlimKAN(Backbone):
    """KAN with each layer's ``C (out, in, n_basis)`` in Tucker form ``G x1 U_out x2 U_in x3 U_basis``.

    ``x: (N, widths[0]) -> (N, widths[-1])``. Per layer parameters:
    ``r_out r_in r_b + out r_out + in r_in + n_basis r_b + out in`` (the last term is the dense base weight).

    Args:
        ranks: ``(r_out, r_in, r_basis)`` used for every layer (each clipped to the layer's dimensions), or a
            fraction in (0, 1] of each dimension. Ranks are clipped per layer only when given as a triple,
            so ``(8, 8, 4)`` works for an input layer of width 2; a rank above ``n_basis`` raises.

    Other arguments as :class:`~pde_kan.nn.KAN`.
    """

    name = "slimkan"
    recommended_lr = 1e-2

    def __init__(self, widths, ranks=(8, 8, 4), grid_size=5, spline_order=3, grid_range=(-1.0, 1.0),
                 base_activation="silu", init_scale=0.1, seed=0, dtype=torch.float64, device=None):
        super().__init__()
        bases, grid = layer_bases(widths, grid_size, spline_order, grid_range, "SlimKAN")
        n_basis = bases[0].n_basis
        ranks_cfg = list(ranks) if isinstance(ranks, (tuple, list)) else ranks
        self._setup(widths, dtype, dict(grid, ranks=ranks_cfg, base_activation=base_activation,
                                        init_scale=init_scale, seed=seed))
        if isinstance(ranks_cfg, list) and (len(ranks_cfg) != 3 or ranks_cfg[2] > n_basis):
            raise ValueError(f"SlimKAN: ranks must be (r_out, r_in, r_basis) with r_basis <= n_basis="
                             f"{n_basis}, got {ranks!r}; lower r_basis or raise grid_size.")
        g = torch.Generator().manual_seed(int(seed))
        layers = []
        for i, o, basis in zip(self.widths[:-1], self.widths[1:], bases):
            r = layer_ranks(ranks_cfg, o, i, n_basis)
            r = (min(r[0], o), min(r[1], i), r[2])
            layers.append(KANLayer(i, o, basis, TuckerCoefficients(
                i, o, n_basis, ranks=r, init_scale=init_scale, generator=g, dtype=self.dtype,
                device=device), base_activation))
        self.layers = nn.ModuleList(layers)
