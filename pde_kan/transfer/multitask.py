"""A base trained for a family: one network with one output ("head") per coefficient set, trained on all sets at
once (:func:`pretrain_family`), and :func:`mix_heads`, which starts a new set from a fitted mix of the heads.

Workflow::

    problems = [base_problem.with_params(coeffs=c) for c in coefficient_sets]      # H sets of one family
    base = pretrain_family(problems, KAN([10, 32, 32, len(problems)]), TrainConfig(steps=3000)).model
    start = mix_heads(new_problem, base)              # MixedHeads: H weights fitted on the residual, base frozen
    solution = transfer(new_problem, start, method="lotra")

Every head sees the same collocation points each step; the loss is the mean of the per-set physics-informed
losses. For the built-in problems with a jet engine one forward jet serves all heads
(:func:`pde_kan.diff.head_derivatives`), so a step costs about one single-set step plus ``H`` residuals; the
autograd engines and :class:`~pde_kan.problems.PDE` problems (their own derivative routing) run each head on
its own.
For a family whose solution depends linearly on the coefficients (Poisson two-body: ``u`` is linear in ``c``),
heads that span the coefficient space make the mix alone close to the new solution; benchmarks/transfer.py
(``--mode family``) measures what it buys and docs/transfer.md reports it.
"""
from __future__ import annotations

import copy
from typing import Iterable, Optional, Sequence

import torch

from .._checks import dtype_name
from ..diff import head_derivatives
from ..nn import Backbone, MixedHeads
from ..problems.base import Problem
from ..solvers import SamplingConfig, Solution, TrainConfig, fit, solve
from ..solvers.tasks import PDETask


def _check_family(problems: Sequence, owner: str) -> list:
    problems = list(problems)
    if len(problems) < 2:
        raise ValueError(f"{owner}: problems must hold at least 2 coefficient sets of one family (one head each), got "
                         f"{len(problems)}; for one set use solve().")
    first = problems[0]
    for i, p in enumerate(problems[1:], 1):
        if type(p) is not type(first) or p.dim != first.dim:
            raise ValueError(f"{owner}: problems[{i}] is a {type(p).__name__} in dimension {p.dim}, problems[0] a "
                             f"{type(first).__name__} in dimension {first.dim}; every set must be the same problem "
                             f"with other coefficients (build them with problem.with_params(...)).")
    return problems


class FamilyTask:
    """Physics-informed loss of ``H`` problems of one family on an ``H``-output model: head ``h`` solves
    ``problems[h]``. Loss: the mean over heads of :class:`~pde_kan.solvers.PDETask`'s loss, all on one batch of
    points per step (drawn from ``problems[0]``'s samplers: one family shares its domain and conditions).
    Metrics: ``rel_l2`` (mean over heads), ``rel_l2_max`` (worst head) and ``rel_l2_<h>`` per head — or the
    residual metrics of problems without exact solutions, averaged the same way."""

    def __init__(self, problems: Sequence, sampling: Optional[SamplingConfig] = None, seed: int = 0):
        self.problems = _check_family(problems, "FamilyTask")
        self.tasks = [PDETask(p, sampling, seed) for p in self.problems]
        self.sampling = self.tasks[0].sampling
        #: one jet for all heads, unless the problems route their own derivatives (PDE)
        self.shared_jet = type(self.problems[0]).derivatives is Problem.derivatives
        self._views: tuple = (None, [])

    def problem_params(self) -> dict:
        """``{"family": [each set's params]}``: recorded in checkpoints, so that resuming a family run with other
        sets (or in another order: head h is set h) is refused."""
        return {"family": [p.params() for p in self.problems]}

    def check_inputs(self, model) -> None:
        n = len(self.problems)
        if getattr(model, "out_features", None) != n:
            raise ValueError(f"FamilyTask: the model must have one output per coefficient set, out_features={n}, "
                             f"got {getattr(model, 'out_features', None)}; end its widths with {n}.")
        for problem, view in zip(self.problems, self.views(model)):
            problem.check_model(view)

    def views(self, model: Backbone) -> list[MixedHeads]:
        """One single-output view per head, sharing ``model``'s layers (rebuilt when the model, its dtype or its
        device changes: the trainer moves the model after the inputs are checked)."""
        p = next(model.parameters())
        key = (model, p.dtype, p.device)
        if self._views[0] != key:
            eye = torch.eye(len(self.problems), dtype=torch.float64)
            views = [MixedHeads(model, mix=row) for row in eye]
            for v in views:  # the shared layers stay as they are; the one-hot mix is fixed
                v.layers[-1].requires_grad_(False)
            self._views = (key, views)
        return self._views[1]

    def prepare(self, dtype, device):
        for task in self.tasks:
            task.prepare(dtype, device)

    def batch(self, step, generator, dtype, device):
        return self.tasks[0].batch(step, generator, dtype, device)

    def head_derivatives(self, model, x: torch.Tensor, probe_seed: int) -> list:
        """The interior derivatives of every head's ansatz (each set's own hard conditions), one jet for all."""
        first = self.problems[0]
        gen = torch.Generator(device="cpu").manual_seed(probe_seed)
        return head_derivatives(model, first.check_points(x), self.sampling.engine,
                                transforms=[p.jet_transform for p in self.problems], spatial_dim=first.spatial_dim,
                                first_order=first.first_order, n_probes=self.sampling.n_probes, generator=gen)

    def loss(self, model, batch):
        x, xc, probe_seed = batch
        derivs = self.head_derivatives(model, x, probe_seed) if self.shared_jet else [None] * len(self.tasks)
        total, logs = 0.0, {}
        for task, view, d in zip(self.tasks, self.views(model), derivs):
            loss, parts = task.weighted(task.losses(view, x, xc, probe_seed, derivatives=d))
            total = total + loss
            for k, v in parts.items():
                logs[k] = logs.get(k, 0.0) + v / len(self.tasks)
        return total / len(self.tasks), logs

    def evaluate(self, model):
        per_head = [task.evaluate(view) for task, view in zip(self.tasks, self.views(model))]
        out = {}
        for key in per_head[0]:
            values = [m[key] for m in per_head]
            out[key] = sum(values) / len(values)
            out[f"{key}_max"] = max(values)
        for h, m in enumerate(per_head):
            key = "rel_l2" if "rel_l2" in m else next(iter(m))
            out[f"{key}_{h}"] = m[key]
        return out


