"""Solution: the result of a run, and its single-file HDF5 record."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import h5py
import numpy as np
import torch

from .._io import atomic_write
from ..nn._legacy import upgrade_state_dict
from .tasks import EVAL_CHUNK, error_metrics, eval_chunks

FORMAT = "pde_kan.solution"
FORMAT_VERSION = 1


#: the attrs of a family base's results file: ``family`` (each head's problem params), ``family_sets`` (names)
FAMILY_ATTRS = ("family", "family_sets")


@dataclass
class Solution:
    """A trained model with its history and metrics.

    Attributes:
        model: the trained module (its raw output is the network's, before the problem's ansatz: use
            :meth:`predict` for the solution ``u``).
        config: the :class:`TrainConfig` used.
        sampling: the :class:`SamplingConfig` of a PDE run (None for supervised runs).
        history: one dict per accepted step (``step``, ``loss``, ..., evaluation metrics where measured).
        metrics: final metrics (``rel_l2``, ``rel_l1``, ``max_abs`` for PDEs; ``test_accuracy`` / ``test_rmse``
            for supervised tasks) plus ``seconds``, ``steps_per_second``, ``peak_memory_mb``,
            ``trainable_parameters``.
        task: the task trained on (not saved); PDE tasks give evaluation points and predictions.
        arrays: evaluation arrays (``x``, ``prediction``, ``exact``, ``error``) when loaded from a file.
        problem: the PDE problem (from the task, or rebuilt by :func:`load_solution`); None for supervised runs
            and for files of unregistered problems loaded without ``problem=``.
    """

    model: Optional[torch.nn.Module]
    config: Any
    history: list[dict[str, float]]
    metrics: dict[str, float]
    task: Any = None
    stop_reason: Optional[str] = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)
    problem: Any = None
    sampling: Any = None

    def __post_init__(self):
        if self.problem is None:
            self.problem = getattr(self.task, "problem", None)

    def predict(self, x, chunk: int = EVAL_CHUNK):
        """The solution ``u`` at ``x: (N, dim)``: the model's output passed through the problem's ansatz (hard
        boundary conditions), without gradients, in chunks of ``chunk`` points as at evaluation, so on the
        stored evaluation points it equals ``arrays["prediction"]`` bit for bit.

        Args:
            x: a tensor or an array-like ``(N, dim)``; converted to the model's dtype and device.

        Returns:
            ``(N,)``: a tensor for a tensor input (on the model's device), a NumPy array otherwise.
        """
        if self.model is None:
            raise ValueError("Solution.predict: this solution has no model (its file did not name a backbone); "
                             "load a results file written by solve() or transfer().")
        if self.problem is None and getattr(self.model, "out_features", 1) > 1:
            raise ValueError(f"Solution.predict: this model has {self.model.out_features} outputs, one per coefficient "
                             f"set of a family (pde_kan.transfer.pretrain_family); predict a set through its head: "
                             f"problem.ansatz(x, MixedHeads(solution.model, mix=<one-hot of the set>)(x)), or a new "
                             f"set from pde_kan.transfer.mix_heads(problem, solution).")
        if self.problem is None:
            raise ValueError("Solution.predict: this solution has no problem, so the ansatz that turns the network "
                             "output into u is unknown; load it with load_solution(path, problem=your_problem) "
                             "(needed for problems that are not in the registry).")
        as_numpy = not isinstance(x, torch.Tensor)
        p = next(self.model.parameters())
        try:
            xt = torch.as_tensor(np.asarray(x) if as_numpy else x)
        except (TypeError, ValueError) as e:
            raise TypeError(f"Solution.predict: x must be a tensor or array of shape (N, {self.problem.dim}), got "
                            f"{type(x).__name__} ({e}).") from None
        xt = self.problem.check_points(xt.to(device=p.device, dtype=p.dtype))
        if not bool(torch.isfinite(xt).all()):
            raise ValueError(f"Solution.predict: x contains {int((~torch.isfinite(xt)).sum())} non-finite value(s); "
                             f"clean the points first.")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                u = self.problem.ansatz(xt, eval_chunks(self.model, xt, chunk))
        finally:
            self.model.train(was_training)
        return u.cpu().numpy() if as_numpy else u

    def evaluate(self, problem=None) -> dict[str, float]:
        """Relative L2 / L1 and max error of :meth:`predict` against ``problem``'s exact solution (default: the
        run's problem) on the run's evaluation points (stored in the file, or the task's), e.g. to score a
        solution on a neighbouring problem of the same family."""
        problem = self.problem if problem is None else problem
        if problem is None:
            raise ValueError("Solution.evaluate: no problem to compare with; pass problem=... or load the file "
                             "with load_solution(path, problem=...).")
        if "x" in self.arrays:
            x = torch.as_tensor(self.arrays["x"])
        elif getattr(self.task, "x_eval", None) is not None:
            x = self.task.x_eval
        else:
            n = getattr(self.sampling, "n_eval", 20000)
            x = problem.sample_interior(n, torch.Generator().manual_seed(getattr(self.config, "seed", 0) + 1))
        if x.shape[1] != problem.dim:
            raise ValueError(f"Solution.evaluate: problem has dim {problem.dim} but the solution's points have "
                             f"{x.shape[1]} coordinates; evaluate on a problem of the same dimension.")
        u = self.predict(x)
        return error_metrics(u, problem.exact(x.to(u.dtype).to(u.device)))

    def evaluation_arrays(self) -> dict[str, np.ndarray]:
        """``x (N, d)``, ``prediction``, ``exact``, ``error`` ``(N,)`` on the evaluation points (PDE tasks)."""
        if self.arrays:
            return self.arrays
        if not hasattr(self.task, "predict") or self.model is None:
            return {}
        pred = self.task.predict(self.model)
        x, exact = self.task.x_eval, self.task.u_eval
        out = {"x": x, "prediction": pred}
        if exact is not None:  # a problem without exact solution or reference data has no error to store
            out.update(exact=exact, error=pred - exact)
        return {k: v.detach().cpu().numpy() for k, v in out.items()}

    def history_table(self) -> dict[str, np.ndarray]:
        keys: list[str] = []
        for row in self.history:
            keys.extend(k for k in row if k not in keys)
        return {k: np.array([row.get(k, math.nan) for row in self.history], dtype=np.float64) for k in keys}

    def save(self, path, max_eval_points: int = 20000) -> Path:
        """Write one HDF5 file (atomically): history, evaluation arrays, model state and JSON attrs."""
        from .. import __version__

        arrays = {k: v[:max_eval_points] for k, v in self.evaluation_arrays().items()}
        cfg = self.config.to_dict() if hasattr(self.config, "to_dict") else self.config
        attrs = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "pde_kan_version": __version__,
            "config": json.dumps(cfg), "metrics": json.dumps(self.metrics),
            "sampling": json.dumps(self.sampling.to_dict() if hasattr(self.sampling, "to_dict") else self.sampling),
            "model_config": json.dumps(getattr(self.model, "config", None)),
            "problem": json.dumps(self.problem.params() if self.problem is not None else None),
            "seed": int(cfg.get("seed", 0)) if isinstance(cfg, dict) else 0,
            "stop_reason": self.stop_reason or "",
        }
        for key in FAMILY_ATTRS:  # a family base (pretrain_family): each head's problem, and the sets' names
            if self.attrs.get(key) is not None:
                attrs[key] = json.dumps(self.attrs[key])

        def write(tmp):
            with h5py.File(tmp, "w") as f:
                for k, v in attrs.items():
                    f.attrs[k] = v
                h = f.create_group("history")
                for k, v in self.history_table().items():
                    h.create_dataset(k, data=v)
                e = f.create_group("evaluation")
                for k, v in arrays.items():
                    e.create_dataset(k, data=v)
                m = f.create_group("model")
                if self.model is not None:
                    for k, v in self.model.state_dict().items():
                        m.create_dataset(k, data=v.detach().cpu().numpy())

        return atomic_write(path, write)


def open_hdf5(path, fmt: str, *, what: str, written_by: str, kind: str, not_hdf5: str) -> h5py.File:
    """``path`` opened read-only once it is checked to exist, to be HDF5 and to carry ``attrs["format"] == fmt``.

    Every error starts with ``what`` (the reader and the file) and says the fix: ``"{what} does not exist; pass
    {written_by}."``, ``"{what} {not_hdf5}."`` (``{e}`` is h5py's reason), ``"{what} is not {kind} (format ...,
    expected ...)."``. The caller closes the file (``with open_hdf5(...) as f``).
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} does not exist; pass {written_by}.")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{what} {not_hdf5.format(e=e)}.") from None
    found = f.attrs.get("format")
    if found != fmt:
        f.close()
        raise ValueError(f"{what} is not {kind} (format {found!r}, expected {fmt!r}).")
    return f


