"""Headless matplotlib figures of a solution: training curves, a 2-D slice, and a comparison of runs. Written
only where asked; every figure works on a fresh :class:`~pde_kan.solvers.Solution` and on one loaded with
:func:`~pde_kan.solvers.load_solution`."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence

import numpy as np
import torch

from .._io import atomic_write
from ..problems.domains import DOMAINS, SpaceTime

# history columns shown, with their legend labels: losses on one axis, errors on the other
LOSS_LABELS = {"loss": "total loss", "loss_pde": "PDE residual", "loss_bc": "boundary", "loss_ic": "initial"}
ERROR_LABELS = {"rel_l2": "relative L2 error", "rel_l1": "relative L1 error", "max_abs": "max |error|",
                "test_rmse": "test RMSE", "train_rmse": "train RMSE", "test_loss": "test loss"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    plt = _pyplot()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format=path.suffix[1:] or "png"))
    plt.close(fig)
    return path


def describe(solution) -> str:
    """``"poisson-two-body · MetaKAN · d=10"``: problem, backbone (``+ LoTRA`` when adapted) and dimension."""
    problem = solution.problem
    cfg = getattr(solution.model, "config", None) or solution.attrs.get("model_config") or {}
    parts = []
    if problem is not None:
        parts.append(problem.name)
    if isinstance(cfg, dict):
        if cfg.get("adapter") == "lotra":
            parts.append(f"{backbone_label(cfg.get('base', {}))} + LoTRA")
        elif "backbone" in cfg:
            parts.append(backbone_label(cfg))
    if problem is not None:
        parts.append(f"d={problem.dim}")
    return " · ".join(parts) or "run"


def backbone_label(cfg) -> str:
    names = {"kan": "KAN", "metakan": "MetaKAN", "slimkan": "Slim KAN", "mlp": "MLP"}
    b = cfg.get("backbone", "?") if isinstance(cfg, dict) else "?"
    widths = cfg.get("widths") if isinstance(cfg, dict) else None
    return names.get(b, b) + (f" {widths}" if widths else "")


def plot_history(solution, path, keys: Optional[Sequence[str]] = None) -> Path:
    """Training losses (left) and evaluation errors (right) against step, each on its own labelled log axis,
    titled with problem, backbone and dimension; the PDE, boundary and initial losses are drawn beside the total
    when the run has them. ``keys`` restricts the curves to those history columns."""
    plt = _pyplot()
    table = solution.history_table()
    steps = table.get("step", np.arange(len(solution.history)) + 1.0)
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained", sharex=True)
    for ax, labels, ylabel in ((ax_loss, LOSS_LABELS, "training loss (mean squared residual)"),
                               (ax_err, ERROR_LABELS, "error against the exact solution")):
        drawn = 0
        for k, label in labels.items():
            if k not in table or (keys is not None and k not in keys):
                continue
            y = table[k]
            if k == "loss_pde" and "loss" in table and np.array_equal(y, table["loss"], equal_nan=True):
                label = "total = PDE residual (hard boundary condition)"
                if drawn:  # the total is already drawn: relabel it instead of hiding it under a second line
                    ax.lines[0].set_label(label)
                    continue
            ok = np.isfinite(y) & (y > 0)
            if not ok.any():
                continue
            sparse = ok.sum() < 60  # evaluations: a marker per point
            ax.plot(steps[ok], y[ok], label=label, marker="o" if sparse else None, ms=3, lw=1.2 if sparse else 0.9)
            drawn += 1
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        if drawn:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="gray")
    ax_loss.set_title("training loss")
    ax_err.set_title("evaluation error")
    title = describe(solution)
    if solution.stop_reason:
        title += f" (stopped: {solution.stop_reason})"
    fig.suptitle(title)
    return _save(fig, path)


def _bounds(domain, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-coordinate (low, high) of ``domain``'s bounding box (``domain.bounds``; time included for space-time
    domains); ``[-1, 1]`` per coordinate for a domain of another type."""
    if not isinstance(domain, DOMAINS):
        return -np.ones(dim), np.ones(dim)
    lo, hi = domain.bounds
    return np.asarray(lo, float), np.asarray(hi, float)


def _coordinate_names(problem) -> list[str]:
    d = problem.dim
    if isinstance(problem.domain, SpaceTime):
        return [f"x_{i + 1}" if d > 2 else "x" for i in range(d - 1)] + ["t"]
    return [f"x_{i + 1}" for i in range(d)]


