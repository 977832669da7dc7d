"""Argument checks shared by every subpackage.

Errors name the argument, the value received, what was expected and the fix, e.g.
``KAN: x must have shape (N, 10), got (32, 3).`` They are part of the API and tested.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Iterable, Mapping

import torch


def positive_int(name: str, value: Any, *, minimum: int = 1, owner: str = "") -> int:
    """Return ``value`` as an int >= ``minimum`` or raise a ValueError naming ``name``."""
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__"):
        raise TypeError(f"{prefix}{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if value < minimum:
        raise ValueError(f"{prefix}{name} must be an integer >= {minimum}, got {value}.")
    return value


def positive_float(name: str, value: Any, *, owner: str = "", allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (>= 0 with ``allow_zero``) or raise naming ``name``."""
    prefix = f"{owner}: " if owner else ""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{prefix}{name} must be a number, got {value!r}.") from None
    ok = math.isfinite(f) and (f >= 0 if allow_zero else f > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{prefix}{name} must be a finite number {bound}, got {value!r}.")
    return f


def choice(name: str, value: Any, valid: Iterable[str], *, owner: str = "") -> str:
    """Return ``value`` if it is one of ``valid``; otherwise raise listing the valid names."""
    valid = list(valid)
    if value not in valid:
        prefix = f"{owner}: " if owner else ""
        raise ValueError(f"{prefix}unknown {name} {value!r}; valid names: {', '.join(map(repr, valid))}.")
    return value


def lookup(registry: Mapping[str, Any], kind: str, name: str) -> Any:
    """Registry lookup with the package-wide error for unknown names."""
    if name not in registry:
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(map(repr, sorted(registry)))}.")
    return registry[name]


def check_input(owner: str, x: Any, in_features: int, dtype: torch.dtype, *, finite: bool = True) -> torch.Tensor:
    """Validate a network input ``x: (N, in_features)`` of ``dtype``.

    Raises TypeError / ValueError with the shape, dtype or non-finite count found and the fix.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner}: x must be a torch.Tensor of shape (N, {in_features}), got {type(x).__name__}.")
    if x.ndim != 2 or x.shape[1] != in_features:
        raise ValueError(f"{owner}: x must have shape (N, {in_features}), got {tuple(x.shape)}.")
    if x.dtype != dtype:
        raise TypeError(
            f"{owner}: x must have dtype {dtype}, got {x.dtype}; convert with x.to({dtype}) "
            f"or build the model with dtype={x.dtype}."
        )
    if finite and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{owner}: x contains {bad} non-finite value(s) (NaN or inf); clean the input first.")
    return x


def resolve_dtype(dtype: Any) -> torch.dtype:
    """Accept a torch.dtype or a name such as ``"float64"``."""
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {"float64": torch.float64, "double": torch.float64, "float32": torch.float32, "float": torch.float32}
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}; valid names: {', '.join(map(repr, names))}.")
    return names[dtype]


def resolve_device(device: Any) -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; anything else goes to ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use device='cpu' or "
                         f"device='auto'.")
    return dev


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def check_fields(cls: type, data: Mapping[str, Any]) -> None:
    """Raise naming the unknown keys of ``data`` for the dataclass ``cls`` (``from_dict`` of frozen configs)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; valid fields: {sorted(names)}.")
