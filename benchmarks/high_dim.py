"""High-dimensional PINN steps: time and peak memory against d, estimator variance, convergence runs.

Modes (``--mode``):

``scaling``
    One training step (two-body Poisson residual through the hard-BC ansatz, mean square, backward) of a KAN
    ``[d, width, width, 1]`` on N fixed interior points, for each Laplacian method:

    ===============  ===========================================================================
    ``autograd``      exact, d double-backward passes (the reference PINN way)
    ``sdgd_autograd`` K random coordinates by K double-backward passes, scaled d/K (the MetaKAN
                      reference approach)
    ``jet``           exact forward jet (tangents ``(N, width, d)``)
    ``sdgd``          forward jet along K random coordinates, scaled d/K (tangents ``(N, width, K)``;
                      the first layer evaluates derivatives for those K input columns only)
    ``hutchinson``    forward jet along K Rademacher probes (first layer ``O(N * width * d)``)
    ``value``         value-only forward + backward: the floor every method pays
    ===============  ===========================================================================

    Times are medians of ``--repeats`` rounds, the methods interleaved within each round (one process, so the
    ratios are comparable on a shared machine). Where autograd-exact is hopeless (d > ``--autograd-max``), its
    step is extrapolated from a loop over ``--autograd-probe`` coordinates (cost is linear in the number of
    backward passes) and marked ``extrapolated``. Peak memory of each case comes from a fresh subprocess:
    the process high-water mark over one step minus the resident size before it (glibc's mmap threshold is
    pinned so freed tensors go back to the OS). Cases whose estimated memory exceeds ``--memory-cap-mb`` are
    skipped and said so.

``variance``
    At a fixed model (trained briefly, or at initialisation), the spread of the stochastic Laplacian and of the
    loss gradient over many independent draws, for each variance-control option: more directions K, SDGD
    with vs without replacement, Rademacher vs Gaussian probes, and a control variate for the ansatz
    ``u = (1 - |x|^2) raw`` (see docs/high_dim.md).

``ablation``
    Short training runs that differ only in the estimator: K, fixed vs per-step resampled probes, Hutchinson,
    exact jet; final rel L2 after the same number of steps.

``converge``
    ``solve`` on the two-body Poisson / Allen–Cahn problem with a stochastic Laplacian until rel L2 <= target or
    a wall-clock budget runs out; records the error curve.

``levels``
    What simple approximations of the two-body solution already score in rel L2, per d and sampler: the hard-BC
    ansatz ``(1 - |x|^2) raw`` with ``raw`` the best constant, the first-order Taylor polynomial of the exact
    ``raw`` at 0, and that plus the separable (diagonal) second-order terms. At large d the coordinates of a
    point in the unit ball are O(d^-1/2), so the constant and linear parts dominate: a convergence run's error
    means something only next to these levels.

    python benchmarks/high_dim.py --mode scaling --dims 10 100 1000 10000 --out benchmarks/results/high_dim.json
    python benchmarks/high_dim.py --mode variance --dim 1000 --out benchmarks/results/high_dim_variance.json
    python benchmarks/high_dim.py --mode converge --dim 1000 --budget 1200 --out benchmarks/results/high_dim_converge_d1000.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

from _common import command_line, reset_peak_rss, status_kb, write_json

METHODS = ("value", "autograd", "sdgd_autograd", "jet", "sdgd", "hutchinson")


# --- one step -------------------------------------------------------------------------------------------
def setup(dim: int, n: int, width: int, seed: int = 0, backbone: str = "kan"):
    import torch

    from pde_kan.nn import get_backbone
    from pde_kan.problems import Poisson

    problem = Poisson.two_body(dim, seed=0)
    model = get_backbone(backbone, [dim, width, width, 1], seed=seed)  # constructor defaults (MetaKAN: e=1, h=16)
    x = problem.sample_interior(n, torch.Generator().manual_seed(seed + 1))
    f = problem.source(x)
    return problem, model, x, f


def step(problem, model, x, f, method: str, k: int, generator, probe: int = 0):
    """One loss + backward of the Poisson residual ``Δu - f`` (``value``: ``u - f``, the floor every method pays).

    ``probe > 0`` (autograd only): differentiate ``probe`` coordinates, not all d."""
    import torch

    from pde_kan.diff import autograd_laplacian
    from pde_kan.diff.engines import apply_transform

    model.zero_grad(set_to_none=True)
    if method == "value":
        u = problem.ansatz(x, model(x))
        loss = ((u - f) ** 2).mean()
    elif method == "autograd" and probe:
        index = torch.arange(probe)
        _, lap, _ = autograd_laplacian(lambda z: apply_transform(problem.jet_transform, z, model(z)), x, index)
        loss = ((lap - f) ** 2).mean()
    else:
        stochastic = method in ("sdgd", "hutchinson", "sdgd_autograd")
        d = problem.derivatives(model, x, method, n_probes=min(k, x.shape[1]) if stochastic else None,
                                generator=generator)
        # Poisson residual with the source precomputed once (as for the value-only step): the closed-form
        # source costs O(N d) per step in training, the same for every method, and is left out here
        r = d.laplacian - f
        loss = (r * r).mean()
    loss.backward()
    return float(loss.detach())


def autograd_probe(d: int, args) -> int:
    return 0 if d <= args.autograd_max else min(args.autograd_probe, d)


def time_methods(d: int, args, warmup: bool = True) -> dict:
    """Median wall and process-CPU seconds per step of each method, methods interleaved within each round
    (round 0, when ``warmup``, is not timed: lazy initialisation happens there)."""
    import torch

    problem, model, x, f = setup(d, args.n, args.width)
    g = torch.Generator().manual_seed(2)
    times: dict[str, list[tuple[float, float]]] = {m: [] for m in args.methods}
    for rep in range(0 if warmup else 1, args.repeats + 1):
        for m in args.methods:
            if m == "autograd" and d > args.autograd_max and rep > 1:
                continue  # extrapolated: one timed round is plenty
            if m == "jet" and d > args.jet_max:
                continue
            probe = autograd_probe(d, args) if m == "autograd" else 0
            t, c = time.perf_counter(), time.process_time()
            step(problem, model, x, f, m, args.k, g, probe=probe)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if probe:
                dt, dc = dt * d / probe, dc * d / probe
            if rep:
                times[m].append((dt, dc))
    out = {}
    for m, ts in times.items():
        if not ts:
            out[m] = {"seconds": None, "skipped": f"d > --jet-max={args.jet_max}"}
            continue
        out[m] = {"seconds": statistics.median(t[0] for t in ts), "cpu_seconds": statistics.median(t[1] for t in ts),
                  "runs": len(ts)}
        if m == "autograd" and d > args.autograd_max:
            out[m]["extrapolated"] = f"timed {autograd_probe(d, args)} of {d} coordinates, scaled by d/probe"
    return out


def memory_case(method: str, d: int, args) -> dict:
    """Runs inside a fresh subprocess: peak RSS over one step minus RSS before it (MiB)."""
    import gc

    import torch

    from pde_kan.nn import n_parameters

    torch.set_num_threads(args.threads)
    problem, model, x, f = setup(d, args.n, args.width, backbone=args.backbone)
    g = torch.Generator().manual_seed(2)
    probe = autograd_probe(d, args) if method == "autograd" else 0
    if args.warmup:
        step(problem, model, x, f, method, args.k, g, probe=probe)  # lazy initialisation
        model.zero_grad(set_to_none=True)
    gc.collect()
    before = status_kb("VmRSS")
    if not reset_peak_rss():
        raise RuntimeError("cannot reset VmHWM (/proc/self/clear_refs is not writable): no per-step peak here")
    t, c = time.perf_counter(), time.process_time()
    step(problem, model, x, f, method, args.k, g, probe=probe)
    seconds, cpu = time.perf_counter() - t, time.process_time() - c
    peak = status_kb("VmHWM")
    out = {"peak_step_mb": (peak - before) / 1024, "rss_before_mb": before / 1024, "seconds": seconds,
           "cpu_seconds": cpu, "parameters": n_parameters(model, trainable_only=False)}
    if probe:
        out["note"] = (f"autograd over {probe} of {d} coordinates: a lower bound, the full loop keeps one "
                       f"Hessian-row graph per coordinate (about d/{probe} times this)")
    return out


def run_memory(method: str, d: int, args) -> dict:
    cmd = [sys.executable, __file__, "--mode", "memory-case", "--case-method", method, "--case-dim", str(d),
           "--n", str(args.n), "--width", str(args.width), "--k", str(args.k), "--threads", str(args.threads),
           "--backbone", args.backbone, "--warmup" if args.warmup else "--no-warmup",
           "--autograd-max", str(args.autograd_max), "--autograd-probe", str(args.autograd_probe)]
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "OMP_NUM_THREADS": str(args.threads)}
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.case_timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.case_timeout} s"}
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def estimated_mb(method: str, d: int, args) -> float:
    """Rough upper estimate (tangent tensors and their gradients) used only to skip hopeless cases."""
    per = {"jet": 12.0 * args.width * d, "hutchinson": 4.0 * (args.width + 3 * args.k) * d,
           "autograd": 10.0 * args.width * d, "sdgd_autograd": 10.0 * args.width * d}
    return args.n * per.get(method, 10.0 * d) * 8 / 2**20


def mode_scaling(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for i, d in enumerate(args.dims):
        t = time_methods(d, args, warmup=i == 0)
        for m in args.methods:
            row = {"d": d, "method": m, **t[m]}
            if args.memory:
                if row.get("seconds") is None:
                    row["memory"] = {"skipped": row.get("skipped")}
                elif estimated_mb(m, d, args) > args.memory_cap_mb:
                    row["memory"] = {"skipped": f"estimated > {args.memory_cap_mb} MB"}
                else:
                    row["memory"] = run_memory(m, d, args)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for d in args.dims:  # ratios of process CPU time (less disturbed by other jobs than wall time)
        base = {r["method"]: r.get("cpu_seconds") for r in rows if r["d"] == d}
        for r in rows:
            if r["d"] == d and r.get("cpu_seconds") and base.get("sdgd"):
                r["time_vs_sdgd"] = r["cpu_seconds"] / base["sdgd"]
                r["time_vs_value"] = r["cpu_seconds"] / base["value"] if base.get("value") else None
    return {"rows": rows}


def print_scaling(result: dict) -> None:
    rows = result["rows"]
    print(f"\n{'d':>6} {'method':>14} {'wall s':>9} {'cpu s':>9} {'x sdgd':>8} {'x value':>8} {'peak MB':>9}  note")
    for r in rows:
        mem = r.get("memory", {})
        peak = mem.get("peak_step_mb")
        note = r.get("extrapolated") or r.get("skipped") or mem.get("skipped") or mem.get("error") or ""
        sec, cpu = r.get("seconds"), r.get("cpu_seconds")
        print(f"{r['d']:>6} {r['method']:>14} {'' if sec is None else f'{sec:.4f}':>9} "
              f"{'' if cpu is None else f'{cpu:.4f}':>9} "
              f"{r.get('time_vs_sdgd', float('nan')):>8.2f} {r.get('time_vs_value') or float('nan'):>8.2f} "
              f"{'' if peak is None else f'{peak:.1f}':>9}  {note}")


def plot_scaling(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), dpi=80)
    for m in METHODS:
        pts = [(r["d"], r["cpu_seconds"], r.get("memory", {}).get("peak_step_mb"), bool(r.get("extrapolated")))
               for r in result["rows"] if r["method"] == m and r.get("cpu_seconds")]
        if not pts:
            continue
        line, = axes[0].loglog([p[0] for p in pts], [p[1] for p in pts], "o-", label=m)
        ext = [p for p in pts if p[3]]
        if ext:
            axes[0].loglog([p[0] for p in ext], [p[1] for p in ext], "o", mfc="white", color=line.get_color())
        mem = [p for p in pts if p[2] is not None and p[2] > 0]
        if mem:
            axes[1].loglog([p[0] for p in mem], [p[2] for p in mem], "o-", label=m, color=line.get_color())
            low = [p for p in mem if p[3]]
            if low:
                axes[1].loglog([p[0] for p in low], [p[2] for p in low], "o", mfc="white", color=line.get_color())
    axes[0].set(xlabel="d", ylabel="CPU seconds per step", title="time (open: extrapolated)")
    axes[1].set(xlabel="d", ylabel="peak MB over one step", title="memory (open: lower bound)")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)


# --- variance -------------------------------------------------------------------------------------------
def mode_variance(args) -> dict:
    import torch

    from pde_kan.diff import Coordinates, ball_ansatz_derivatives, forward_jet, hutchinson

    torch.set_num_threads(args.threads)
    d = args.dim
    problem, model, x, f = setup(d, args.n, args.width)
    if args.pretrain:
        from pde_kan.solvers import SamplingConfig, TrainConfig, solve

        solve(problem, model, TrainConfig(steps=args.pretrain, lr=1e-2, eval_every=0, device="cpu"),
              SamplingConfig(n_interior=args.n, engine="sdgd", n_probes=min(16, d), n_eval=1000))
    with torch.no_grad():
        exact_u = problem.derivatives(model, x, "jet")
    exact = exact_u.laplacian
    params = [p for p in model.parameters()]

    def grad_of(lap):
        r = lap - f  # Poisson residual with the estimated Laplacian
        g = torch.autograd.grad((r * r).mean(), params)
        return torch.cat([t.reshape(-1) for t in g])

    exact_grad = grad_of(problem.derivatives(model, x, "jet").laplacian)
    gen = torch.Generator().manual_seed(11)

    def sdgd_dirs(k, replace):
        idx = (torch.randint(0, d, (k,), generator=gen) if replace else torch.randperm(d, generator=gen)[:k])
        return Coordinates(idx, d, d / k)

    def raw_jet(dirs):
        return forward_jet(model, x, dirs)

    def ansatz_lap(dirs):
        """Laplacian estimate of u = (1 - |x|^2) raw through the problem's transform (jet algebra)."""
        return problem.transform(x, raw_jet(dirs)).laplacian[:, 0]

    # control variate (pde_kan.diff.ball_ansatz_derivatives): Δu = A Δraw - 4 x·∇raw - 2 d raw; with an extra
    # exact direction v = x (one Dense direction per point) x·∇raw is exact, so only A Δraw is estimated
    def cv_lap(dirs):
        return ball_ansatz_derivatives(model, x, directions=dirs).laplacian

    options = {}
    for k in args.ks:
        if k <= d:
            options[f"sdgd K={k}"] = (lambda k=k: ansatz_lap(sdgd_dirs(k, False)), 1)
    kk = args.k
    options[f"sdgd K={kk} with replacement"] = (lambda: ansatz_lap(sdgd_dirs(kk, True)), 1)
    options[f"sdgd K={kk} + control variate x.grad(raw) exact"] = (lambda: cv_lap(sdgd_dirs(kk, False)), 2)
    for dist in ("rademacher", "gaussian"):
        options[f"hutchinson K={kk} {dist}"] = (
            lambda dist=dist: ansatz_lap(hutchinson(x.shape[0], d, kk, gen, dtype=x.dtype, distribution=dist)), 1)
    options[f"hutchinson K={kk} rademacher + control variate"] = (
        lambda: cv_lap(hutchinson(x.shape[0], d, kk, gen, dtype=x.dtype)), 2)
    rows = []
    for name, (fn, jets) in options.items():
        t = time.perf_counter()
        with torch.no_grad():
            laps = torch.stack([fn() for _ in range(args.draws)])
        grads = torch.stack([grad_of(fn()) for _ in range(args.grad_draws)])
        seconds = (time.perf_counter() - t) / (args.draws + args.grad_draws)
        bias = (laps.mean(0) - exact).abs() / (laps.std(0) / math.sqrt(args.draws)).clamp_min(1e-300)
        row = {
            "option": name, "jets_per_step": jets,
            "rel_sd_laplacian": float((laps.std(0) / exact.abs()).median()),
            "max_bias_in_standard_errors": float(bias.max()),
            # mean squared distance to the exact-Laplacian gradient (variance plus the squared-residual bias)
            "grad_rel_mse": float(((grads - exact_grad) ** 2).sum(-1).mean() / (exact_grad ** 2).sum()),
            "grad_cosine_to_exact": float(torch.nn.functional.cosine_similarity(grads, exact_grad[None]).mean()),
            "seconds_per_draw": seconds,
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"dim": d, "n": args.n, "width": args.width, "pretrain_steps": args.pretrain, "rows": rows,
            "exact_laplacian_median_abs": float(exact.abs().median())}