def load_solution(path, device=None, problem=None) -> Solution:
    """Read a file written by :meth:`Solution.save`: the model is rebuilt when its config names a backbone, the
    problem when it is a registered one (or taken from ``problem=``, e.g. for a problem of your own), so
    ``load_solution(p).predict(x)`` gives ``u`` at new points. A model whose config names an ``"adapter"``
    (LoTRA runs) is rebuilt by the loader registered for it with :func:`register_model_loader`
    (``pde_kan.transfer`` registers ``"lotra"`` when imported; unregistered: ``model`` is None).

    Raises:
        FileNotFoundError / ValueError naming the path for missing, truncated or foreign files.
    """
    path = Path(path)
    with open_hdf5(path, FORMAT, what=f"results file {str(path)!r}", written_by="a results.h5 written by Solution.save",
                   kind="a pde_kan solution", not_hdf5="is corrupt or not HDF5 ({e}); rerun or restore it") as f:
        try:  # a file cut short inside a dataset, or with groups / attrs missing, is damaged, not foreign
            attrs = {k: f.attrs[k] for k in f.attrs}
            history_cols = {k: f["history"][k][()] for k in f["history"]}
            arrays = {k: f["evaluation"][k][()] for k in f["evaluation"]}
            state = {k: torch.from_numpy(np.array(f["model"][k][()])) for k in _walk(f["model"])}
            model_config = json.loads(attrs["model_config"])
            config_dict = json.loads(attrs["config"])
            sampling_dict = json.loads(attrs["sampling"]) if "sampling" in attrs else None
        except (KeyError, OSError, ValueError) as e:
            raise ValueError(f"results file {str(path)!r} is incomplete or damaged ({type(e).__name__}: {e}); "
                             f"rerun or restore it.") from None
    n = len(next(iter(history_cols.values()))) if history_cols else 0
    history = [{k: float(v[i]) for k, v in history_cols.items() if not math.isnan(v[i])} for i in range(n)]
    model = _build_model(model_config, device)
    if model is not None:
        try:
            model.load_state_dict(upgrade_state_dict(state, model.state_dict().keys()))
        except RuntimeError as e:
            detail = " ".join(line.strip() for line in str(e).splitlines()[:2])
            raise ValueError(f"results file {str(path)!r}: the stored model state does not fit its model_config "
                             f"({detail}); the file was edited or damaged; rerun or restore it.") from None
    from .config import SamplingConfig, TrainConfig, split_legacy

    if sampling_dict is None:  # written before SamplingConfig: the sampling fields sit in the train config
        config_dict, sampling_dict = split_legacy(config_dict)
    config = TrainConfig.from_dict(config_dict)
    sampling = SamplingConfig.from_dict(sampling_dict) if sampling_dict else None
    attrs = {k: (json.loads(v) if k in ("problem", "model_config", "sampling", *FAMILY_ATTRS) else v)
             for k, v in attrs.items()}
    if problem is None:
        try:
            problem = _rebuild_problem(attrs.get("problem"))
        except (TypeError, ValueError) as e:
            raise ValueError(f"results file {str(path)!r}: its problem cannot be rebuilt ({e}); pass "
                             f"load_solution(path, problem=...).") from None
    elif model is not None:
        problem.check_model(model)
    return Solution(model=model, config=config, history=history, metrics=json.loads(attrs["metrics"]),
                    arrays=arrays, stop_reason=attrs["stop_reason"] or None, attrs=attrs, problem=problem,
                    sampling=sampling)


