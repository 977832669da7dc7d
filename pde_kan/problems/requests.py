"""What a residual asks for: the lazy derivative object :class:`U` (recording at the first call, serving after)
and the :class:`Plan` that sorts the recorded requests by engine (see :mod:`pde_kan.problems.pde` for the table
of requests)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from ..diff import get_engine

VALUE, LAPLACIAN = "value", "laplacian"


class U:
    """``u`` and its derivatives at the collocation points, as the residual asks for them.

    See the module table for the names. Indices follow ``x``'s columns; negative indices count from the end
    (``u.d(-1)`` is ``u.dt`` on a space-time domain).
    """

    def __init__(self, n: int, dim: int, spatial_dim: int, has_time: bool, values: Optional[dict] = None,
                 like: Optional[torch.Tensor] = None, owner: str = "residual"):
        self._n, self._dim, self._sd, self._has_time = n, dim, spatial_dim, has_time
        self._values = values
        self._like = like
        self._owner = owner
        self.requests: set = set()

    # recording (values is None) or serving
    def _get(self, key):
        if self._values is None:
            self.requests.add(key)
            return self._like.new_zeros(self._n)
        try:
            return self._values[key]
        except KeyError:
            raise RuntimeError(f"{self._owner}: requested {_describe(key)}, which it did not request at its first "
                               f"call; a residual must ask for the same derivatives on every call.") from None

    def _index(self, i, what: str) -> int:
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"{self._owner}: {what} needs integer coordinate indices, got {i!r}.")
        i = int(i)
        j = i + self._dim if i < 0 else i
        if not 0 <= j < self._dim:
            raise ValueError(f"{self._owner}: {what}: coordinate index {i} is out of range; x has {self._dim} "
                             f"columns (valid 0..{self._dim - 1}, or -{self._dim}..-1).")
        return j

    def _time(self, what: str) -> int:
        if not self._has_time:
            raise ValueError(f"{self._owner}: u.{what} needs a time coordinate, but the problem's domain has none; "
                             f"use a SpaceTime(space, t0, t1) domain (time is the last column of x) or drop "
                             f"u.{what}.")
        return self._dim - 1

    @property
    def value(self) -> torch.Tensor:
        """``(N,)`` u."""
        return self._get(VALUE)

    @property
    def grad(self) -> torch.Tensor:
        """``(N, spatial_dim)`` spatial gradient."""
        return torch.stack([self._get(("d", i)) for i in range(self._sd)], dim=1)

    def d(self, i: int) -> torch.Tensor:
        """``(N,)`` ``∂u/∂x_i``."""
        return self._get(("d", self._index(i, f"u.d({i})")))

    def d2(self, i: int, j: int) -> torch.Tensor:
        """``(N,)`` ``∂²u/∂x_i∂x_j`` (``i == j``: a diagonal entry, by forward jet; else autograd)."""
        a, b = sorted((self._index(i, f"u.d2({i}, {j})"), self._index(j, f"u.d2({i}, {j})")))
        return self._get(("d2", a, b))

    @property
    def laplacian(self) -> torch.Tensor:
        """``(N,)`` Laplacian over the spatial coordinates (exact, or the configured unbiased estimate)."""
        return self._get(LAPLACIAN)

    @property
    def dt(self) -> torch.Tensor:
        """``(N,)`` ``∂u/∂t``."""
        return self._get(("d", self._time("dt")))

    @property
    def dtt(self) -> torch.Tensor:
        """``(N,)`` ``∂²u/∂t²``."""
        t = self._time("dtt")
        return self._get(("d2", t, t))


def _describe(key) -> str:
    if key in (VALUE, LAPLACIAN):
        return f"u.{key}"
    if key[0] == "d":
        return f"u.d({key[1]})"
    return f"u.d2({key[1]}, {key[2]})"



@dataclass(frozen=True)
class Plan:
    """What a residual asked for, sorted by engine: ``first`` coordinates, ``laplacian``, diagonal second
    derivatives ``diag`` and mixed pairs ``mixed``."""

    value: bool
    first: tuple[int, ...]
    laplacian: bool
    diag: tuple[int, ...]
    mixed: tuple[tuple[int, int], ...]

    @classmethod
    def from_requests(cls, requests) -> "Plan":
        first = sorted({k[1] for k in requests if isinstance(k, tuple) and k[0] == "d"})
        diag = sorted({k[1] for k in requests if isinstance(k, tuple) and k[0] == "d2" and k[1] == k[2]})
        mixed = sorted({(k[1], k[2]) for k in requests if isinstance(k, tuple) and k[0] == "d2" and k[1] != k[2]})
        return cls(VALUE in requests, tuple(first), LAPLACIAN in requests, tuple(diag), tuple(mixed))

    def routing(self, engine: str) -> dict[str, str]:
        """Request name -> engine: ``"jet"``, the stochastic estimator's name, or ``"autograd"``."""
        auto = not get_engine(engine).jet
        out = {"u.value": "autograd" if auto else "jet"}
        for i in self.first:
            out[f"u.d({i})"] = "autograd" if auto else "jet"
        if self.laplacian:
            out["u.laplacian"] = engine
        for i in self.diag:
            out[f"u.d2({i}, {i})"] = "autograd" if auto else "jet"
        for i, j in self.mixed:
            out[f"u.d2({i}, {j})"] = "autograd"
        return out
