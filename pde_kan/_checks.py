"""Argument checks shared by every subpackage.

Errors name the argument, the value received, what was expected and the fix, e.g.
``KAN: x must have shape (N, 10), got (32, 3).`` They are part of the API and tested.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Iterable, Mapping, Optional

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
    f = number(name, value, owner=owner)
    ok = math.isfinite(f) and (f >= 0 if allow_zero else f > 0)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{prefix}{name} must be a finite number {bound}, got {value!r}.")
    return f


def number(name: str, value: Any, *, owner: str = "") -> float:
    """Return ``value`` as a float if it is a real number (int, float, NumPy or 0-d tensor scalar).

    Strings are refused even when they spell a number (``"1e-3"``): a typed config holds numbers only, and the
    command line converts its text once, at the parser. Booleans are refused too.
    """
    prefix = f"{owner}: " if owner else ""
    if isinstance(value, (str, bytes)):
        raise TypeError(f"{prefix}{name} must be a number, got the string {value!r}; write it without quotes "
                        f"(e.g. {name}=1e-3), not as text.")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) and not _is_scalar_tensor(value):
        raise TypeError(f"{prefix}{name} must be a number, got {value!r} ({type(value).__name__}).")
    return float(value)


def _is_scalar_tensor(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype.is_floating_point


def flag(name: str, value: Any, *, owner: str = "") -> bool:
    """Return ``value`` if it is a bool; ``"no"``, ``0`` and other truthy stand-ins are refused."""
    if not isinstance(value, bool):
        prefix = f"{owner}: " if owner else ""
        raise TypeError(f"{prefix}{name} must be true or false, got {value!r} ({type(value).__name__}).")
    return value


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


def check_points(owner: str, x: Any, width: Optional[int] = None, dtype: Optional[torch.dtype] = None, *,
                 finite: bool = False) -> torch.Tensor:
    """The one point validator: ``x`` a tensor ``(N, width)`` (any width when None) of ``dtype`` (any when None),
    and with ``finite`` no NaN / inf (a host sync: public entry points only, never per step).

    Raises TypeError / ValueError naming ``owner``, with the shape, dtype or non-finite count found and the fix.
    """
    w = "d" if width is None else width
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner}: x must be a torch.Tensor of shape (N, {w}), got {type(x).__name__}.")
    if x.ndim != 2:
        raise ValueError(f"{owner}: x must have shape (N, {w}), got {tuple(x.shape)}; reshape a single point "
                         f"with x.reshape(1, -1) or a 1-D grid with x.reshape(-1, 1).")
    if width is not None and x.shape[1] != width:
        raise ValueError(f"{owner}: x must have shape (N, {width}), got {tuple(x.shape)}.")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{owner}: x must have dtype {dtype}, got {x.dtype}; convert with x.to({dtype}) "
            f"or build the model with dtype={x.dtype}."
        )
    if finite:
        check_finite(owner, x)
    return x


def check_finite(owner: str, x: torch.Tensor) -> torch.Tensor:
    """Raise naming ``owner`` and the count when the floating tensor ``x`` holds NaN or inf (one host sync)."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
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


def device_name(device: Any) -> torch.device | None:
    """Parse a device name without asking whether it is present: None for ``"auto"`` / None, else the
    ``torch.device``; unknown forms (``"gpu"``, ``"tpu"``) raise listing the valid ones."""
    if device is None or device == "auto":
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda", "mps"):  # "meta", "xla", ... parse but cannot train here
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'.")
    return dev


def resolve_device(device: Any) -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; anything else goes to ``torch.device``."""
    dev = device_name(device)
    if dev is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here; use device='cpu' or "
                         f"device='auto'.")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} CUDA "
                         f"device(s) (cuda:0 .. cuda:{torch.cuda.device_count() - 1}); pick one of those.")
    return dev


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def check_fields(cls: type, data: Mapping[str, Any]) -> None:
    """Raise naming the unknown keys of ``data`` for the dataclass ``cls`` (``from_dict`` of frozen configs)."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown field(s) {unknown}; valid fields: {sorted(names)}.")
