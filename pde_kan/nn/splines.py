"""Uniform-grid B-spline basis with closed-form derivatives.

The basis has ``n_basis = grid_size + spline_order`` functions of order ``k`` (degree k, C^{k-1}) on the
extended knot vector ``t_j = a + (j - k) h``, ``j = 0 .. G + 2k``, ``h = (b - a) / G``. The basis is a partition
of unity on ``[a, b]`` and vanishes outside ``[a - k h, b + k h)``.

Evaluation is closed-form, not a Cox–de Boor sweep: on a uniform grid every basis function is a shifted copy
of one cardinal B-spline, so a point ``x`` with knot coordinate ``u = (x - a) / h + k`` lies in interval
``j = floor(u)`` at fraction ``f = u - j``, where exactly the ``k + 1`` functions ``B_{j-k} .. B_j`` are non-zero
and equal fixed polynomials of ``f`` (the rows of :func:`piece_polynomials`). Derivatives are the derivatives
of those polynomials divided by ``h``, so value, first and second derivative come out of one small matrix
product ``[1, f, .., f^k] @ M`` and ``k + 1`` scattered writes per point, with no recursion over orders.

Autograd: the evaluation is a custom function whose backward gathers the ``k + 1`` non-zero derivative
values again (it saves only ``x``); under ``create_graph`` the backward is written with the same function one
derivative order up, so derivatives of any order are exact (the autograd Laplacian and double backward work).
"""
from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple, Optional, Sequence

import torch

from .._checks import positive_int


class BasisValues(NamedTuple):
    """Basis values and derivatives, each ``(N, in, n_basis)``; derivatives None when not requested."""

    value: torch.Tensor
    d1: Optional[torch.Tensor]
    d2: Optional[torch.Tensor]


def piece_polynomials(spline_order: int) -> list[list[Fraction]]:
    """Exact polynomial pieces of the cardinal B-spline of order ``k``.

    Returns ``M`` with ``M[p][r]`` the coefficient of ``f^p`` in the value of ``B_{j-k+r}`` on interval ``j``
    (``f`` the fraction of the way through the interval, ``r = 0 .. k``). Built by running the uniform-knot
    Cox–de Boor recursion on polynomials once: ``P_p[r] = ((f + p - r) P_{p-1}[r-1] + (r + 1 - f) P_{p-1}[r]) / p``.
    """
    k = spline_order
    pieces = [[Fraction(1)]]  # order 0: the indicator of the interval itself

    def axpy(poly, c0, c1):  # poly * (c0 + c1 f)
        out = [Fraction(0)] * (len(poly) + 1)
        for i, v in enumerate(poly):
            out[i] += v * c0
            out[i + 1] += v * c1
        return out

    for p in range(1, k + 1):
        new = []
        for r in range(p + 1):
            acc = [Fraction(0)] * (p + 1)
            if r >= 1:
                for i, v in enumerate(axpy(pieces[r - 1], p - r, 1)):
                    acc[i] += v
            if r <= p - 1:
                for i, v in enumerate(axpy(pieces[r], r + 1, -1)):
                    acc[i] += v
            new.append([v / p for v in acc])
        pieces = new
    return [[pieces[r][p] if p < len(pieces[r]) else Fraction(0) for r in range(k + 1)] for p in range(k + 1)]


class _Tables:
    """Per (dtype, device) constants of one basis: polynomial terms, knot bounds, column tables.

    Interval rows: row ``j + 1`` is interval ``j = 0 .. G + 2k - 1``; rows 0 and ``G + 2k + 1`` mean "outside the
    extended grid" (every write of such a point goes to a dump column and is masked).
    """

    def __init__(self, basis: "BSplineBasis", dtype: torch.dtype, device):
        k, G, h = basis.spline_order, basis.grid_size, basis.h
        nb = basis.n_basis
        m0 = piece_polynomials(k)
        # terms[d][r]: ([(power, coefficient), ...], constant) of the d-th x-derivative of piece r; d <= k
        self.terms = []
        for d in range(k + 1):
            per_r = []
            for r in range(k + 1):
                coeffs = []
                for p in range(k + 1 - d):
                    fall = 1  # (p + d)! / p!
                    for q in range(p + 1, p + d + 1):
                        fall *= q
                    coeffs.append(float(m0[p + d][r] * fall) / h**d)
                per_r.append(([(p, c) for p, c in enumerate(coeffs) if p >= 1 and c != 0.0],
                              coeffs[0] if coeffs else 0.0))
            self.terms.append(per_r)
        t = basis.knots(dtype=dtype, device=device)
        self.t_hi = t[-1]
        self.inv_h = 1.0 / h
        self.offset = k - basis.grid_range[0] / h
        self.n_rows = G + 2 * k + 2
        col = torch.zeros(k + 1, self.n_rows, dtype=torch.long)
        for j in range(G + 2 * k):
            for r in range(k + 1):
                m = j - k + r
                if 0 <= m < nb:
                    col[r, j + 1] = m + 1
        self.col = col.T.contiguous().to(device)  # (rows, k+1): column in the [act, B] layout, 0 (a dump) if invalid
        self.valid = (self.col > 0).to(dtype=dtype)


