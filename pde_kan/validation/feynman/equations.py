"""The :class:`Equation` type, the equation registry (filled by :mod:`._table`), lookup by name / alias / pykan
index, and sampled train / test data sets."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional, Sequence

import torch

from ..._checks import positive_int, resolve_dtype

GROUPS = ("feynman", "bonus", "toy")


@dataclass(frozen=True)
class Equation:
    """One benchmark equation ``y = f(x_1, ..., x_d)`` with uniform sampling ranges.

    Attributes:
        name: canonical name, e.g. ``"I.6.20b"`` or ``"Goldstein 3.16"``.
        number: pykan's integer index (1..120; 0 for the toy ``"test"``).
        variables: variable names in the published column order.
        ranges: ``(low, high)`` of the uniform distribution of each variable.
        formula: the published formula as text.
        fn: ``fn(*columns) -> tensor``: the formula in torch, one positional argument per variable.
        group: ``"feynman"`` (Feynman Lectures table), ``"bonus"`` (AI Feynman bonus set) or ``"toy"``.
        aliases: other accepted names.
    """

    name: str
    number: int
    variables: tuple[str, ...]
    ranges: tuple[tuple[float, float], ...]
    formula: str
    fn: Callable[..., torch.Tensor]
    group: str
    aliases: tuple[str, ...] = ()

    @property
    def n_vars(self) -> int:
        return len(self.variables)

    def bounds(self, dtype=torch.float64, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(low, high)``, each ``(n_vars,)``."""
        lo = torch.tensor([r[0] for r in self.ranges], dtype=dtype, device=device)
        hi = torch.tensor([r[1] for r in self.ranges], dtype=dtype, device=device)
        return lo, hi

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Evaluate the formula. ``x: (N, n_vars)`` in the published column order -> ``(N, 1)``."""
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[1] != self.n_vars:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"Equation {self.name!r}: x must have shape (N, {self.n_vars}) with columns "
                             f"{', '.join(self.variables)}, got {shape}.")
        y = self.fn(*x.unbind(dim=1))
        return y.reshape(-1, 1)

    def sample(self, n: int, generator: torch.Generator, dtype=torch.float64, device=None) -> torch.Tensor:
        """``n`` points uniform in the sampling box, ``(n, n_vars)``, drawn from ``generator``."""
        n = positive_int("n", n, owner=f"Equation {self.name!r}")
        lo, hi = self.bounds(dtype)
        x = lo + (hi - lo) * torch.rand(n, self.n_vars, generator=generator, dtype=dtype)
        return x.to(device)


_REGISTRY: dict[str, Equation] = {}
_ALIASES: dict[str, str] = {}
_NUMBERS: dict[int, str] = {}


def _parse_vars(spec: str) -> tuple[tuple[str, ...], tuple[tuple[float, float], ...]]:
    names, ranges = [], []
    for item in spec.split():
        name, rng = item.split("=")
        lo, hi = rng.split("..")
        names.append(name)
        ranges.append((float(lo), float(hi)))
    return tuple(names), tuple(ranges)


def _eq(name: str, number: int, spec: str, formula: str, fn: Callable[..., torch.Tensor], group: str = "feynman",
        aliases: Sequence[str] = ()) -> None:
    variables, ranges = _parse_vars(spec)
    params = tuple(inspect.signature(fn).parameters)
    # the formula's argument names must be the variables in column order: a transposed column cannot slip in
    assert params == variables, (name, params, variables)
    assert all(lo < hi for lo, hi in ranges), name
    assert name not in _REGISTRY and number not in _NUMBERS, name
    _REGISTRY[name] = Equation(name, number, variables, ranges, formula, fn, group, tuple(aliases))
    _NUMBERS[number] = name
    for a in aliases:
        assert a not in _ALIASES and a not in _REGISTRY, a
        _ALIASES[a] = name



def available_equations(group: Optional[str] = None) -> list[str]:
    """Canonical names in pykan's order (index 1..120, then the toy ``"test"``).

    Args:
        group: None for all, or ``"feynman"``, ``"bonus"``, ``"toy"``; ``"benchmark"`` = feynman + bonus.
    """
    valid = GROUPS + ("benchmark",)
    if group is not None and group not in valid:
        raise ValueError(f"available_equations: unknown group {group!r}; valid names: "
                         f"{', '.join(map(repr, valid))}.")
    names = [_NUMBERS[n] for n in sorted(_NUMBERS) if n > 0] + [_NUMBERS[0]]
    if group is None:
        return names
    keep = ("feynman", "bonus") if group == "benchmark" else (group,)
    return [n for n in names if _REGISTRY[n].group in keep]


def get_equation(name: Any) -> Equation:
    """An equation by canonical name, alias (csv file name, pykan's name) or pykan index (int)."""
    if isinstance(name, Equation):
        return name
    if isinstance(name, int) and not isinstance(name, bool):
        if name not in _NUMBERS:
            raise ValueError(f"get_equation: no equation with index {name}; valid indices: 0..{max(_NUMBERS)}.")
        return _REGISTRY[_NUMBERS[name]]
    if isinstance(name, str):
        key = _ALIASES.get(name, name)
        if key in _REGISTRY:
            return _REGISTRY[key]
    raise ValueError(f"get_equation: unknown equation {name!r}; valid names: "
                     f"{', '.join(map(repr, available_equations()))} (or an alias such as 'I.6.2a', 'test_1', "
                     f"or pykan's index 0..{max(_NUMBERS)}).")


class FeynmanData(NamedTuple):
    """Inputs ``(N, n_vars)`` in the published variable ranges and targets ``(N, 1)``."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def dataset(name: Any, n_train: int = 1000, n_test: int = 1000, seed: int = 0, dtype=torch.float64,
            device=None) -> FeynmanData:
    """Train and test samples of one equation, uniform in its published ranges.

    Drawn from a private ``torch.Generator`` seeded with ``seed`` (train first, then test), so the same
    arguments give the same tensors and the global RNG is untouched.

    Returns:
        FeynmanData ``(x_train (n_train, d), y_train (n_train, 1), x_test (n_test, d), y_test (n_test, 1))``.
    """
    eq = get_equation(name)
    n_train = positive_int("n_train", n_train, owner="dataset")
    n_test = positive_int("n_test", n_test, owner="dataset")
    seed = positive_int("seed", seed, minimum=0, owner="dataset")
    dtype = resolve_dtype(dtype)
    g = torch.Generator().manual_seed(seed)
    x_train = eq.sample(n_train, g, dtype)
    x_test = eq.sample(n_test, g, dtype)
    # evaluate in float64 whatever the storage dtype, so float32 data sets carry correctly rounded targets
    y_train = eq(x_train.double()).to(dtype)
    y_test = eq(x_test.double()).to(dtype)
    return FeynmanData(*(t.to(device) for t in (x_train, y_train, x_test, y_test)))


def normalize_inputs(x: torch.Tensor, eq: Equation, grid_range: Sequence[float] = (-1.0, 1.0)) -> torch.Tensor:
    """Map each column of ``x (N, d)`` affinely from its sampling range onto ``grid_range``."""
    lo, hi = eq.bounds(x.dtype, x.device)
    a, b = (float(v) for v in grid_range)
    return a + (b - a) * (x - lo) / (hi - lo)