# --- convergence ----------------------------------------------------------------------------------------
def mode_converge(args) -> dict:
    import torch

    from pde_kan.nn import get_backbone
    from pde_kan.problems import get_problem
    from pde_kan.solvers import Callback, ControlVariateTask, EarlyStopping, SamplingConfig, TrainConfig, fit, solve

    torch.set_num_threads(args.threads)

    class Budget(Callback):
        """Stops the run when the budget is spent; records (step, wall s, process CPU s, rel L2) at evaluations.

        ``--budget-clock cpu`` counts this process's CPU time (what the run costs on dedicated cores, the fair
        measure on a machine shared with other jobs); ``wall`` counts elapsed time."""

        def __init__(self):
            self.curve = []

        def on_start(self, trainer):
            self.t0, self.c0 = time.perf_counter(), time.process_time()

        def spent(self):
            return (time.process_time() - self.c0) if args.budget_clock == "cpu" else (time.perf_counter() - self.t0)

        def on_step(self, trainer, logs):
            if self.spent() > args.budget:
                trainer.stop_reason = f"{args.budget_clock} budget {args.budget} s spent"

        def on_eval(self, trainer, metrics):
            wall, cpu = time.perf_counter() - self.t0, time.process_time() - self.c0
            self.curve.append((trainer.step, round(wall, 2), round(cpu, 2), metrics["rel_l2"]))
            print(f"step {trainer.step:6d}  wall {wall:8.1f} s  cpu {cpu:8.1f} s  rel_l2 {metrics['rel_l2']:.3e}",
                  flush=True)

    problem = get_problem(args.problem, dim=args.dim, seed=0, sampler=args.sampler)
    kw = {}  # constructor defaults (MetaKAN: embedding 1, hypernet hidden 16)
    if args.first_grid:  # a first-layer grid on the scale of the coordinates, O(d^-1/2) in the unit ball
        kw["grid_range"] = [(-args.first_grid, args.first_grid), (-1.0, 1.0), (-1.0, 1.0)]
    model = get_backbone(args.backbone, [args.dim, args.width, args.width, 1], **kw)
    config = TrainConfig(steps=args.steps, lr=args.lr, schedule="exponential", lr_final_factor=args.lr_final,
                         eval_every=args.eval_every, seed=0, device="cpu")
    sampling = SamplingConfig(n_interior=args.n, engine=args.laplacian, n_probes=args.k, n_eval=args.n_eval)
    budget = Budget()
    if args.control_variate:
        sol = fit(ControlVariateTask(problem, sampling, seed=config.seed), model, config,
                  callbacks=[budget, EarlyStopping(args.target)])
    else:
        sol = solve(problem, model, config, sampling, callbacks=[budget, EarlyStopping(args.target)])
    return {"problem": args.problem, "dim": args.dim, "sampler": args.sampler, "backbone": args.backbone,
            "width": args.width, "grid_range": model.config.get("grid_range"),
            "laplacian": args.laplacian, "k": args.k, "control_variate": args.control_variate,
            "n_interior": args.n, "lr": args.lr,
            "target_rel_l2": args.target, "budget_seconds": args.budget, "budget_clock": args.budget_clock,
            "stop_reason": sol.stop_reason, "reached_target": sol.metrics["rel_l2"] <= args.target, **sol.metrics,
            "cpu_seconds": time.process_time() - budget.c0,
            "curve_columns": ["step", "wall_s", "cpu_s", "rel_l2"], "curve": budget.curve}


