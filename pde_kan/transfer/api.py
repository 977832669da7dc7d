"""``transfer()``: adapt a solved problem to new coefficients — LoTRA, full, last-layer or from scratch.

Every method runs through the same :func:`pde_kan.solvers.solve` (one Trainer), so their histories, metrics and
results files compare directly. Methods live in a registry:

==============  ===================================================================  ==========================
method          trainable                                                            learning rates
==============  ===================================================================  ==========================
``lotra``       LoTRA deltas (core + 3 factors per targeted layer), base frozen        the LoTRAConfig's rule
``full``        every parameter of a copy of the source model                         ``config.lr``
``last_layer``  the last layer of a copy of the source model, the rest frozen          ``config.lr``
``scratch``     a freshly initialised model of the same architecture                  ``config.lr``
==============  ===================================================================  ==========================
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Callable, Iterable, Optional

import h5py
import numpy as np
import torch
from torch import nn

from .._checks import lookup
from ..nn import backbone_from_config
from ..solvers import Solution, TrainConfig, load_solution, solve
from ..solvers.trainer import resolve_lr
from .adapter import LoTRAModel, inject_lotra
from .config import LoTRAConfig

Prepared = tuple[nn.Module, dict[str, float]]


def _base_of(model: nn.Module) -> nn.Module:
    if isinstance(model, LoTRAModel):
        raise TypeError("transfer: the source model carries LoTRA adapters; pass model.merge_and_unload() (KAN, "
                        "Slim KAN) or the original base solution.")
    return model


def _prepare_lotra(model, config: TrainConfig, lotra: Optional[LoTRAConfig]) -> Prepared:
    adapted = inject_lotra(copy.deepcopy(_base_of(model)), lotra)
    return adapted, adapted.group_lr(resolve_lr(_base_of(model), config))


def _prepare_full(model, config, lotra) -> Prepared:  # lotra is ignored by every method but "lotra"
    tuned = copy.deepcopy(_base_of(model))
    tuned.requires_grad_(True)
    return tuned, {}


def _prepare_last_layer(model, config, lotra) -> Prepared:
    tuned = copy.deepcopy(_base_of(model))
    tuned.requires_grad_(False)
    tuned.layers[-1].requires_grad_(True)
    return tuned, {}


def _prepare_scratch(model, config, lotra) -> Prepared:
    cfg = getattr(_base_of(model), "config", None)
    if not isinstance(cfg, dict) or "backbone" not in cfg:
        raise TypeError(f"transfer(method='scratch'): the source model must be a pde_kan backbone with a config, got "
                        f"{type(model).__name__}.")
    return backbone_from_config(cfg), {}


TRANSFER_METHODS: dict[str, Callable[[nn.Module, TrainConfig, Optional[LoTRAConfig]], Prepared]] = {
    "lotra": _prepare_lotra,
    "full": _prepare_full,
    "last_layer": _prepare_last_layer,
    "scratch": _prepare_scratch,
}


def _source_model(solution) -> tuple[nn.Module, Optional[TrainConfig]]:
    if isinstance(solution, (str, os.PathLike)):
        solution = load_transfer_solution(solution)
    if isinstance(solution, Solution):
        if solution.model is None:
            raise ValueError("transfer: the source solution has no model (its file did not name a backbone); pass a "
                             "Solution whose model is a pde_kan backbone.")
        return solution.model, solution.config if isinstance(solution.config, TrainConfig) else None
    if isinstance(solution, nn.Module):
        return solution, None
    raise TypeError(f"transfer: solution must be a Solution, a results-file path or a backbone, got "
                    f"{type(solution).__name__}.")


def transfer(solution, target_problem, method: str = "lotra", config: Optional[TrainConfig] = None,
             lotra: Optional[LoTRAConfig] = None, callbacks: Iterable = (), resume: Optional[str] = None) -> Solution:
    """Fine-tune a solved model on ``target_problem`` (same family, new coefficients).

    Args:
        solution: the source :class:`~pde_kan.solvers.Solution`, the path of its ``results.h5``, or a backbone.
            Its model is never modified (every method works on a copy or a fresh model).
        target_problem: the problem to solve, e.g. ``source.with_params(coeffs=[2 * c for c in source.coeffs])``.
        method: ``"lotra"``, ``"full"``, ``"last_layer"`` or ``"scratch"`` (see the module table).
        config: the :class:`~pde_kan.solvers.TrainConfig` (default: the source run's config, else
            ``TrainConfig()``). For ``"lotra"`` its ``group_lr`` is filled with the per-component rates of
            ``lotra.lr_rule`` at ``config.lr``; entries given explicitly win.
        lotra: :class:`LoTRAConfig` for ``method="lotra"`` (default ``LoTRAConfig()``); the other methods
            ignore it, so one call site can switch methods.
        callbacks, resume: as for :func:`~pde_kan.solvers.solve`.

    Returns:
        The :class:`~pde_kan.solvers.Solution` of the fine-tuning run; ``solution.model`` is the tuned model
        (a :class:`LoTRAModel` for ``"lotra"``), ``solution.attrs["transfer"]`` records the method and counts.
    """
    prepare = lookup(TRANSFER_METHODS, "transfer method", method)
    if lotra is not None and not isinstance(lotra, LoTRAConfig):
        raise TypeError(f"transfer: lotra must be a LoTRAConfig, got {type(lotra).__name__}.")
    model, source_config = _source_model(solution)
    config = config if config is not None else (source_config or TrainConfig())
    if not isinstance(config, TrainConfig):
        raise TypeError(f"transfer: config must be a TrainConfig, got {type(config).__name__}.")
    tuned, rates = prepare(model, config, lotra)
    config = config.replace(group_lr={**rates, **config.group_lr})
    result = solve(target_problem, tuned, config, callbacks=callbacks, resume=resume)
    result.attrs["transfer"] = {
        "method": method, "trainable_parameters": int(sum(p.numel() for p in tuned.parameters() if p.requires_grad)),
        "lotra": tuned.lotra_config.to_dict() if isinstance(tuned, LoTRAModel) else None,
    }
    return result


def load_transfer_solution(path, device=None) -> Solution:
    """Read a results file written by ``Solution.save`` for any model, LoTRA-adapted ones included.

    Plain backbones go through :func:`pde_kan.solvers.load_solution`. For a :class:`LoTRAModel` (whose config
    has ``"adapter": "lotra"``) the base backbone is rebuilt from the stored config, the adapter injected with
    the stored :class:`LoTRAConfig`, and the file's weights loaded into it.
    """
    sol = load_solution(path, device=device)
    cfg = sol.attrs.get("model_config")
    if sol.model is not None or not isinstance(cfg, dict) or cfg.get("adapter") != "lotra":
        return sol
    model = inject_lotra(backbone_from_config(cfg["base"], device=device), LoTRAConfig.from_dict(cfg["lotra"]))
    with h5py.File(Path(path), "r") as f:
        state = {}
        f["model"].visititems(lambda k, v: state.__setitem__(k, torch.from_numpy(np.array(v[()])))
                              if isinstance(v, h5py.Dataset) else None)
    model.load_state_dict(state)
    sol.model = model
    return sol