#: ``model_config["adapter"]`` -> ``build(model_config, device)``: the (untrained) module of a wrapped model that
#: :func:`load_solution` then loads the file's weights into; registered by the layer that owns the wrapper.
_MODEL_LOADERS: dict[str, Callable[[dict, Any], torch.nn.Module]] = {}


def register_model_loader(adapter: str, build: Callable[[dict, Any], torch.nn.Module]) -> None:
    """Let :func:`load_solution` rebuild models whose config has ``"adapter": adapter`` (a higher layer, such as
    ``pde_kan.transfer`` for ``"lotra"``, registers its wrapper here; solvers never imports it)."""
    _MODEL_LOADERS[adapter] = build


def _build_model(model_config, device) -> Optional[torch.nn.Module]:
    """The module a file's ``model_config`` describes: a backbone, a registered adapter kind, or None."""
    from ..nn import backbone_from_config

    if not isinstance(model_config, dict):
        return None
    if "backbone" in model_config:
        return backbone_from_config(model_config, device=device)
    build = _MODEL_LOADERS.get(model_config.get("adapter"))
    return build(model_config, device) if build is not None else None


def _rebuild_problem(params):
    """The registered problem a file describes, or None (supervised runs, problems outside the registry)."""
    from ..problems import problem_from_params
    from ..problems.registry import PROBLEMS

    if not isinstance(params, dict) or params.get("name") not in PROBLEMS:
        return None
    return problem_from_params(params)


def _walk(group, prefix: str = "") -> list[str]:
    names = []
    for k, v in group.items():
        if isinstance(v, h5py.Group):
            names.extend(_walk(v, f"{prefix}{k}/"))
        else:
            names.append(f"{prefix}{k}")
    return names