# --- reference levels ------------------------------------------------------------------------------------
def mode_levels(args) -> dict:
    import torch

    from pde_kan.problems import get_problem
    from pde_kan.problems.manufactured import as_coeffs, two_body

    if args.problem not in ("poisson-two-body", "allen-cahn-two-body"):
        raise SystemExit(f"--mode levels is written for the two-body solution, got --problem {args.problem!r}.")
    rows = []
    for sampler in ("uniform", "uniform-radius"):
        for d in args.dims:
            problem = get_problem(args.problem, dim=d, seed=0, sampler=sampler)
            x = problem.sample_interior(args.n_eval, torch.Generator().manual_seed(1), dtype=torch.float64)
            u = problem.exact(x)
            bump = 1 - (x * x).sum(-1)
            at0 = two_body(x.new_zeros(1, d), as_coeffs(problem.coeffs, x))
            # u = bump * raw with bump(0) = 1, grad bump(0) = 0, Hessian of bump = -2 I: raw's Taylor data at 0
            raw0, g0, h0 = at0.value[0], at0.grad[0], at0.hess_diag[0] + 2 * at0.value[0]
            linear = raw0 + x @ g0
            levels = {"best_constant": bump * ((u * bump).sum() / (bump * bump).sum()),
                      "taylor1": bump * linear,
                      "taylor1_plus_separable_taylor2": bump * (linear + 0.5 * (x * x) @ h0)}
            row = {"d": d, "sampler": sampler, "n_points": args.n_eval,
                   **{k: float((v - u).norm() / u.norm()) for k, v in levels.items()}}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"problem": args.problem, "rows": rows}