class _SplineFn(torch.autograd.Function):
    """Derivative orders ``lo .. lo + count - 1`` of the basis at ``x``.

    ``acts`` empty: outputs ``(*x.shape, n_basis)`` each. ``acts`` given (one tensor shaped like ``x`` per order):
    outputs ``(*x.shape, n_basis + 1)`` with ``acts[d]`` in column 0 and the basis after it (the KAN layer's
    features ``[silu(x), B(x)]``); the gradient of column 0 goes back to ``acts[d]``.
    """

    @staticmethod
    def forward(ctx, x, basis, lo, count, *acts):
        ctx.set_materialize_grads(False)
        ctx.basis, ctx.lo, ctx.count, ctx.packed = basis, lo, count, bool(acts)
        outs, f, cols = basis._evaluate(x, lo, count, acts)
        if ctx.needs_input_grad[0]:  # the interval data, one byte per piece: backward need not locate x again
            ctx.save_for_backward(x, f, cols.to(torch.uint8) if basis.n_basis < 256 else cols)
        else:
            ctx.save_for_backward(x, None, None)
        return tuple(outs)

    @staticmethod
    def backward(ctx, *grads):
        x, f, cols = ctx.saved_tensors
        basis, lo, count, packed = ctx.basis, ctx.lo, ctx.count, ctx.packed
        gacts = tuple((g[..., 0] if g is not None else None) for g in grads) if packed else ()
        gx = None
        if ctx.needs_input_grad[0] and any(g is not None for g in grads):
            gb = [None if g is None else (g[..., 1:] if packed else g) for g in grads]
            if torch.is_grad_enabled():
                # create_graph: a differentiable formula, through this same function one order up
                higher = _SplineFn.apply(x, basis, lo + 1, count)
                for g, b in zip(gb, higher):
                    if g is not None:
                        term = (g * b).sum(-1)
                        gx = term if gx is None else gx + term
            else:
                gx = basis._grad_x(f, cols, lo + 1, grads, packed).view(x.shape)
        return (gx, None, None, None) + gacts


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
        self._cache: dict = {}

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
        outs = list(_SplineFn.apply(x, self, 0, derivatives + 1))
        outs += [None] * (3 - len(outs))
        return BasisValues(*outs)

    def features(self, x: torch.Tensor, acts: Sequence[torch.Tensor], first: int = 0) -> tuple[torch.Tensor, ...]:
        """KAN layer features ``[act, B^(d)(x)]`` for derivative orders ``d = first .. first + len(acts) - 1``.

        Args:
            x: ``(N, in)`` inputs.
            acts: one ``(N, in)`` tensor per order: the base activation (or its derivative) at ``x``.
            first: lowest derivative order.

        Returns:
            One ``(N, in, n_basis + 1)`` tensor per order, column 0 the activation, columns 1.. the basis.
        """
        if acts:
            self._check_order(first + len(acts) - 1)
        return _SplineFn.apply(x, self, first, len(acts), *acts)

    # --- kernels (no autograd; called by _SplineFn) ------------------------------------------------------
    def tables(self, dtype: torch.dtype, device) -> _Tables:
        key = (dtype, torch.device(device) if device is not None else torch.device("cpu"))
        tab = self._cache.get(key)
        if tab is None:
            tab = self._cache[key] = _Tables(self, dtype, device)
        return tab

    def _locate(self, x: torch.Tensor, tab: _Tables):
        """Interval rows ``(M,)`` (see :class:`_Tables`) and fractions ``f (M,)`` of the flattened ``x``."""
        k, G = self.spline_order, self.grid_size
        xf = x.reshape(-1)
        u = torch.add(xf * tab.inv_h, tab.offset)
        jf = torch.floor(u)
        f = u.sub_(jf)
        # the right end of the support is decided against the last knot itself (half-open, as the Cox–de Boor
        # indicators), so that B vanishes exactly at b + k h whatever the rounding of u
        # a NaN input goes to row 0 (the dump) like a point outside the support: .long() of NaN is garbage
        rows = jf.clamp_(-1, G + 2 * k).add_(1).mul_(xf < tab.t_hi).nan_to_num_(0.0).long()
        return rows, f

    @staticmethod
    def _pieces(f: torch.Tensor, tab: _Tables, order: int, powers: list) -> torch.Tensor:
        """The ``k + 1`` non-zero values of derivative ``order`` at fractions ``f (M,)``: planar ``(k+1, M)``.

        Each row is a polynomial in ``f`` with constant coefficients, evaluated with whole-row (contiguous)
        operations; ``powers[p] = f^p`` is filled on demand and shared between orders.
        """
        k1 = len(tab.terms)
        out = f.new_empty(k1, f.shape[0])
        if order >= k1:
            return out.zero_()
        while len(powers) < k1 - order:
            powers.append(f if len(powers) == 1 else powers[-1] * f)
        for row, (terms, const) in zip(out, tab.terms[order]):
            if not terms:
                row.fill_(const)
                continue
            (p, c), rest = terms[0], terms[1:]
            torch.mul(powers[p], c, out=row)
            for p, c in rest:
                row.add_(powers[p], alpha=c)
            if const != 0.0:
                row.add_(const)
        return out

    def _evaluate(self, x: torch.Tensor, lo: int, count: int, acts: Sequence[torch.Tensor]):
        """Outputs (see :class:`_SplineFn`), and the fractions ``f (M,)`` and columns ``(M, k+1)`` of the pieces."""
        tab = self.tables(x.dtype, x.device)
        rows, f = self._locate(x, tab)
        cols = tab.col.index_select(0, rows)  # (M, k+1): where each non-zero piece goes; 0 (a dump) if nowhere
        nb, m = self.n_basis, rows.shape[0]
        powers = [None]
        outs = []
        for d in range(count):
            out = torch.zeros(m, nb + 1, dtype=x.dtype, device=x.device)
            out.scatter_(1, cols, self._pieces(f, tab, lo + d, powers).T)
            if acts:  # column 0 is the activation, which also overwrites the dumped writes
                out[:, 0] = acts[d].reshape(-1)
                outs.append(out.view(*x.shape, nb + 1))
            else:
                outs.append(out[:, 1:].contiguous().view(*x.shape, nb))
        return outs, f, cols

    def _grad_x(self, f: torch.Tensor, cols: torch.Tensor, lo: int, grads, packed: bool) -> torch.Tensor:
        """``sum_d sum_m grads[d][..., m] * B^(lo+d)_m(x)`` from the ``k + 1`` non-zero terms per point: ``(M,)``.

        ``f (M,)`` and ``cols (M, k+1)`` (column of each piece in the ``[act, B]`` layout, 0 where the piece
        does not exist) come from the forward pass.
        """
        tab = self.tables(f.dtype, f.device)
        m = f.shape[0]
        k = self.spline_order
        # a piece is missing (column 0) only for points outside [a, b); skip the mask when there are none
        # (a cheap check on CPU; on GPUs it would cost a synchronisation, so always mask there)
        valid = None if (f.device.type == "cpu" and bool((cols[:, 0] != 0).all()) and bool((cols[:, k] != 0).all())) \
            else cols != 0
        cols = cols.long()
        if not packed:
            cols = cols.sub_(1).clamp_(min=0)
        powers = [None]
        acc = None
        for d, g in enumerate(grads):
            if g is None:
                continue
            term = g.reshape(m, -1).gather(1, cols).mul_(self._pieces(f, tab, lo + d, powers).T)
            acc = term if acc is None else acc.add_(term)
        return (acc if valid is None else acc.mul_(valid)).sum(1)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def __repr__(self) -> str:
        return f"BSplineBasis(grid_size={self.grid_size}, spline_order={self.spline_order}, grid_range={self.grid_range})"
