"""KAN backbone: dense coefficients on every edge."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._checks import choice
from .backbone import Backbone, layer_bases
from .layer import DenseCoefficients, KANLayer, ScaledDenseCoefficients

#: KAN initialisations: pde_kan's (dense coefficients, ``N(0, init_scale^2 / in)``) or the reference MetaKAN code's
#: KAN (a per-edge spline scale, its own init: :class:`~pde_kan.nn.layer.ScaledDenseCoefficients`)
KAN_INITS = ("pde_kan", "reference")


class KAN(Backbone):
    """Kolmogorov–Arnold network with dense spline coefficients.

    ``x: (N, widths[0]) -> (N, widths[-1])``. Parameters: ``sum_l in_l * out_l * (grid_size + spline_order + 1)``.

    Args:
        widths: layer widths, e.g. ``[10, 64, 64, 1]``.
        grid_size, spline_order: the B-spline basis of every layer (G=5, k=3).
        grid_range: ``(low, high)`` for every layer ([-1, 1]) or a list of one pair per layer (see
            :func:`~pde_kan.nn.backbone.layer_bases`).
        base_activation: base branch activation.
        init_scale: standard deviation of the spline coefficients relative to ``1/sqrt(in)``.
        init: ``"pde_kan"`` or ``"reference"`` (see :data:`KAN_INITS`; ``init_scale`` is then unused).
        seed: initialisation seed (a private ``torch.Generator``; global RNG untouched).
        dtype, device: parameter dtype (float64 default, the PINN convention) and device.
    """

    name = "kan"
    recommended_lr = 1e-2

    def __init__(self, widths, grid_size=5, spline_order=3, grid_range=(-1.0, 1.0), base_activation="silu",
                 init_scale=0.1, init="pde_kan", seed=0, dtype=torch.float64, device=None):
        super().__init__()
        bases, grid = layer_bases(widths, grid_size, spline_order, grid_range, "KAN")
        init = choice("init", init, KAN_INITS, owner="KAN")
        self._setup(widths, dtype, dict(grid, base_activation=base_activation, init_scale=init_scale, init=init,
                                        seed=seed))
        g = torch.Generator().manual_seed(int(seed))

        def source(i, o, n_basis):
            if init == "reference":
                return ScaledDenseCoefficients(i, o, n_basis, generator=g, dtype=self.dtype, device=device)
            return DenseCoefficients(i, o, n_basis, init_scale=init_scale, generator=g, dtype=self.dtype, device=device)

        self.layers = nn.ModuleList(
            KANLayer(i, o, basis, source(i, o, basis.n_basis), base_activation)
            for i, o, basis in zip(self.widths[:-1], self.widths[1:], bases)
        )

    @classmethod
    def reference(cls, widths, **overrides: Any) -> "KAN":
        """The reference MetaKAN code's KAN (its efficient-KAN layer): a trainable per-edge spline scale and that
        code's initialisation (:class:`~pde_kan.nn.layer.ScaledDenseCoefficients`), for reproducing its runs."""
        return cls(widths, **{"init": "reference", **overrides})
