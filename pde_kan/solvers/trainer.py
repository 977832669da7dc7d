"""The one training loop of pde_kan, and the verbs built on it: :func:`fit` and :func:`solve`."""
from __future__ import annotations

import copy
import logging
import math
import time
from typing import Any, Iterable, Optional, Sequence

import torch

from .._checks import resolve_device, resolve_dtype
from ..nn import n_parameters, optimizer_groups
from ..nn._legacy import upgrade_state_dict
from ._runtime import peak_memory_mb, reset_peak_memory, stop_on_interrupt
from .callbacks import Callback
from .checkpoint import load_checkpoint, save_checkpoint
from .config import SamplingConfig, TrainConfig, split_legacy
from .results import Solution
from .tasks import PDETask, Task

log = logging.getLogger("pde_kan")


class DivergenceError(RuntimeError):
    """Raised when the loss stays non-finite after ``max_retries`` recoveries."""


#: Base learning rate for a model that recommends none (a plain ``torch.nn.Module``).
FALLBACK_LR = 1e-3


def resolve_lr(model: torch.nn.Module, config: TrainConfig) -> float:
    """The run's base learning rate: ``config.lr`` when given, else the model's ``recommended_lr`` (every
    backbone has one, measured for PINN training with Adam; see docs/metakan.md), else :data:`FALLBACK_LR`."""
    if config.lr is not None:
        return config.lr
    return float(getattr(model, "recommended_lr", FALLBACK_LR))


def _problem_params(task) -> Optional[dict]:
    """What a checkpoint records of the task's problem(s) so that a resume of another problem is refused: the
    task's own ``problem_params()`` where it has one (a family task: every set), else its problem's params."""
    own = getattr(task, "problem_params", None)
    if callable(own):
        return own()
    problem = getattr(task, "problem", None)
    return problem.params() if hasattr(problem, "params") else None


def resume_mismatches(state: dict, config: TrainConfig, model_config: Optional[dict] = None,
                      problem_params: Optional[dict] = None, sampling: Optional[SamplingConfig] = None,
                      defaults: Optional[dict] = None) -> list[str]:
    """The settings in which a checkpoint ``state`` differs from the run about to resume from it, as
    ``"train.lr"``, ``"sampling.n_interior"``, ``"model.widths"``, ``"problem.coeffs"``, ... (empty when they
    agree). Only ``steps``, ``lbfgs_steps`` and ``eval_every`` may change; what a checkpoint does not record
    (older files) is not compared — except a model or problem setting that did not exist when the checkpoint was
    written: the run then had that setting's default, so it differs unless the run about to resume has it too
    (``defaults``: ``{"model": {key: default}, "problem": {...}}``, see :func:`setting_defaults`; a setting
    without a known default differs)."""
    differ = [f"train.{k}" for k in config.differences(dict(state.get("config") or {}))]
    if sampling is not None:
        differ += [f"sampling.{k}" for k in sampling.differences(saved_sampling(state))]
    defaults = defaults or {}
    for section, saved, mine in (("model", state.get("model_config"), model_config),
                                 ("problem", state.get("problem"), problem_params)):
        if isinstance(saved, dict) and isinstance(mine, dict):
            known = defaults.get(section) or {}
            for k in sorted(set(saved) | set(mine)):
                if k not in saved and k in known and known[k] == mine[k]:
                    continue  # a newer setting at the default the older run had
                if saved.get(k) != mine.get(k):
                    differ.append(f"{section}.{k}")
    return differ


def setting_defaults(obj) -> dict[str, Any]:
    """The constructor defaults of a model (``{keyword: default}``) or a dataclass problem (``{field: default}``),
    as JSON values (tuples as lists): what a run had for a setting its checkpoint predates."""
    import dataclasses
    import inspect

    from ..problems.base import jsonable

    if dataclasses.is_dataclass(obj):
        return {f.name: jsonable(f.default) for f in dataclasses.fields(obj) if f.default is not dataclasses.MISSING}
    params = inspect.signature(type(obj)).parameters.values()
    return {p.name: jsonable(p.default) for p in params if p.default is not inspect.Parameter.empty}


