"""User functions with checked outputs: :class:`UserFunction`.

Every function a user hands to :class:`~pde_kan.problems.pde.PDE` (residual, boundary data, initial data, exact
solution) is wrapped once. A call returns ``(N,)``: ``(N,)`` and ``(N, 1)`` outputs are accepted (``(N, 1)`` is
reshaped, so a source written the DeepXDE way cannot broadcast a residual to ``(N, N)``), a number stands for a
constant function, and anything else is a ``ValueError`` naming the function, the shape received and the shape
expected. The first call also checks that the output is finite (later calls skip the reduction, which would
synchronise a GPU every step; the trainer's divergence guard watches the loss after that).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Union

import torch


class UserFunction:
    """A user function ``f(*args) -> (N,)`` (or ``(N, 1)``) with its output checked.

    Args:
        fn: a callable, or a number for a constant function (then ``is_constant`` is True).
        name: how errors name it, e.g. ``"residual"`` or ``"Dirichlet(on='boundary').g"``.

    Equality and hashing follow ``fn``, so problems holding the same functions compare equal.
    """

    def __init__(self, fn: Union[Callable, float, int, "UserFunction"], name: str):
        if isinstance(fn, UserFunction):
            fn = fn.fn
        if isinstance(fn, bool) or not (callable(fn) or isinstance(fn, (int, float))):
            raise TypeError(f"{name} must be a function of the points x (N, D) or a number, got {fn!r} "
                            f"({type(fn).__name__}).")
        if isinstance(fn, (int, float)) and not math.isfinite(float(fn)):
            raise ValueError(f"{name} must be finite, got {fn!r}.")
        self.fn = fn
        self.name = name
        self.checked = False

    @property
    def is_constant(self) -> bool:
        return not callable(self.fn)

    @property
    def label(self) -> str:
        """A JSON-able description: the number, or ``module:qualname`` of the function."""
        if self.is_constant:
            return self.fn
        return f"{getattr(self.fn, '__module__', '?')}:{getattr(self.fn, '__qualname__', repr(self.fn))}"

    def __eq__(self, other):
        return isinstance(other, UserFunction) and self.fn == other.fn

    def __hash__(self):
        return hash(self.fn)

    def __repr__(self):
        return f"UserFunction({self.label!r})"

    def __call__(self, x: torch.Tensor, *args: Any) -> torch.Tensor:
        """Evaluate at ``x (N, D)`` (plus any extra arguments) -> ``(N,)`` of ``x``'s dtype."""
        n = x.shape[0]
        if self.is_constant:
            return x.new_full((n,), float(self.fn))
        out = self.fn(x, *args)
        return self.check(out, n, x)

    def check(self, out: Any, n: int, x: torch.Tensor, finite: bool = True) -> torch.Tensor:
        """``out`` as ``(n,)``, or a ValueError/TypeError naming this function (``finite``: also check, once,
        that it is finite)."""
        if isinstance(out, (int, float)) and not isinstance(out, bool):
            out = x.new_full((n,), float(out))
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{self.name} must return a torch.Tensor of shape ({n},) or ({n}, 1), got "
                            f"{type(out).__name__}; build it from x with torch operations.")
        if out.ndim == 2 and out.shape[1] == 1 and out.shape[0] == n:
            out = out[:, 0]
        if out.shape != (n,):
            hint = ""
            if out.ndim == 2 and out.shape[0] == n and out.shape[1] == n:
                hint = (" A term of shape (N, 1) (e.g. x[:, 0:1]) combined with one of shape (N,) broadcasts to "
                        "(N, N); index columns as x[:, 0], or reshape with .reshape(-1).")
            raise ValueError(f"{self.name} returned shape {tuple(out.shape)} for x of shape {tuple(x.shape)}; "
                             f"expected ({n},) or ({n}, 1), one value per point.{hint}")
        if finite and not self.checked:
            bad = ~torch.isfinite(out.detach())
            if bool(bad.any()):
                i = int(bad.nonzero()[0, 0])
                raise ValueError(f"{self.name} returned {int(bad.sum())} non-finite value(s) (NaN or inf) of {n}, "
                                 f"first at x = {x[i].detach().cpu().tolist()}; check the function there.")
            self.checked = True
        return out


def as_user_function(fn, name: str) -> UserFunction:
    return fn if isinstance(fn, UserFunction) and fn.name == name else UserFunction(fn, name)