# --- allocated bytes per point (deterministic) -----------------------------------------------------------
def allocated_bytes(fn) -> int:
    """Bytes of every new tensor storage the ops in ``fn()`` create (forward and backward; views excluded)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                      if isinstance(t, torch.Tensor)}
            fresh = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tree_flatten(out)[0]
                     if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs}
            Count.total += sum(fresh.values())
            return out

    Count.total = 0
    with Count():
        fn()
    return Count.total


def mode_bytes(args) -> dict:
    """Bytes allocated per collocation point by one loss + backward step, split into the value path (a
    value-only step) and the derivative extra (method minus value-only), from the difference of two batch
    sizes so that parameter-sized terms cancel (both sizes above the width: a KAN layer picks its contraction
    order by comparing out_features with N). Deterministic, so no repeats are needed."""
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for d in args.dims:
        for width in args.widths:
            cases = [(m, min(k, d)) for m in args.methods
                     for k in (args.ks if m in ("sdgd", "hutchinson") else [args.k])]
            for method, k in cases:
                per = []
                sizes = (width + 16, width + 48)
                for n in sizes:
                    problem, model, x, f = setup(d, n, width)
                    g = torch.Generator().manual_seed(2)
                    per.append(allocated_bytes(lambda: step(problem, model, x, f, method, k, g)))
                rows.append({"d": d, "width": width, "k": k, "method": method,
                             "bytes_per_point": (per[1] - per[0]) / (sizes[1] - sizes[0])})
        for r in rows:
            if r["d"] == d:
                base = next((q["bytes_per_point"] for q in rows if q["d"] == d and q["width"] == r["width"]
                             and q["method"] == "value"), float("nan"))
                r["derivative_bytes_per_point"] = r["bytes_per_point"] - base
                print(json.dumps(r), flush=True)
    return {"rows": rows}


# --- single steps at very large d ------------------------------------------------------------------------
def mode_huge(args) -> dict:
    """One step per (backbone, method, d) in a fresh subprocess: seconds, CPU seconds and peak memory."""
    rows = []
    for d in args.dims:
        for backbone in args.backbones:
            for method in args.methods:
                sub = argparse.Namespace(**{**vars(args), "backbone": backbone})
                row = {"d": d, "backbone": backbone, "method": method, **run_memory(method, d, sub)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    return {"rows": rows}


# --- training ablation of the variance-control options -------------------------------------------------
def mode_ablation(args) -> dict:
    """Same problem, model init, points and step count; only the Laplacian estimator changes."""
    import torch

    from pde_kan import KAN
    from pde_kan.problems import get_problem
    from pde_kan.solvers import ControlVariateTask, PDETask, SamplingConfig, TrainConfig, fit

    torch.set_num_threads(args.threads)

    class FixedProbes(PDETask):
        """Probe seed frozen: the same K coordinates every step (no per-step resampling)."""

        def batch(self, step, generator, dtype, device):
            x, xb, _ = super().batch(step, generator, dtype, device)
            return x, xb, 12345

    problem = get_problem(args.problem, dim=args.dim, seed=0)
    cases = [(f"sdgd K={k}", "sdgd", k, PDETask) for k in args.ks if k <= args.dim]
    cases.append((f"sdgd K={args.k} fixed probes", "sdgd", args.k, FixedProbes))
    cases.append((f"sdgd K={args.k} + control variate", "sdgd", args.k, ControlVariateTask))
    cases.append((f"hutchinson K={args.k}", "hutchinson", args.k, PDETask))
    cases.append(("jet (exact)", "jet", None, PDETask))
    rows = []
    for name, method, k, task_cls in cases:
        config = TrainConfig(steps=args.steps, lr=args.lr, schedule="exponential", lr_final_factor=args.lr_final,
                             eval_every=args.eval_every, seed=0, device="cpu")
        sampling = SamplingConfig(n_interior=args.n, engine=method, n_probes=k, n_eval=args.n_eval)
        model = KAN([args.dim, args.width, args.width, 1], seed=0)
        sol = fit(task_cls(problem, sampling, seed=config.seed), model, config)
        curve = [(r["step"], r["rel_l2"]) for r in sol.history if "rel_l2" in r]
        row = {"option": name, "rel_l2": sol.metrics["rel_l2"], "seconds": sol.metrics["seconds"],
               "steps": sol.metrics["steps"], "curve": curve}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
    return {"problem": args.problem, "dim": args.dim, "width": args.width, "n_interior": args.n, "rows": rows}


# --- entry point ----------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["scaling", "variance", "converge", "ablation", "huge", "bytes",
                                       "levels", "memory-case"],
                    default="scaling")
    ap.add_argument("--out", help="JSON output path (required except for memory-case)")
    ap.add_argument("--plot", help="PNG path for the scaling plot")
    ap.add_argument("--replot", help="scaling: redraw --plot from this JSON instead of measuring")
    ap.add_argument("--dims", type=int, nargs="+", default=[10, 100, 1000, 10000])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--dim", type=int, default=1000)
    ap.add_argument("--n", type=int, default=100, help="collocation points per step")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--widths", type=int, nargs="+", default=[16, 64], help="bytes mode")
    ap.add_argument("--k", type=int, default=16, help="probe directions (stochastic methods)")
    ap.add_argument("--ks", type=int, nargs="+", default=[1, 4, 16, 64, 256])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--memory-cap-mb", type=float, default=8000.0)
    ap.add_argument("--case-timeout", type=float, default=900.0)
    ap.add_argument("--autograd-max", type=int, default=100, help="largest d timed fully for autograd-exact")
    ap.add_argument("--autograd-probe", type=int, default=20)
    ap.add_argument("--jet-max", type=int, default=10000)
    ap.add_argument("--case-method", default="sdgd")
    ap.add_argument("--case-dim", type=int, default=100)
    ap.add_argument("--draws", type=int, default=200)
    ap.add_argument("--grad-draws", type=int, default=50)
    ap.add_argument("--pretrain", type=int, default=0)
    ap.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=True,
                    help="memory cases: one untimed step first (turn off for the largest d)")
    ap.add_argument("--problem", default="poisson-two-body")
    ap.add_argument("--sampler", default="uniform", help="interior sampler: uniform (in volume) | uniform-radius")
    ap.add_argument("--backbone", default="kan")
    ap.add_argument("--backbones", nargs="+", default=["kan", "metakan"], help="huge mode")
    ap.add_argument("--laplacian", default="sdgd")
    ap.add_argument("--control-variate", action="store_true", help="converge: exact x.grad(raw) for the ansatz")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--first-grid", type=float, default=0.0,
                    help="converge: first-layer grid range (-R, R) (0: [-1, 1] like the other layers)")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--lr-final", type=float, default=0.05)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--target", type=float, default=1e-2)
    ap.add_argument("--budget", type=float, default=1200.0, help="seconds (see --budget-clock)")
    ap.add_argument("--budget-clock", choices=["cpu", "wall"], default="wall")
    args = ap.parse_args(argv)
    if args.mode == "memory-case":
        print(json.dumps(memory_case(args.case_method, args.case_dim, args)))
        return 0
    if args.replot:
        with open(args.replot) as fh:
            plot_scaling(json.load(fh), args.plot)
        return 0
    if not args.out:
        ap.error("--out is required")
    t0 = time.time()
    modes = {"scaling": mode_scaling, "variance": mode_variance, "converge": mode_converge, "ablation": mode_ablation,
             "huge": mode_huge, "bytes": mode_bytes, "levels": mode_levels}
    result = modes[args.mode](args)
    if args.mode == "scaling":
        print_scaling(result)
        if args.plot:
            plot_scaling(result, args.plot)
    import torch

    result.update({
        "command": command_line(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "threads": args.threads, "loadavg_at_end": os.getloadavg()},
        "wall_seconds": time.time() - t0,
    })
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