def saved_sampling(state: dict) -> dict:
    """The sampling settings a checkpoint records: its ``"sampling"`` entry, or for checkpoints written before
    :class:`SamplingConfig` the sampling fields of its train config (by their new names)."""
    if isinstance(state.get("sampling"), dict):
        return dict(state["sampling"])
    return split_legacy(dict(state.get("config") or {}))[1]


def _groups(model: torch.nn.Module) -> dict[str, list[torch.nn.Parameter]]:
    if hasattr(model, "param_groups"):
        return model.param_groups()
    return {"default": [p for p in model.parameters() if p.requires_grad]}


class Trainer:
    """Optimise ``model`` on ``task`` as ``config`` says.

    The loop: draw a batch from the run's generator, evaluate the loss (one closure for Adam and L-BFGS),
    back-propagate, optionally all-reduce gradients across ranks and clip them, step. A non-finite loss
    or gradient restores the last good snapshot (taken every ``guard_every`` steps), multiplies the
    learning rate by ``retry_lr_factor`` and goes on; after ``max_retries`` recoveries it raises
    :class:`DivergenceError`. Every piece of state (model, optimiser, generator, step, history, learning-rate
    scale) is in :meth:`state_dict`, so a resumed run continues bit-identically on CPU.

    Args:
        model: any ``torch.nn.Module``; moved to ``config.device`` / ``config.dtype`` in place.
        task: a :class:`~pde_kan.solvers.tasks.PDETask`, :class:`SupervisedTask` or anything with
            ``prepare``/``batch``/``loss``/``evaluate``.
        config: the :class:`TrainConfig`.
        callbacks: :class:`~pde_kan.solvers.callbacks.Callback` instances.
        distributed: optional :class:`~pde_kan.solvers.distributed.DistributedContext` (per-rank sampling
            seed, gradient all-reduce, rank-0 side effects).
    """

    def __init__(self, model: torch.nn.Module, task: Task, config: TrainConfig,
                 callbacks: Sequence[Callback] = (), distributed: Any = None):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}.")
        self.config = config
        self.dtype = resolve_dtype(config.dtype)
        self.device = resolve_device(config.device)
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.sampling: Optional[SamplingConfig] = getattr(task, "sampling", None)  # the run's, not a rank's shard
        # under a DistributedContext each rank draws its shard of every batch and evaluation is gathered
        self.task = distributed.shard_task(task) if hasattr(distributed, "shard_task") else task
        self.task.prepare(self.dtype, self.device)
        self.distributed = distributed
        seed = config.seed if distributed is None else distributed.rank_seed(config.seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.callbacks = list(callbacks)
        self.groups = _groups(model)
        self.lr = resolve_lr(model, config)
        # models with their own per-group rule (LoTRA's per-component rates) supply it unless the config does
        self.group_lr = dict(config.group_lr)
        if not self.group_lr and callable(getattr(model, "group_lr", None)):
            self.group_lr = dict(model.group_lr(self.lr))
        for field_name, named in (("group_lr", self.group_lr), ("group_weight_decay", config.group_weight_decay),
                                  ("group_schedule", config.group_schedule)):
            unknown = sorted(set(named) - set(self.groups))
            if unknown:
                raise ValueError(f"TrainConfig.{field_name} names unknown parameter group(s) {unknown}; this model "
                                 f"has groups {sorted(self.groups)}.")
        if not any(self.groups.values()):
            raise ValueError("the model has no trainable parameters; unfreeze some or check the adapter.")
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.lr_scale = 1.0
        self.recoveries: list[int] = []
        self.stop_reason: Optional[str] = None
        self.phase = self._phase(0)
        self.optimizer = self._make_optimizer(self.phase)
        self._good: Optional[dict] = None
        self.last_metrics: dict[str, float] = {}
        self.seconds = 0.0

    # --- optimiser ------------------------------------------------------------------------------------
    def _phase(self, step: int) -> str:
        c = self.config
        if c.optimizer == "lbfgs" or (c.optimizer == "adam+lbfgs" and step >= c.steps):
            return "lbfgs"
        return "adam"

    def _make_optimizer(self, phase: str) -> torch.optim.Optimizer:
        c = self.config
        if phase == "lbfgs":
            params = [p for ps in self.groups.values() for p in ps]
            return torch.optim.LBFGS(params, lr=c.lbfgs_lr, max_iter=20, history_size=50,
                                     line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)
        groups = optimizer_groups(self.groups, self.lr, self.group_lr)
        for g in groups:
            g["weight_decay"] = c.group_weight_decay.get(g["name"], c.weight_decay)
        return (torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam)(groups)

    def _schedule(self, step: int, group: Optional[str] = None) -> float:
        c = self.config
        schedule = c.group_schedule.get(group, c.schedule)
        t = min(step / max(c.steps, 1), 1.0)
        if schedule == "alternating":
            return 1.0 if (step // c.schedule_period) % 2 == 0 else 0.0
        if schedule == "cosine":
            return c.lr_final_factor + (1 - c.lr_final_factor) * 0.5 * (1 + math.cos(math.pi * t))
        if schedule == "exponential":
            return c.lr_final_factor ** t
        if schedule == "linear":
            return 1.0 - (1.0 - c.lr_final_factor) * t
        return 1.0

    def _set_lr(self) -> None:
        c = self.config
        if self.phase == "lbfgs":
            for g in self.optimizer.param_groups:
                g["lr"] = c.lbfgs_lr * self.lr_scale
            return
        for g in self.optimizer.param_groups:
            g["lr"] = self.group_lr.get(g["name"], self.lr) * self._schedule(self.step, g["name"]) * self.lr_scale

    # --- state ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "phase": self.phase,
            "generator": self.generator.get_state(),
            "step": self.step,
            "history": list(self.history),
            "lr_scale": self.lr_scale,
            "recoveries": list(self.recoveries),
            "config": self.config.to_dict(),
            "sampling": self.sampling.to_dict() if self.sampling is not None else None,
            "model_config": getattr(self.model, "config", None),
            "problem": _problem_params(self.task),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(upgrade_state_dict(state["model"], self.model.state_dict().keys()))
        self.phase = state["phase"]
        self.optimizer = self._make_optimizer(self.phase)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        self.lr_scale = float(state["lr_scale"])
        self.recoveries = list(state["recoveries"])

    def save_checkpoint(self, path) -> None:
        if self.distributed is None or self.distributed.is_main:
            save_checkpoint(path, self.state_dict())

    def resume(self, path) -> "Trainer":
        """Continue from a checkpoint written by :meth:`save_checkpoint` (config must match the run's)."""
        state = load_checkpoint(path, map_location=self.device)
        # the architecture is checked by load_state_dict below (its message names the first mismatching tensor)
        differ = resume_mismatches(state, self.config, problem_params=_problem_params(self.task),
                                   sampling=self.sampling)
        if differ:
            raise ValueError(f"checkpoint {str(path)!r} was written with a different config for {differ}; resume "
                             f"with the same settings (only steps / lbfgs_steps / eval_every may change).")
        try:
            self.load_state_dict(state)
        except RuntimeError as e:
            raise ValueError(f"checkpoint {str(path)!r} does not fit this model: {str(e).splitlines()[0]}") from None
        return self

    def _snapshot(self) -> None:
        self._good = copy.deepcopy({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                                    "phase": self.phase, "step": self.step, "n_history": len(self.history)})

    def _recover(self, why: str) -> None:
        self.recoveries.append(self.step)
        if len(self.recoveries) > self.config.max_retries:
            raise DivergenceError(
                f"training diverged: {why} at step {self.step}, still after {self.config.max_retries} recoveries "
                f"(learning rate scaled down to {self.lr_scale:.3g}x). Lower lr, set grad_clip, or check the "
                f"problem's data.")
        good = self._good
        self.model.load_state_dict(good["model"])
        self.phase = good["phase"]
        self.optimizer = self._make_optimizer(self.phase)
        self.optimizer.load_state_dict(copy.deepcopy(good["optimizer"]))
        self.step = good["step"]
        del self.history[good["n_history"]:]
        self.lr_scale *= self.config.retry_lr_factor
        log.warning("%s at step %d: restored step %d, learning rate scale now %.3g", why, self.recoveries[-1],
                    self.step, self.lr_scale)

    # --- the loop -------------------------------------------------------------------------------------
    def _closure(self, batch, logs: dict):
        params = [p for g in self.optimizer.param_groups for p in g["params"]]

        def closure():
            self.optimizer.zero_grad(set_to_none=True)
            loss, extra = self.task.loss(self.model, batch)
            loss.backward()
            if self.distributed is not None:
                loss = self.distributed.all_reduce_gradients(params, loss)
            if self.config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(params, self.config.grad_clip)
            logs.update(extra)
            logs["loss"] = float(loss.detach())
            return loss

        return closure

    def _evaluate(self) -> dict[str, float]:
        self.model.eval()
        try:
            metrics = self.task.evaluate(self.model)
        finally:
            self.model.train()
        self.last_metrics = metrics
        for cb in self.callbacks:
            cb.on_eval(self, metrics)
        return metrics

    def fit(self) -> "Trainer":
        """Run until ``total_steps`` (or a callback's stop); returns self."""
        c = self.config
        for cb in self.callbacks:
            cb.on_start(self)
        reset_peak_memory(self.device)
        start = time.perf_counter()
        self._snapshot()
        evaluated_at = -1
        try:
            with stop_on_interrupt(self):
                while self.step < self.config.total_steps and self.stop_reason is None:
                    phase = self._phase(self.step)
                    if phase != self.phase:
                        self.phase = phase
                        self.optimizer = self._make_optimizer(phase)
                    self._set_lr()
                    batch = self.task.batch(self.step, self.generator, self.dtype, self.device)
                    logs: dict[str, float] = {}
                    closure = self._closure(batch, logs)
                    if self.phase == "lbfgs":
                        self.optimizer.step(closure)
                        ok = math.isfinite(logs.get("loss", math.nan)) and all(
                            torch.isfinite(p).all() for g in self.optimizer.param_groups for p in g["params"])
                    else:
                        closure()
                        ok = math.isfinite(logs["loss"]) and all(
                            p.grad is None or torch.isfinite(p.grad).all()
                            for g in self.optimizer.param_groups for p in g["params"])
                        if ok:
                            self.optimizer.step()
                    if not ok:
                        self._recover("non-finite loss or gradient")
                        continue
                    self.step += 1
                    row = {"step": self.step, **logs, "lr_scale": self.lr_scale}
                    if (c.eval_every and self.step % c.eval_every == 0) or self.step == self.config.total_steps:
                        row.update(self._evaluate())
                        evaluated_at = self.step
                    self.history.append(row)
                    if self.step % c.guard_every == 0:
                        self._snapshot()
                    for cb in self.callbacks:
                        cb.on_step(self, row)
            if evaluated_at != self.step:
                metrics = self._evaluate()
                if self.history:
                    self.history[-1].update(metrics)
        finally:
            self.seconds += time.perf_counter() - start
            for cb in self.callbacks:
                cb.on_end(self)
        return self

    def summary(self, steps_run: int) -> dict[str, float]:
        n = n_parameters(self.model)
        return {**self.last_metrics, "seconds": self.seconds, "steps": self.step, "lr": self.lr,
                "steps_per_second": steps_run / self.seconds if self.seconds > 0 else float("nan"),
                "peak_memory_mb": peak_memory_mb(self.device), "trainable_parameters": n,
                "recoveries": len(self.recoveries)}


def _check_order(verb: str, first: str, first_value, model) -> None:
    """Refuse the verbs' old argument order (``fit(model, task, ...)``) with a TypeError naming the order."""
    if isinstance(first_value, torch.nn.Module) and not isinstance(model, torch.nn.Module):
        raise TypeError(f"{verb}: the first argument is the {first} and the second the model, got a "
                        f"{type(first_value).__name__} model first and a {type(model).__name__} second; call "
                        f"{verb}({first}, model, config) (the order changed from {verb}(model, {first}, ...)).")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{verb}: model must be a torch.nn.Module (a pde_kan backbone), got "
                        f"{type(model).__name__}; call {verb}({first}, model, config).")


def fit(task: Task, model: torch.nn.Module, config: Optional[TrainConfig] = None, *,
        callbacks: Iterable[Callback] = (), resume: Optional[str] = None, distributed: Any = None) -> Solution:
    """Train ``model`` on ``task`` with the one loop; returns a :class:`Solution`.

    Args:
        task: a :class:`~pde_kan.solvers.tasks.SupervisedTask`, a :class:`PDETask` or anything with
            ``prepare`` / ``batch`` / ``loss`` / ``evaluate``; a task with ``check_inputs(model)`` has its data
            checked once here (shapes, finite values), not at every forward.
        model: any ``torch.nn.Module``.
        config: :class:`TrainConfig` (default ``TrainConfig()``).
        callbacks, resume, distributed: as for :func:`solve`.
    """
    _check_order("fit", "task", task, model)
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"fit: config must be a TrainConfig, got {type(config).__name__}; build one with "
                        f"TrainConfig(steps=...) or TrainConfig.from_dict(...).")
    if callable(getattr(task, "check_inputs", None)):
        task.check_inputs(model)
    trainer = Trainer(model, task, config, list(callbacks), distributed=distributed)
    if resume is not None:
        trainer.resume(resume)
    first = trainer.step
    trainer.fit()
    return Solution(model=trainer.model, config=config, history=trainer.history,
                    metrics=trainer.summary(trainer.step - first), task=task, stop_reason=trainer.stop_reason,
                    sampling=trainer.sampling)


