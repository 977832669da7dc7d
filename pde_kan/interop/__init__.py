"""Adapters to other PINN libraries. Nothing here imports them at package import time.

:mod:`pde_kan.interop.deepxde` turns pde_kan backbones into DeepXDE networks (:func:`as_dde_net`) and
pde_kan problems into DeepXDE data (:func:`to_deepxde`). DeepXDE itself is imported on first use only, with
the pytorch backend, and torch's global default dtype / device are restored afterwards (DeepXDE changes
them on import), so ``import pde_kan.interop`` costs nothing and changes nothing.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "as_dde_net": "deepxde", "to_deepxde": "deepxde", "dde_optimizer": "deepxde", "hard_bc_transform": "deepxde",
    "load_deepxde": "deepxde", "set_float": "deepxde", "dde_residual": "deepxde",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; available: {', '.join(__all__)}.")
