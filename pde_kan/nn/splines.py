"""Uniform-grid B-spline basis with closed-form first and second derivatives.

The basis has ``n_basis = grid_size + spline_order`` functions of order ``k`` (degree k, C^{k-1}) on the
extended knot vector ``t_j = a + (j - k) h``, ``j = 0 .. G + 2k``, ``h = (b - a) / G``. The basis is a partition
of unity on ``[a, b]`` and vanishes outside ``[a - k h, b + k h]``. On a uniform grid a derivative of a
B-spline is a difference of lower-order B-splines::

    B'_{m,k}  = (B_{m,k-1} - B_{m+1,k-1}) / h
    B''_{m,k} = (B_{m,k-2} - 2 B_{m+1,k-2} + B_{m+2,k-2}) / h^2

so value, first and second derivative come out of one Cox–de Boor sweep.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import torch

from .._checks import positive_int


class BasisValues(NamedTuple):
    """Basis values and derivatives, each ``(N, in, n_basis)``; derivatives None when not requested."""

    value: torch.Tensor
    d1: Optional[torch.Tensor]
    d2: Optional[torch.Tensor]


class BSplineBasis:
    """B-spline basis of order ``spline_order`` on ``grid_size`` uniform intervals over ``grid_range``.

    Args:
        grid_size: number of intervals G >= 1 inside ``grid_range``.
        spline_order: order k >= 0 (3 = cubic). Second derivatives need k >= 2; PINNs want k >= 3.
        grid_range: (a, b) with a < b.
    """

    def __init__(self, grid_size: int = 5, spline_order: int = 3, grid_range: tuple[float, float] = (-1.0, 1.0)):
        self.grid_size = positive_int("grid_size", grid_size, owner="BSplineBasis")
        self.spline_order = positive_int("spline_order", spline_order, minimum=0, owner="BSplineBasis")
        try:
            a, b = (float(v) for v in grid_range)
        except (TypeError, ValueError):
            raise ValueError(f"BSplineBasis: grid_range must be a pair (low, high), got {grid_range!r}.") from None
        if not a < b:
            raise ValueError(f"BSplineBasis: grid_range must satisfy low < high, got {grid_range!r}.")
        self.grid_range = (a, b)
        self.h = (b - a) / self.grid_size

    @property
    def n_basis(self) -> int:
        return self.grid_size + self.spline_order

    @property
    def config(self) -> dict:
        return {"grid_size": self.grid_size, "spline_order": self.spline_order, "grid_range": list(self.grid_range)}

    def knots(self, dtype=torch.float64, device=None) -> torch.Tensor:
        """Extended knot vector ``(G + 2k + 1,)``."""
        k, G = self.spline_order, self.grid_size
        j = torch.arange(G + 2 * k + 1, dtype=dtype, device=device)
        return self.grid_range[0] + (j - k) * self.h

    def _check_order(self, derivatives: int) -> None:
        if derivatives > self.spline_order:
            raise ValueError(
                f"BSplineBasis: derivative order {derivatives} requested with spline_order={self.spline_order}; "
                f"order-{self.spline_order} splines are piecewise polynomials of degree {self.spline_order}, so "
                f"their derivative of order {derivatives} is zero almost everywhere (a distribution at the knots) "
                f"and would silently drop the spline branch from the PDE residual. Use spline_order >= 3 for "
                f"second-order PDEs."
            )

    def __call__(self, x: torch.Tensor, derivatives: int = 0) -> BasisValues:
        """Evaluate the basis.

        Args:
            x: ``(N, in)`` inputs.
            derivatives: 0, 1 or 2 — highest derivative to return.

        Returns:
            BasisValues with ``value``, ``d1``, ``d2`` each ``(N, in, n_basis)`` (d1/d2 None if not requested).
        """
        if derivatives not in (0, 1, 2):
            raise ValueError(f"BSplineBasis: derivatives must be 0, 1 or 2, got {derivatives!r}.")
        self._check_order(derivatives)
        k, h = self.spline_order, self.h
        t = self.knots(dtype=x.dtype, device=x.device)
        xe = x.unsqueeze(-1)
        # order 0: indicator of [t_m, t_{m+1})
        bases = ((xe >= t[:-1]) & (xe < t[1:])).to(x.dtype)
        orders = {0: bases}
        for p in range(1, k + 1):
            left = (xe - t[: -(p + 1)]) / (p * h)
            right = (t[p + 1 :] - xe) / (p * h)
            bases = left * bases[..., :-1] + right * bases[..., 1:]
            if p >= k - derivatives:
                orders[p] = bases
        d1 = d2 = None
        if derivatives >= 1:
            lo = orders[k - 1]
            d1 = (lo[..., :-1] - lo[..., 1:]) / h
        if derivatives >= 2:
            lo = orders[k - 2]
            d2 = (lo[..., :-2] - 2 * lo[..., 1:-1] + lo[..., 2:]) / (h * h)
        return BasisValues(bases, d1, d2)

    def __repr__(self) -> str:
        return f"BSplineBasis(grid_size={self.grid_size}, spline_order={self.spline_order}, grid_range={self.grid_range})"