def plot_slice(solution, path, resolution: int = 101, fixed: Optional[Sequence[float]] = None,
               axes: Optional[tuple[int, int]] = None) -> Path:
    """Exact / predicted / ``|error|`` of ``u`` on a plane through the domain, one colour bar per panel.

    The plane spans coordinates ``axes`` (default ``(x_1, x_2)``; ``(x_1, t)`` for space-time problems, over the
    full time interval) over the domain's extent; the other coordinates sit at ``fixed`` (default: the domain's
    centre) and are named in the title. Points outside the domain are left blank. Works on a loaded solution.
    """
    problem, model = solution.problem, solution.model
    if problem is None or model is None:
        raise ValueError("plot_slice needs a solution with its problem and model: a solved Solution, or "
                         "load_solution(path) (pass problem=... for a problem outside the registry).")
    d = problem.dim
    if d < 2:
        raise ValueError(f"plot_slice: the problem has dim={d}; a slice needs at least 2 coordinates.")
    plt = _pyplot()
    domain = problem.domain
    lo, hi = _bounds(domain, d)
    names = _coordinate_names(problem)
    space_time = isinstance(domain, SpaceTime)
    i, j = axes if axes is not None else ((0, d - 1) if space_time else (0, 1))
    base = (lo + hi) / 2 if fixed is None else np.asarray(fixed, float)
    if base.shape != (d,):
        raise ValueError(f"plot_slice: fixed must give all {d} coordinates (those on the plane are ignored), got "
                         f"shape {base.shape}.")
    g0, g1 = np.linspace(lo[i], hi[i], resolution), np.linspace(lo[j], hi[j], resolution)
    a, b = np.meshgrid(g0, g1, indexing="xy")
    pts = np.tile(base, (a.size, 1))
    pts[:, i], pts[:, j] = a.ravel(), b.ravel()
    p = next(model.parameters())
    x = torch.as_tensor(pts, dtype=p.dtype, device=p.device)
    pred = np.asarray(solution.predict(x).cpu().numpy(), float)
    with torch.no_grad():
        exact = problem.exact(x).cpu().numpy() if problem.exact is not None else None
    inside = np.ones(len(pts), bool)
    if isinstance(domain, DOMAINS):
        inside = domain.contains(x).cpu().numpy().astype(bool)
    if exact is None:  # a problem without exact solution: the prediction alone
        fields = [("predicted u", pred, "viridis", {})]
    else:  # exact and predicted share one colour scale (so colours compare across panels); the error has its own
        both = np.concatenate([exact[inside], pred[inside]]) if inside.any() else np.zeros(1)
        shared = dict(vmin=float(both.min()), vmax=float(both.max()))
        fields = [("exact u", exact, "viridis", shared), ("predicted u", pred, "viridis", shared),
                  ("|predicted - exact|", np.abs(pred - exact), "magma", {})]
    fig, axs = plt.subplots(1, len(fields), figsize=(5 * len(fields), 5.0), layout="constrained", squeeze=False)
    for ax, (title, v, cmap, scale) in zip(axs[0], fields):
        v = np.where(inside, v, np.nan).reshape(a.shape)
        im = ax.pcolormesh(a, b, v, shading="auto", cmap=cmap, **scale)
        ax.set_title(title)
        ax.set_xlabel(names[i])
        ax.set_ylabel(names[j])
        if not space_time:
            ax.set_aspect("equal")
        fig.colorbar(im, ax=ax, shrink=0.9)
    others = [k for k in range(d) if k not in (i, j)]
    where = ""
    if others:
        values = {round(float(base[k]), 4) for k in others}
        if len(values) == 1:
            span = ", ".join(names[k] for k in others) if len(others) <= 2 else \
                f"{names[others[0]]}, ..., {names[others[-1]]}"
            where = f"; {span} = {values.pop():g}"
        else:
            where = "; " + ", ".join(f"{names[k]} = {base[k]:.3g}" for k in others)
    plane = f"slice in ({names[i]}, {names[j]}){where}" if others else f"u over the whole domain ({names[i]}, {names[j]})"
    fig.suptitle(f"{describe(solution)}\n{plane}")
    return _save(fig, path)


def plot_comparison(runs: Mapping[str, object], path, metric: str = "rel_l2", title: str = "") -> Path:
    """``metric`` against step for several runs (label -> Solution or its history table) on one log axis, e.g. the
    demo's backbones."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.4), layout="constrained")
    for label, sol in runs.items():
        table = sol if isinstance(sol, Mapping) else sol.history_table()
        if metric not in table:
            continue
        y, steps = np.asarray(table[metric]), np.asarray(table["step"])
        ok = np.isfinite(y) & (y > 0)
        ax.plot(steps[ok], y[ok], marker="o", ms=3, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(ERROR_LABELS.get(metric, metric))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title or f"{ERROR_LABELS.get(metric, metric)} against step")
    return _save(fig, path)
