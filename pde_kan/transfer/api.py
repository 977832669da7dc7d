"""``transfer()``: adapt a solved problem to new coefficients — LoTRA, full, last-layer or from scratch.

Every method runs through the same :func:`pde_kan.solvers.solve` (one Trainer), so their histories, metrics and
results files compare directly. Methods live in a registry, each with its own default learning rate
(:data:`METHOD_RATES`, :func:`default_lr`; measured in ``benchmarks/transfer.py``, see docs/transfer.md):

==============  =================================================  ==========================================
method          trainable                                          default learning rate
==============  =================================================  ==========================================
``lotra``       LoTRA deltas (core + 3 factors per targeted        3e-2 as the base rate of the per-component
                layer), base frozen                                rule (the factors are orthonormal, so the
                                                                   rate does not depend on the source's)
``full``        every parameter of a copy of the source model      0.3 x the source run's rate
``last_layer``  the last layer of a copy, the rest frozen          3 x the source run's rate
``scratch``     a freshly initialised model of the same            3 x the source run's rate
                architecture
==============  =================================================  ==========================================
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Union

from torch import nn

from .._checks import lookup, positive_float
from ..nn import backbone_from_config, n_parameters
from ..solvers import Solution, TrainConfig, load_solution, solve
from ..solvers.trainer import resolve_lr
from .config import LoTRAConfig
from .io import read_adapter
from .model import LoTRAModel, inject_lotra


def _base_of(model: nn.Module) -> nn.Module:
    if isinstance(model, LoTRAModel):
        raise TypeError("transfer: the source model carries LoTRA adapters; pass model.merge_and_unload() or the "
                        "original base solution.")
    return model


def _prepare_lotra(model, lotra: Optional[LoTRAConfig]) -> nn.Module:
    return inject_lotra(copy.deepcopy(_base_of(model)), lotra)


def _prepare_full(model, lotra) -> nn.Module:  # lotra is ignored by every method but "lotra"
    tuned = copy.deepcopy(_base_of(model))
    tuned.requires_grad_(True)
    return tuned


def _prepare_last_layer(model, lotra) -> nn.Module:
    tuned = copy.deepcopy(_base_of(model))
    tuned.requires_grad_(False)
    tuned.layers[-1].requires_grad_(True)
    return tuned


def _prepare_scratch(model, lotra) -> nn.Module:
    cfg = getattr(_base_of(model), "config", None)
    if not isinstance(cfg, dict) or "backbone" not in cfg:
        raise TypeError(f"transfer(method='scratch'): the source model must be a pde_kan backbone with a config, got "
                        f"{type(model).__name__}.")
    return backbone_from_config(cfg)


@dataclass(frozen=True)
class MethodRate:
    """A method's default learning rate: ``absolute``, or ``relative`` times the source run's rate."""

    absolute: Optional[float] = None
    relative: Optional[float] = None

    def resolve(self, source_lr: float) -> float:
        return self.absolute if self.absolute is not None else self.relative * source_lr


# measured on Poisson two-body d = 10 (KAN [10, 32, 32, 1] pretrained at 1e-2, 50 / 150 / 500 fine-tuning steps,
# exponential decay to 0.1x; rates chosen on the training loss, not on the error): benchmarks/transfer.py
METHOD_RATES: dict[str, MethodRate] = {
    "lotra": MethodRate(absolute=3e-2),
    "full": MethodRate(relative=0.3),
    "last_layer": MethodRate(relative=3.0),
    "scratch": MethodRate(relative=3.0),
}
# the source rate assumed when none is known: the one METHOD_RATES were measured against
FALLBACK_SOURCE_LR = 1e-2


def default_lr(method: str, source_lr: Optional[float] = None) -> float:
    """The default learning rate of ``method`` (:data:`METHOD_RATES`) for a source trained at ``source_lr``.

    Args:
        method: a name in :data:`TRANSFER_METHODS`.
        source_lr: the source run's (peak) learning rate; None assumes :data:`FALLBACK_SOURCE_LR` (1e-2).
    """
    rate = lookup(METHOD_RATES, "transfer method", method)
    src = FALLBACK_SOURCE_LR if source_lr is None else positive_float("source_lr", source_lr, owner="default_lr")
    return rate.resolve(src)


#: method name -> ``prepare(source model, lotra) -> the model to train`` (a copy or a fresh model, never the source)
TRANSFER_METHODS: dict[str, Callable[[nn.Module, Optional[LoTRAConfig]], nn.Module]] = {
    "lotra": _prepare_lotra,
    "full": _prepare_full,
    "last_layer": _prepare_last_layer,
    "scratch": _prepare_scratch,
}


_SOURCE_KINDS = "a Solution, a results-file path or a backbone"


def _source_model(source) -> tuple[nn.Module, Optional[TrainConfig]]:
    if isinstance(source, (str, os.PathLike)):
        source = load_solution(source)
    if isinstance(source, Solution):
        if source.model is None:
            raise ValueError("transfer: the source solution has no model (its file did not name a backbone); pass a "
                             "Solution whose model is a pde_kan backbone.")
        return source.model, source.config if isinstance(source.config, TrainConfig) else None
    if isinstance(source, nn.Module):
        return source, None
    raise TypeError(f"transfer: source must be {_SOURCE_KINDS}, got {type(source).__name__}.")


def _check_order(problem, source) -> None:
    """Refuse the old order ``transfer(solution, target_problem, ...)`` with a TypeError that names the new one."""
    if isinstance(problem, (Solution, nn.Module, str, os.PathLike)):
        raise TypeError(f"transfer: the first argument is the problem to solve and the second the trained source "
                        f"({_SOURCE_KINDS}), got a {type(problem).__name__} first and a {type(source).__name__} "
                        f"second; call transfer(problem, source, method=...) (the order changed from "
                        f"transfer(solution, target, ...)).")


def transfer(problem, source, *, method: str = "lotra", config: Optional[TrainConfig] = None,
             lotra: Optional[LoTRAConfig] = None, callbacks: Iterable = (), resume: Optional[str] = None,
             lr: Union[float, str, None] = None, warm_start=None, sampling=None) -> Solution:
    """Fine-tune a solved model on ``problem`` (same family, new coefficients).

    Args:
        problem: the problem to solve, e.g. ``source.problem.with_params(coeffs=[2 * c for c in ...])``.
        source: the trained :class:`~pde_kan.solvers.Solution`, the path of its ``results.h5``, or a backbone.
            Its model is never modified (every method works on a copy or a fresh model).
        method: ``"lotra"``, ``"full"``, ``"last_layer"`` or ``"scratch"`` (see the module table).
        config: the :class:`~pde_kan.solvers.TrainConfig` (default: the source run's config, else
            ``TrainConfig()``). For ``"lotra"`` its ``group_lr`` is filled with the per-component rates of
            ``lotra.lr_rule`` at the base rate (:meth:`LoTRAModel.group_lr`); entries given explicitly win.
        lotra: :class:`LoTRAConfig` for ``method="lotra"`` (default ``LoTRAConfig()``: ranks chosen from the
            layer shapes within 15 % of full fine-tuning's parameters, base weights adapted); the other
            methods ignore it, so one call site can switch methods.
        callbacks, resume: as for :func:`~pde_kan.solvers.solve`.
        sampling: the :class:`~pde_kan.solvers.SamplingConfig` (default: the source run's, else
            ``SamplingConfig()``).
        lr: the learning rate (LoTRA: the base rate of its rule); ``"default"``: the method's default
            (:func:`default_lr` for the source run's rate) even when ``config`` is given; None: ``config.lr``
            when ``config`` is given, else ``"default"``.
        warm_start: ``method="lotra"`` only: adapter tensors to start from instead of a zero core — a
            ``{name: tensor}`` mapping from :meth:`LoTRAModel.adapter_state` or an adapter directory written
            by :meth:`LoTRAModel.save_adapter` — trained on the same base with the same :class:`LoTRAConfig`
            (e.g. the adapter of the nearest coefficients, see :class:`~pde_kan.transfer.AdapterBank`).

    Returns:
        The :class:`~pde_kan.solvers.Solution` of the fine-tuning run; ``solution.model`` is the tuned model
        (a :class:`LoTRAModel` for ``"lotra"``), ``solution.attrs["transfer"]`` records the method, counts
        and the learning rate with where it came from (``"argument"``, ``"config"`` or ``"default"``).

    Raises:
        TypeError: arguments in the old order ``transfer(solution, target)``, or of the wrong type.
    """
    _check_order(problem, source)
    prepare = lookup(TRANSFER_METHODS, "transfer method", method)
    if lotra is not None and not isinstance(lotra, LoTRAConfig):
        raise TypeError(f"transfer: lotra must be a LoTRAConfig, got {type(lotra).__name__}.")
    if warm_start is not None and method != "lotra":
        raise ValueError(f"transfer: warm_start applies to method='lotra' only, got method={method!r}; drop "
                         f"warm_start or use method='lotra'.")
    if isinstance(source, (str, os.PathLike)):  # read once: the model, and the source run's sampling
        source = load_solution(source)
    model, source_config = _source_model(source)
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"transfer: config must be a TrainConfig, got {type(config).__name__}.")
    if isinstance(lr, str) and lr != "default":
        raise ValueError(f"transfer: lr must be a positive number, 'default' or None, got {lr!r}.")
    if lr is not None and lr != "default":
        lr, lr_from = positive_float("lr", lr, owner="transfer"), "argument"
    elif config is not None and lr is None and config.lr is not None:
        lr, lr_from = config.lr, "config"
    else:  # relative to the rate the source trained at (its config's, else its backbone's recommended rate)
        lr, lr_from = default_lr(method, resolve_lr(model, source_config or TrainConfig())), "default"
    config = config if config is not None else (source_config or TrainConfig())
    config = config.replace(lr=lr)
    tuned = prepare(model, lotra)
    if warm_start is not None:
        _load_warm_start(tuned, warm_start)
    if isinstance(tuned, LoTRAModel):
        config = config.replace(group_lr={**tuned.group_lr(lr), **config.group_lr})
    if sampling is None and isinstance(source, Solution):
        sampling = source.sampling
    result = solve(problem, tuned, config, sampling, callbacks=callbacks, resume=resume)
    result.attrs["transfer"] = {
        "method": method, "trainable_parameters": n_parameters(tuned),
        "lotra": tuned.lotra_config.to_dict() if isinstance(tuned, LoTRAModel) else None,
        "lr": lr, "lr_from": lr_from, "warm_start": warm_start is not None,
    }
    return result


def _load_warm_start(model: LoTRAModel, warm_start) -> None:
    if isinstance(warm_start, (str, os.PathLike)):
        meta, state = read_adapter(warm_start)
        if meta["base_hash"] != model.base_hash:
            raise ValueError(f"transfer: warm_start adapter {str(warm_start)!r} was trained on different base "
                             f"weights; pass an adapter of this source model.")
    elif isinstance(warm_start, dict):
        state = warm_start
    else:
        raise TypeError(f"transfer: warm_start must be an adapter directory or a {{name: tensor}} mapping, got "
                        f"{type(warm_start).__name__}.")
    model.load_adapter_state(state)
