"""TrainConfig: the frozen description of one training run."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .._checks import check_fields, choice, device_name, flag, number, positive_float, positive_int, resolve_dtype
from ..diff import METHODS
from ..diff.engines import STOCHASTIC_METHODS

OPTIMIZERS = ("adam", "lbfgs", "adam+lbfgs")
SCHEDULES = ("constant", "cosine", "exponential", "linear")
RESUMABLE = ("steps", "lbfgs_steps", "eval_every")  # the fields a resumed run may change
FLOAT_FIELDS = ("lr", "lbfgs_lr", "lr_final_factor", "boundary_weight", "grad_clip", "retry_lr_factor")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the model and the task.

    Attributes:
        steps: optimisation steps (Adam steps for ``"adam+lbfgs"``).
        optimizer: ``"adam"``, ``"lbfgs"`` or ``"adam+lbfgs"`` (Adam, then ``lbfgs_steps`` L-BFGS steps).
        lr: base learning rate; None (the default) takes the model's ``recommended_lr`` (per backbone, measured:
            docs/metakan.md), 1e-3 for a model without one. ``group_lr`` overrides it per parameter group (MetaKAN's ``"hypernet"`` /
            ``"embeddings"``, LoTRA's ``"core"``/``"factor_out"``, ...). Unknown group names raise at start.
        lbfgs_steps, lbfgs_lr: the L-BFGS phase (``lbfgs``: ``steps`` L-BFGS steps).
        schedule: ``"constant"``, ``"cosine"``, ``"exponential"`` or ``"linear"``: the factor on the learning rate
            goes from 1 at step 0 to ``lr_final_factor`` at ``steps`` (``"linear"`` with ``lr_final_factor=0`` is
            the reference MetaKAN scripts' ``1 - step / steps``; only ``"exponential"`` needs it above 0).
        n_interior, n_boundary: collocation points per step, fresh every step when ``resample``.
        boundary_weight: soft boundary loss weight; None takes the problem's default.
        laplacian: derivative engine (``"jet"``, ``"sdgd"``, ``"hutchinson"``, ``"autograd"``, ...).
        k: probe directions for stochastic engines.
        eval_every, n_eval: evaluation period (steps; 0 = only at the end) and Monte-Carlo test points.
        seed: seeds the run's own generator (sampling, probes); the global RNG is never touched.
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
    lbfgs_steps: int = 0
    lbfgs_lr: float = 1.0
    schedule: str = "constant"
    lr_final_factor: float = 0.1
    n_interior: int = 100
    n_boundary: int = 100
    boundary_weight: Optional[float] = None
    resample: bool = True
    laplacian: str = "jet"
    k: Optional[int] = None
    eval_every: int = 500
    n_eval: int = 20000
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
        flag("resample", self.resample, owner=own)
        for name in ("optimizer", "schedule", "laplacian", "dtype", "device"):
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
        positive_int("lbfgs_steps", self.lbfgs_steps, minimum=0, owner=own)
        if self.optimizer == "adam+lbfgs" and self.lbfgs_steps == 0:
            raise ValueError("TrainConfig: optimizer='adam+lbfgs' needs lbfgs_steps >= 1, got 0.")
        positive_float("lbfgs_lr", self.lbfgs_lr, owner=own)
        choice("schedule", self.schedule, SCHEDULES, owner=own)
        positive_float("lr_final_factor", self.lr_final_factor, owner=own, allow_zero=self.schedule != "exponential")
        positive_int("n_interior", self.n_interior, owner=own)
        positive_int("n_boundary", self.n_boundary, minimum=0, owner=own)
        if self.boundary_weight is not None:
            positive_float("boundary_weight", self.boundary_weight, owner=own, allow_zero=True)
        if self.laplacian not in METHODS:
            raise ValueError(f"TrainConfig: unknown laplacian {self.laplacian!r}; valid names: "
                             f"{', '.join(map(repr, METHODS))}.")
        if self.laplacian in STOCHASTIC_METHODS and self.k is None:
            raise ValueError(f"TrainConfig: laplacian={self.laplacian!r} is stochastic and needs k, the number "
                             f"of probe directions per point (e.g. k=4).")
        if self.k is not None:
            positive_int("k", self.k, owner=own)
        positive_int("eval_every", self.eval_every, minimum=0, owner=own)
        positive_int("n_eval", self.n_eval, owner=own)
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

    def replace(self, **changes: Any) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, other: Mapping[str, Any], ignore: tuple[str, ...] = RESUMABLE) -> list[str]:
        """Names of the fields whose value in ``other`` (a :meth:`to_dict`, e.g. a checkpoint's) differs from
        this config's, leaving out ``ignore`` (by default the fields a resumed run may change). Fields missing
        from ``other`` (older files) are not counted."""
        mine = self.to_dict()
        return sorted(k for k in mine if k not in ignore and k in other and other[k] != mine[k])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TrainConfig":
        """Build from a mapping (JSON, TOML); unknown keys and values of the wrong type raise naming the field
        (``{"lr": "1e-3"}`` is refused: numbers must be numbers)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"TrainConfig.from_dict: data must be a mapping of field names to values, got "
                            f"{type(data).__name__}.")
        check_fields(cls, data)
        return cls(**data)