def solve(problem, model: torch.nn.Module, config: Optional[TrainConfig] = None,
          sampling: Optional[SamplingConfig] = None, *, callbacks: Iterable[Callback] = (),
          resume: Optional[str] = None, distributed: Any = None) -> Solution:
    """Solve ``problem`` with a physics-informed loss on ``model``; returns a :class:`Solution`.

    Args:
        problem: a :mod:`pde_kan.problems` problem (its ``dim`` must equal the model's input width).
        model: a backbone (or LoTRA-adapted backbone) with one output.
        config: :class:`TrainConfig`, how to optimise (default ``TrainConfig()``).
        sampling: :class:`SamplingConfig`, collocation points, derivative engine and evaluation points (default
            ``SamplingConfig()``).
        callbacks: e.g. ``[ProgressBar(), Checkpoint("runs/x/checkpoints")]``.
        resume: path of a checkpoint to continue from (its train and sampling settings must match).
        distributed: a :class:`~pde_kan.solvers.distributed.DistributedContext` under torchrun.
    """
    _check_order("solve", "problem", problem, model)
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"solve: config must be a TrainConfig, got {type(config).__name__}; build one with "
                        f"TrainConfig(steps=...) or TrainConfig.from_dict(...).")
    sampling = SamplingConfig() if sampling is None else sampling
    if not isinstance(sampling, SamplingConfig):
        raise TypeError(f"solve: sampling must be a SamplingConfig, got {type(sampling).__name__}; build one with "
                        f"SamplingConfig(n_interior=...) or pass callbacks=... by keyword.")
    problem.check_model(model)
    return fit(PDETask(problem, sampling, seed=config.seed), model, config, callbacks=callbacks, resume=resume,
               distributed=distributed)