def pretrain_family(problems: Sequence, model: Backbone, config: Optional[TrainConfig] = None,
                    sampling: Optional[SamplingConfig] = None, *, callbacks: Iterable = (),
                    resume: Optional[str] = None) -> Solution:
    """Train ``model`` (one output per problem) on ``H`` coefficient sets of one family at once.

    Args:
        problems: ``H >= 2`` problems of one class and dimension (``base.with_params(coeffs=...)``).
        model: a backbone with ``out_features == H``: head ``h`` solves ``problems[h]``.
        config, sampling, callbacks, resume: as for :func:`~pde_kan.solvers.solve`.

    Returns:
        The :class:`~pde_kan.solvers.Solution` (metrics: ``rel_l2`` averaged over heads, ``rel_l2_max``, per
        head ``rel_l2_<h>``); ``attrs["family"]`` lists each head's problem parameters. Start a new set from it
        with :func:`mix_heads`.
    """
    task = FamilyTask(problems, sampling, seed=(config or TrainConfig()).seed)
    result = fit(task, model, config, callbacks=callbacks, resume=resume)
    result.attrs["family"] = [p.params() for p in task.problems]
    return result


#: the mix fit: L-BFGS on fixed points (the residual is quadratic in the mix for a linear PDE)
MIX_CONFIG = TrainConfig(steps=20, optimizer="lbfgs", eval_every=0)
MIX_SAMPLING = SamplingConfig(n_interior=1000, resample=False, n_eval=2000)


def mix_heads(problem, base, *, mix: Optional[Sequence[float]] = None, config: Optional[TrainConfig] = None,
              sampling: Optional[SamplingConfig] = None) -> MixedHeads:
    """A single-output starting model for ``problem`` from a family base: ``base``'s heads mixed with ``H``
    weights fitted to ``problem``'s physics-informed loss, the heads frozen meanwhile.

    Args:
        problem: the new coefficient set (same family as the base's sets).
        base: the multi-output backbone from :func:`pretrain_family` (or its :class:`~pde_kan.solvers.Solution`).
            Never modified: the result holds a copy.
        mix: the starting weights (default ``1/H`` each).
        config: the fit (default :data:`MIX_CONFIG`, 20 L-BFGS steps, in the base's dtype and on its device).
        sampling: collocation points of the fit (default :data:`MIX_SAMPLING`: 1000 points drawn once, as L-BFGS
            needs; 2000 evaluation points).

    Returns:
        A :class:`~pde_kan.nn.MixedHeads` with every parameter trainable again, ready for
        :func:`~pde_kan.transfer.transfer` (``method="lotra"`` adapts the KAN layers, the mix stays as fitted).
    """
    if isinstance(base, Solution):
        base = base.model
    if not isinstance(base, Backbone) or isinstance(base, MixedHeads) or base.out_features < 2:
        raise TypeError(f"mix_heads: base must be a backbone with one output per coefficient set (from "
                        f"pretrain_family), got {type(base).__name__} with "
                        f"{getattr(base, 'out_features', None)} output(s).")
    model = MixedHeads(copy.deepcopy(base), mix=mix)
    model.requires_grad_(False)
    model.layers[-1].requires_grad_(True)
    sampling = MIX_SAMPLING if sampling is None else sampling
    if config is None:  # the base's own dtype and device
        p = next(base.parameters())
        config = MIX_CONFIG.replace(dtype=dtype_name(p.dtype), device=str(p.device))
    solve(problem, model, config, sampling)
    model.requires_grad_(True)
    return model
