"""The frozen descriptions of a run: :class:`TrainConfig` (optimiser, schedule, guards, seed, device) and
:class:`SamplingConfig` (collocation points, derivative engine, evaluation points; PDE runs only)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .._checks import check_fields, choice, device_name, flag, number, positive_float, positive_int, resolve_dtype
from ..diff import available_engines, get_engine

OPTIMIZERS = ("adam", "adamw", "lbfgs", "adam+lbfgs")
SCHEDULES = ("constant", "cosine", "exponential", "linear", "alternating")
RESUMABLE = ("steps", "lbfgs_steps", "eval_every")  # the fields a resumed run may change
FLOAT_FIELDS = ("lr", "lbfgs_lr", "lr_final_factor", "grad_clip", "retry_lr_factor", "weight_decay")


def _replace(self, **changes: Any):
    return dataclasses.replace(self, **changes)


def _to_dict(self) -> dict[str, Any]:
    return dataclasses.asdict(self)


def _differences(self, other: Mapping[str, Any], ignore: tuple[str, ...] = RESUMABLE) -> list[str]:
    """Names of the fields whose value in ``other`` (a :meth:`to_dict`, e.g. a checkpoint's) differs from this
    config's, leaving out ``ignore`` (by default the fields a resumed run may change). Fields missing from
    ``other`` (older files) are not counted."""
    mine = self.to_dict()
    return sorted(k for k in mine if k not in ignore and k in other and other[k] != mine[k])


def _from_dict(cls, data: Mapping[str, Any]):
    """Build from a mapping (JSON, TOML); unknown keys and values of the wrong type raise naming the field
    (``{"lr": "1e-3"}`` is refused: numbers must be numbers)."""
    if not isinstance(data, Mapping):
        raise TypeError(f"{cls.__name__}.from_dict: data must be a mapping of field names to values, got "
                        f"{type(data).__name__}.")
    moved = sorted(k for k in data if k in LEGACY_SAMPLING and cls is TrainConfig)
    if moved:
        raise ValueError(f"TrainConfig: field(s) {moved} moved to SamplingConfig (TOML [sampling], --set "
                         f"sampling.F=V) as {[LEGACY_SAMPLING[k] for k in moved]}; set them there.")
    check_fields(cls, data)
    return cls(**data)


@dataclass(frozen=True)
class TrainConfig:
    """How a run optimises: everything a training run needs besides the model, the task and (for PDEs) the
    :class:`SamplingConfig`.

    Attributes:
        steps: optimisation steps (Adam steps for ``"adam+lbfgs"``).
        optimizer: ``"adam"``, ``"adamw"`` (decoupled weight decay), ``"lbfgs"`` or ``"adam+lbfgs"`` (Adam, then
            ``lbfgs_steps`` L-BFGS steps).
        lr: base learning rate; None (the default) takes the model's ``recommended_lr`` (per backbone, measured:
            docs/metakan.md), 1e-3 for a model without one. ``group_lr`` overrides it per parameter group, by the
            names of the model's ``param_groups()`` (MetaKAN's ``"hypernet"`` / ``"embeddings"``, a LoTRA model's
            per-component groups, ...). Unknown group names raise at start.
        weight_decay: the Adam / AdamW weight decay (0: none; Adam adds it to the gradient, AdamW decays the
            parameters by ``lr * weight_decay``); ``group_weight_decay`` overrides it per parameter group, named
            as in ``group_lr`` (the reference MetaKAN image script: hypernet 1e-4, embeddings 5e-4 with AdamW).
        lbfgs_steps, lbfgs_lr: the L-BFGS phase (``lbfgs``: ``steps`` L-BFGS steps).
        schedule: ``"constant"``, ``"cosine"``, ``"exponential"`` or ``"linear"``: the factor on the learning rate
            goes from 1 at step 0 to ``lr_final_factor`` at ``steps`` (``"linear"`` with ``lr_final_factor=0`` is
            the reference MetaKAN scripts' ``1 - step / steps``; only ``"exponential"`` needs it above 0).
            ``"alternating"``: factor 1 for ``schedule_period`` steps, 0 for the next ``schedule_period``, and so
            on -- what torch's ``CosineAnnealingLR(T_max=-1)`` stepped once per epoch gives (the reference MetaKAN
            image script's default ``"cos"`` on its hypernet; ``schedule_period`` = steps per epoch).
        group_schedule: the schedule of single parameter groups, overriding ``schedule`` for them (e.g.
            ``{"hypernet": "alternating"}``), named as in ``group_lr``.
        schedule_period: steps per period of ``"alternating"`` (0 when no group uses it).
        eval_every: evaluation period (steps; 0 = only at the end); it stays here (not in
            :class:`SamplingConfig`) because every task evaluates, and a resumed run may change it.
        seed: seeds the run's own generator (sampling, probes, batches); the global RNG is never touched.
        dtype, device: ``"float64"`` (PINN default) / ``"float32"``; ``"auto"`` picks CUDA when present.
        grad_clip: max gradient norm or None.
        guard_every: steps between snapshots of the last good state for the divergence guard.
        max_retries: divergence recoveries before the run stops with an error; ``retry_lr_factor``
            multiplies the learning rate at each recovery.
    """

    steps: int = 1000
    optimizer: str = "adam"
    lr: Optional[float] = None
    group_lr: Mapping[str, float] = field(default_factory=dict)
    weight_decay: float = 0.0
    group_weight_decay: Mapping[str, float] = field(default_factory=dict)
    lbfgs_steps: int = 0
    lbfgs_lr: float = 1.0
    schedule: str = "constant"
    group_schedule: Mapping[str, str] = field(default_factory=dict)
    schedule_period: int = 0
    lr_final_factor: float = 0.1
    eval_every: int = 500
    seed: int = 0
    dtype: str = "float64"
    device: str = "auto"
    grad_clip: Optional[float] = None
    guard_every: int = 20
    max_retries: int = 5
    retry_lr_factor: float = 0.5

    def __post_init__(self):
        own = "TrainConfig"
        # numbers only (a string such as "1e-3" is refused, naming the field); ints become floats once here
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, number(name, value, owner=own))
        if not isinstance(self.group_lr, Mapping):
            raise TypeError(f"{own}: group_lr must map parameter-group names to learning rates, got "
                            f"{self.group_lr!r}; e.g. group_lr={{'hypernet': 1e-3}}.")
        if not isinstance(self.group_weight_decay, Mapping):
            raise TypeError(f"{own}: group_weight_decay must map parameter-group names to weight decays, got "
                            f"{self.group_weight_decay!r}; e.g. group_weight_decay={{'embeddings': 5e-4}}.")
        for name in ("optimizer", "schedule", "dtype", "device"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{own}: {name} must be a string, got {getattr(self, name)!r} "
                                f"({type(getattr(self, name)).__name__}).")
        positive_int("steps", self.steps, minimum=0 if self.optimizer == "adam+lbfgs" else 1, owner=own)
        choice("optimizer", self.optimizer, OPTIMIZERS, owner=own)
        if self.lr is not None:
            positive_float("lr", self.lr, owner=own)
        object.__setattr__(self, "group_lr", dict(self.group_lr))
        object.__setattr__(self, "group_lr", {name: positive_float(f"group_lr[{name!r}]", value, owner=own)
                                              for name, value in self.group_lr.items()})
        positive_float("weight_decay", self.weight_decay, owner=own, allow_zero=True)
        object.__setattr__(self, "group_weight_decay", {
            name: positive_float(f"group_weight_decay[{name!r}]", value, owner=own, allow_zero=True)
            for name, value in dict(self.group_weight_decay).items()})
        positive_int("lbfgs_steps", self.lbfgs_steps, minimum=0, owner=own)
        if self.optimizer == "adam+lbfgs" and self.lbfgs_steps == 0:
            raise ValueError("TrainConfig: optimizer='adam+lbfgs' needs lbfgs_steps >= 1, got 0.")
        positive_float("lbfgs_lr", self.lbfgs_lr, owner=own)
        choice("schedule", self.schedule, SCHEDULES, owner=own)
        if not isinstance(self.group_schedule, Mapping):
            raise TypeError(f"{own}: group_schedule must map parameter-group names to schedules, got "
                            f"{self.group_schedule!r}; e.g. group_schedule={{'hypernet': 'alternating'}}.")
        object.__setattr__(self, "group_schedule", {
            name: choice(f"group_schedule[{name!r}]", value, SCHEDULES, owner=own)
            for name, value in dict(self.group_schedule).items()})
        positive_int("schedule_period", self.schedule_period, minimum=0, owner=own)
        if "alternating" in {self.schedule, *self.group_schedule.values()} and self.schedule_period < 1:
            raise ValueError(f"{own}: the 'alternating' schedule needs schedule_period >= 1 (steps per period), got "
                             f"{self.schedule_period}.")
        positive_float("lr_final_factor", self.lr_final_factor, owner=own, allow_zero=self.schedule != "exponential")
        positive_int("eval_every", self.eval_every, minimum=0, owner=own)
        positive_int("seed", self.seed, minimum=0, owner=own)
        resolve_dtype(self.dtype)
        device_name(self.device)  # the form only; whether CUDA is present is asked when a run starts
        if self.grad_clip is not None:
            positive_float("grad_clip", self.grad_clip, owner=own)
        positive_int("guard_every", self.guard_every, owner=own)
        positive_int("max_retries", self.max_retries, minimum=0, owner=own)
        positive_float("retry_lr_factor", self.retry_lr_factor, owner=own)

    @property
    def total_steps(self) -> int:
        return self.steps + (self.lbfgs_steps if self.optimizer == "adam+lbfgs" else 0)

    replace = _replace
    to_dict = _to_dict
    differences = _differences
    from_dict = classmethod(_from_dict)


@dataclass(frozen=True)
class SamplingConfig:
    """Where and how a PDE run samples: collocation points, the derivative engine and the evaluation points.

    Attributes:
        n_interior, n_boundary: collocation points per step (``n_boundary`` per soft condition), fresh every
            step when ``resample`` (else drawn once).
        boundary_weight: soft boundary loss weight; None takes the problem's default.
        engine: derivative engine, a name in :func:`pde_kan.diff.available_engines` (``"jet"``, ``"sdgd"``,
            ``"hutchinson"``, ``"autograd"``, ``"sdgd_autograd"``).
        n_probes: probe directions per point for the stochastic engines (required by them).
        n_eval: Monte-Carlo evaluation points (drawn once from ``TrainConfig.seed + 1``).
    """

    n_interior: int = 100
    n_boundary: int = 100
    boundary_weight: Optional[float] = None
    resample: bool = True
    engine: str = "jet"
    n_probes: Optional[int] = None
    n_eval: int = 20000

    def __post_init__(self):
        own = "SamplingConfig"
        if self.boundary_weight is not None:
            object.__setattr__(self, "boundary_weight", number("boundary_weight", self.boundary_weight, owner=own))
        flag("resample", self.resample, owner=own)
        if not isinstance(self.engine, str):
            raise TypeError(f"{own}: engine must be a string, got {self.engine!r} ({type(self.engine).__name__}).")
        positive_int("n_interior", self.n_interior, owner=own)
        positive_int("n_boundary", self.n_boundary, minimum=0, owner=own)
        if self.boundary_weight is not None:
            positive_float("boundary_weight", self.boundary_weight, owner=own, allow_zero=True)
        if self.engine not in available_engines():
            raise ValueError(f"{own}: unknown engine {self.engine!r}; valid names: "
                             f"{', '.join(map(repr, available_engines()))}.")
        if get_engine(self.engine).needs_probes and self.n_probes is None:
            raise ValueError(f"{own}: engine={self.engine!r} is stochastic and needs n_probes, the number of "
                             f"probe directions per point (e.g. n_probes=4).")
        if self.n_probes is not None:
            positive_int("n_probes", self.n_probes, owner=own)
        positive_int("n_eval", self.n_eval, owner=own)

    replace = _replace
    to_dict = _to_dict
    differences = _differences
    from_dict = classmethod(_from_dict)


#: The fields that moved from TrainConfig to SamplingConfig, by their old names (files written before the split).
LEGACY_SAMPLING = {"n_interior": "n_interior", "n_boundary": "n_boundary", "boundary_weight": "boundary_weight",
                   "resample": "resample", "laplacian": "engine", "k": "n_probes", "n_eval": "n_eval"}


def split_legacy(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A config dict as files written before :class:`SamplingConfig` existed hold it (sampling fields inside
    the train config, ``laplacian`` / ``k`` by their old names) -> ``(train dict, sampling dict)``."""
    train = {k: v for k, v in config.items() if k not in LEGACY_SAMPLING}
    sampling = {LEGACY_SAMPLING[k]: v for k, v in config.items() if k in LEGACY_SAMPLING}
    return train, sampling
