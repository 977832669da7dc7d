"""Headless matplotlib figures of a solution: training curves and a 2-D slice. Written only where asked."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .checkpoint import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    plt = _pyplot()
    path = Path(path)
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight", format=path.suffix[1:] or "png"))
    plt.close(fig)
    return path


def plot_history(solution, path, keys: Sequence[str] = ("loss", "rel_l2")) -> Path:
    """Loss and error curves against step on a log axis, saved to ``path`` (PNG)."""
    plt = _pyplot()
    table = solution.history_table()
    fig, ax = plt.subplots(figsize=(6, 4))
    steps = table.get("step", np.arange(len(solution.history)) + 1)
    for k in keys:
        if k in table:
            y = table[k]
            ok = np.isfinite(y) & (y > 0)
            ax.plot(steps[ok], y[ok], label=k, marker="." if ok.sum() < 50 else None)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def _bounds(problem) -> tuple[np.ndarray, np.ndarray]:
    return _domain_bounds(getattr(problem, "domain", None), problem.dim)


def _domain_bounds(dom, dim: int) -> tuple[np.ndarray, np.ndarray]:
    if dom is not None and hasattr(dom, "space") and hasattr(dom, "t0"):  # space-time: the space's, then time
        lo, hi = _domain_bounds(dom.space, dom.space.dim)
        return np.append(lo, dom.t0), np.append(hi, dom.t1)
    if dom is not None and hasattr(dom, "lows"):
        return np.asarray(dom.lows, float), np.asarray(dom.highs, float)
    if dom is not None and hasattr(dom, "radius"):
        c = np.broadcast_to(np.asarray(getattr(dom, "center", 0.0), float), (dom.dim,))
        return c - dom.radius, c + dom.radius
    return -np.ones(dim), np.ones(dim)


def plot_slice(solution, path, resolution: int = 101, fixed: Optional[Sequence[float]] = None) -> Path:
    """Exact / predicted / |error| on the (x_1, x_2) plane with the other coordinates at ``fixed`` (default:
    the domain's centre for space, the end time for time-dependent problems). Points outside the domain
    are masked."""
    problem, model = solution.problem, solution.model
    if problem is None or model is None:
        raise ValueError("plot_slice needs a solution with its problem and model (a freshly solved Solution).")
    plt = _pyplot()
    lo, hi = _bounds(problem)
    d = problem.dim
    base = (lo + hi) / 2 if fixed is None else np.asarray(fixed, float)
    if fixed is None and len(lo) < d:  # time-dependent: space bounds only; put time at its end
        base = np.concatenate([base, np.ones(d - len(lo))])
    if fixed is None and len(lo) == d and getattr(problem, "first_order", ()):
        base[list(problem.first_order)] = hi[list(problem.first_order)]
    g0 = np.linspace(lo[0], hi[0], resolution)
    g1 = np.linspace(lo[1], hi[1], resolution) if d > 1 else np.zeros(1)
    a, b = np.meshgrid(g0, g1, indexing="xy")
    pts = np.tile(base, (a.size, 1))
    pts[:, 0] = a.ravel()
    if d > 1:
        pts[:, 1] = b.ravel()
    p = next(model.parameters())
    x = torch.as_tensor(pts, dtype=p.dtype, device=p.device)
    with torch.no_grad():
        pred = problem.ansatz(x, model(x)).cpu().numpy()
        exact = problem.exact(x).cpu().numpy() if getattr(problem, "exact", None) is not None else None
    inside = np.ones(len(pts), bool)
    dom = getattr(problem, "domain", None)
    if dom is not None and hasattr(dom, "contains"):
        inside = dom.contains(x[:, : getattr(dom, "dim", d)]).cpu().numpy().astype(bool)
    fields = [("predicted", pred)] if exact is None else \
        [("exact", exact), ("predicted", pred), ("|error|", np.abs(pred - exact))]
    fig, axes = plt.subplots(1, len(fields), figsize=(5 * len(fields), 4.2), squeeze=False)
    axes = axes[0]
    for ax, (title, v) in zip(axes, fields):
        v = np.where(inside, v, np.nan).reshape(a.shape)
        im = ax.pcolormesh(a, b, v, shading="auto")
        ax.set_title(title)
        ax.set_aspect("equal")
        fig.colorbar(im, ax=ax)
    title = getattr(problem, "name", "problem")
    if d > 2:
        title += f": slice through ({', '.join(f'{v:.2g}' for v in base[2:])}) in x_3..x_{d}"
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)
