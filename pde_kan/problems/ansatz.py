"""Hard conditions: the :class:`Ansatz` ``u = A(x) + B(x) raw`` that imposes one Dirichlet and one Initial
condition exactly, and the choice of which conditions it imposes."""
from __future__ import annotations

from typing import Optional

import torch

from ..diff import Jet
from .base import closed_jet
from .closed_form import function_jet
from .boundary import boundary_parts
from .conditions import Dirichlet, Initial
from .domains import SpaceTime


def _factor_jet(factor, x, like: Jet) -> Jet:
    v, g, h = factor(x)
    return closed_jet(like, v, g, h)


class Ansatz:
    """``u = A(x) + B(x) raw`` for the hard conditions: ``A`` from the data (``g``, ``u0``), ``B`` the product of
    the boundary parts' distance factors and of ``(t - t0) / (t1 - t0)``. A callable jet transform."""

    def __init__(self, domain, dirichlet: Optional[Dirichlet], initial: Optional[Initial]):
        self.domain, self.dirichlet, self.initial = domain, dirichlet, initial
        parts = boundary_parts(domain)
        self.factors = []
        if dirichlet is not None:
            for p in dirichlet.on:
                self.factors.extend(parts[p].factors)
        if initial is not None:
            t0, t1 = domain.t0, domain.t1

            def time_factor(x):
                grad = torch.zeros_like(x)
                grad[:, -1] = 1.0 / (t1 - t0)
                return (x[:, -1] - t0) / (t1 - t0), grad, torch.zeros_like(x)

            self.factors.append(time_factor)
        g = None if dirichlet is None else dirichlet.g
        u0 = None if initial is None else initial.u0
        self.constant = (g is None or g.is_constant) and (u0 is None or u0.is_constant)
        self.g, self.u0 = g, u0
        # constant data: A = u0 (g + u0 - g) or g, a number added to the value; no derivative to take
        self.shift = float((u0 if u0 is not None else g).fn) if self.constant else 0.0

    def lift(self, x: torch.Tensor) -> torch.Tensor:
        """``A(x) (N,)``: ``g``, ``u0``, or ``g + u0 - g(x, t0)``."""
        if self.g is None:
            return self.u0(x)
        if self.u0 is None:
            return self.g(x)
        x0 = torch.cat([x[:, :-1], torch.full_like(x[:, -1:], self.domain.t0)], 1)
        return self.g(x) + self.u0(x0) - self.g(x0)

    def __call__(self, x: torch.Tensor, raw_jet: Jet) -> Jet:
        b = None
        for f in self.factors:
            fj = _factor_jet(f, x, raw_jet)
            b = fj if b is None else b * fj
        u = b * raw_jet
        if self.constant:
            return Jet(u.value + self.shift, u.tangent, u.second, u.directions) if self.shift else u
        return function_jet(self.lift, x, raw_jet.directions) + u


def _plan_hard(domain, conditions) -> tuple[Optional[Dirichlet], Optional[Initial]]:
    """The Dirichlet and Initial conditions imposed exactly (None each where none is)."""
    parts = boundary_parts(domain)
    dirichlet = [c for c in conditions if isinstance(c, Dirichlet) and c.hard is not False]
    initial = [c for c in conditions if isinstance(c, Initial) and c.hard is not False]
    hard_d = None
    if len(dirichlet) == 1 and all(parts[p].factors for p in dirichlet[0].on):
        hard_d = dirichlet[0]
    hard_i = initial[0] if len(initial) == 1 and isinstance(domain, SpaceTime) else None
    for c in conditions:
        if c.hard is True and c is not hard_d and c is not hard_i:
            why = ("only one Dirichlet (one Initial) condition can be imposed exactly"
                   if isinstance(c, (Dirichlet, Initial)) else "this part has no distance function")
            raise ValueError(f"PDE: {c.describe()} has hard=True but cannot be imposed exactly: {why}; pass "
                             f"hard=None (automatic) or hard=False.")
    return hard_d, hard_i
