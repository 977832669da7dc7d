"""Tasks: what the one :class:`~pde_kan.solvers.Trainer` optimises.

A task draws a batch for a step, turns (model, batch) into a scalar loss and evaluates the model. The PDE task
wraps a problem; the supervised task wraps a data set (function fitting, image classification). Both run
through the same loop, optimisers, guards, checkpoints and callbacks.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol

import torch
from torch.nn import functional as F

from .._checks import check_finite, choice, positive_int
from ..diff import Derivatives, ball_ansatz_derivatives
from .config import SamplingConfig


class Task(Protocol):
    def prepare(self, dtype: torch.dtype, device: torch.device) -> None: ...

    def batch(self, step: int, generator: torch.Generator, dtype: torch.dtype, device: torch.device) -> Any: ...

    def loss(self, model: torch.nn.Module, batch: Any) -> tuple[torch.Tensor, dict[str, float]]: ...

    def evaluate(self, model: torch.nn.Module) -> dict[str, float]: ...


EVAL_CHUNK = 4096  # points per forward pass at evaluation; Solution.predict uses the same to match bit for bit


def eval_chunks(model, x: torch.Tensor, chunk: int = EVAL_CHUNK) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])


def error_metrics(pred: torch.Tensor, exact: torch.Tensor) -> dict[str, float]:
    """Relative L2 / L1 and max absolute error of ``pred`` against ``exact`` (both ``(N,)``)."""
    err = pred - exact
    return {
        "rel_l2": float(err.norm() / exact.norm().clamp_min(1e-300)),
        "rel_l1": float(err.abs().sum() / exact.abs().sum().clamp_min(1e-300)),
        "max_abs": float(err.abs().max()),
    }


class PDETask:
    """Physics-informed loss ``mean(r^2) + w_b sum_c w_c mean(r_c^2)`` on fresh collocation points every step.

    ``r`` is the problem's residual on ``n_interior`` interior points; each soft condition ``c`` (the built-in
    problems' boundary loss ``"bc"``, a :class:`~pde_kan.problems.PDE`'s Dirichlet / Neumann / Robin / periodic /
    initial conditions) adds its mean squared residual on ``n_boundary`` points of its own, weighted by its
    relative weight ``w_c`` times ``w_b`` (``sampling.boundary_weight``, else the problem's). Derivatives come
    from the problem (forward jets, the configured engine, autograd only where needed).

    Evaluation uses ``n_eval`` Monte-Carlo points from the problem's interior sampler, drawn once from a
    generator seeded ``seed + 1`` (``seed`` is the run's ``TrainConfig.seed``; never a grid in high dimension),
    or the problem's reference data. Without
    exact values the metrics are the residual and condition mean squares there (``residual_mse``,
    ``<condition>_mse``); error metrics are then absent, never a number.
    """

    def __init__(self, problem, sampling: Optional[SamplingConfig] = None, seed: int = 0):
        sampling = SamplingConfig() if sampling is None else sampling
        if not isinstance(sampling, SamplingConfig):
            raise TypeError(f"PDETask: sampling must be a SamplingConfig, got {type(sampling).__name__}.")
        self.problem = problem
        self.sampling = sampling
        self.seed = seed
        w = sampling.boundary_weight
        self.boundary_weight = problem.boundary_weight if w is None else w
        self.condition_weights = problem.condition_weights()
        if self.condition_weights and self.boundary_weight and not sampling.n_boundary and \
                getattr(problem, "strict_conditions", False):
            raise ValueError(f"SamplingConfig: n_boundary=0 would drop the soft condition(s) "
                             f"{sorted(self.condition_weights)} of {type(problem).__name__}; set n_boundary >= 1 "
                             f"(points per condition per step) or boundary_weight=0 to drop them on purpose.")
        self.x_eval: Optional[torch.Tensor] = None
        self.u_eval: Optional[torch.Tensor] = None
        self._fixed: Optional[tuple] = None

    def prepare(self, dtype, device):
        if self.x_eval is None or self.x_eval.dtype != dtype or self.x_eval.device != device:
            g = torch.Generator().manual_seed(self.seed + 1)
            self.x_eval, self.u_eval = self.problem.evaluation_set(self.sampling.n_eval, g, dtype=dtype, device=device)

    def batch(self, step, generator, dtype, device):
        if not self.sampling.resample and self._fixed is not None:
            x, xc = self._fixed
        else:
            x = self.problem.sample_interior(self.sampling.n_interior, generator, dtype=dtype, device=device)
            xc = {}
            if self.sampling.n_boundary and self.boundary_weight:
                xc = self.problem.sample_conditions(self.sampling.n_boundary, generator, dtype=dtype, device=device)
            self._fixed = (x, xc)
        # one probe seed per step: L-BFGS closures re-evaluate the same stochastic Laplacian
        probe_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return x, xc, probe_seed

    def losses(self, model, x, xc, probe_seed, derivatives: Optional[Derivatives] = None) -> dict[str, torch.Tensor]:
        """Mean squared residual ``"pde"`` and one mean square per soft condition (unweighted); ``derivatives``
        of the interior points when the caller has them (one jet for several heads: FamilyTask)."""
        d = derivatives
        if d is None:
            gen = torch.Generator(device="cpu").manual_seed(probe_seed)
            d = self.problem.derivatives(model, x, self.sampling.engine, n_probes=self.sampling.n_probes,
                                         generator=gen)
        r = self.problem.residual(x, d)
        out = {"pde": (r * r).mean()}
        if isinstance(xc, torch.Tensor):  # a bare boundary batch: the built-in problems' one soft condition
            xc = {"bc": xc}
        for name, xb in (xc or {}).items():
            rb = self.problem.condition_residual(name, model, xb, self.sampling.engine)
            if rb is not None:
                out[name] = (rb * rb).mean()
        return out

    def loss(self, model, batch):
        return self.weighted(self.losses(model, *batch))

    def weighted(self, parts: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """The loss ``pde + w_b sum_c w_c cond_c`` of :meth:`losses`' parts, and its logs."""
        parts = dict(parts)
        loss = parts.pop("pde")
        logs = {"loss_pde": float(loss.detach())}
        for name, value in parts.items():
            loss = loss + self.boundary_weight * self.condition_weights.get(name, 1.0) * value
            logs[f"loss_{name}"] = float(value.detach())
        return loss, logs

    def predict(self, model, x: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = self.x_eval if x is None else x
        return self.problem.ansatz(x, eval_chunks(model, x))

    def evaluate(self, model):
        if self.u_eval is not None:
            return error_metrics(self.predict(model), self.u_eval)
        # no exact values: residual and condition losses on (part of) the evaluation set
        g = torch.Generator().manual_seed(self.seed + 2)
        x = self.x_eval[: min(self.x_eval.shape[0], 2000)]
        xc = self.problem.sample_conditions(min(self.sampling.n_eval, 2000), g, dtype=x.dtype, device=x.device)
        parts = self.losses(model, x, xc, int(torch.randint(0, 2**62, (1,), generator=g)))
        return {("residual_mse" if k == "pde" else f"{k}_mse"): float(v.detach()) for k, v in parts.items()}


#: Problems whose hard ansatz is ``u = (1 - |x|^2) raw`` on the unit ball (what the control variate assumes).
BALL_ANSATZ_PROBLEMS = ("poisson-two-body", "allen-cahn-two-body")


class ControlVariateTask(PDETask):
    """:class:`PDETask` whose Laplacian estimate treats the unit-ball ansatz ``u = (1 - |x|^2) raw``
    analytically (:func:`pde_kan.diff.ball_ansatz_derivatives`): only ``Δraw`` is estimated, ``x·∇raw`` is exact
    from one extra jet. Unbiased, with a much smaller variance than the plain stochastic estimators at the same
    ``n_probes``; the published high-dimensional runs (docs/high_dim.md) use it. For the problems in
    :data:`BALL_ANSATZ_PROBLEMS` (hard boundary, so the loss is the residual alone)."""

    def __init__(self, problem, sampling: Optional[SamplingConfig] = None, seed: int = 0):
        if getattr(problem, "name", None) not in BALL_ANSATZ_PROBLEMS:
            raise ValueError(f"ControlVariateTask: the control variate is written for the ansatz (1 - |x|^2) raw of "
                             f"{', '.join(map(repr, BALL_ANSATZ_PROBLEMS))}, got problem "
                             f"{getattr(problem, 'name', type(problem).__name__)!r}; use PDETask.")
        super().__init__(problem, sampling, seed)

    def loss(self, model, batch):
        x, _, probe_seed = batch
        gen = torch.Generator().manual_seed(probe_seed)
        d = ball_ansatz_derivatives(model, x, self.sampling.engine, n_probes=self.sampling.n_probes, generator=gen)
        r = self.problem.residual(x, d)
        loss = (r * r).mean()
        return loss, {"loss_pde": float(loss.detach())}


LOSSES = ("mse", "cross_entropy")


class SupervisedTask:
    """Regression (``"mse"``) or classification (``"cross_entropy"``) on given tensors.

    Args:
        x_train, y_train, x_test, y_test: ``(N, in)`` inputs; targets ``(N, out)`` (mse) or ``(N,)`` int
            labels (cross entropy).
        batch_size: None for full batch; otherwise ``batch_size`` indices drawn per step from the run's
            generator (with replacement, so a resumed run draws exactly the same batches).
    """

    def __init__(self, x_train, y_train, x_test, y_test, loss: str = "mse", batch_size: Optional[int] = None):
        self.loss_name = choice("loss", loss, LOSSES, owner="SupervisedTask")
        for name, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            if x.shape[0] != y.shape[0]:
                raise ValueError(f"SupervisedTask: x_{name} has {x.shape[0]} rows but y_{name} has {y.shape[0]}; "
                                 f"they must match.")
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.batch_size = None if batch_size is None else positive_int("batch_size", batch_size,
                                                                       owner="SupervisedTask")

    def check_inputs(self, model) -> None:
        """The inputs once, at :func:`~pde_kan.solvers.fit`: no NaN / inf (the model's forward does not look)."""
        owner = type(model).__name__
        for x in (self.x_train, self.x_test):
            if isinstance(x, torch.Tensor):
                check_finite(owner, x)

    def prepare(self, dtype, device):
        def conv(t):
            return t.to(device=device, dtype=dtype) if t.is_floating_point() else t.to(device)

        self.x_train, self.x_test = conv(self.x_train), conv(self.x_test)
        self.y_train, self.y_test = conv(self.y_train), conv(self.y_test)

    def batch(self, step, generator, dtype, device):
        n = self.x_train.shape[0]
        if self.batch_size is None or self.batch_size >= n:
            return self.x_train, self.y_train
        idx = torch.randint(0, n, (self.batch_size,), generator=generator).to(self.x_train.device)
        return self.x_train[idx], self.y_train[idx]

    def _loss(self, out, y):
        if self.loss_name == "mse":
            return F.mse_loss(out, y.reshape(out.shape))
        return F.cross_entropy(out, y)

    def loss(self, model, batch):
        x, y = batch
        loss = self._loss(model(x), y)
        return loss, {}

    def evaluate(self, model):
        metrics = {}
        for split, x, y in (("train", self.x_train, self.y_train), ("test", self.x_test, self.y_test)):
            out = eval_chunks(model, x)
            metrics[f"{split}_loss"] = float(self._loss(out, y))
            if self.loss_name == "mse":
                metrics[f"{split}_rmse"] = float(((out - y.reshape(out.shape)) ** 2).mean().sqrt())
            else:
                metrics[f"{split}_accuracy"] = float((out.argmax(-1) == y).double().mean())
        return metrics
