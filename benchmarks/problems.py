"""Shipped PDE problems (issue 15): KAN and MLP on heat 2-D, wave 1-D, Helmholtz 2-D and Burgers 1-D, plus the
cost of writing a residual by hand.

Two parts, both in this one process (these machines are noisy; competitors run side by side):

1. **Overhead of the residual API.** A Laplacian-only residual written as ``residual(x, u)`` with condition
   objects (:class:`pde_kan.problems.PDE`) against the built-in problem it restates — the two-body Poisson on
   the 10-D ball (hard Dirichlet) and the sine cube in 5-D (soft Dirichlet) — same model, same points. The two
   are timed alternately, ``--repeats`` times ``--overhead-steps`` steps each; the ratio of the medians is
   reported (target <= 1.1).
2. **Accuracy.** KAN and MLP (pde_kan, hard conditions built by the library) on each problem at the same step
   budget, rel L2 against the exact / Cole–Hopf solution and seconds per step; and a DeepXDE MLP with its usual
   soft boundary / initial losses on the same problem and budget as a reference point (``--no-deepxde`` skips).

    python benchmarks/problems.py --steps 2000 --out benchmarks/results/problems.json
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time

from _common import command_line, write_json

PROBLEMS = ["heat-sine", "wave-1d", "helmholtz-2d", "burgers-1d"]


def overhead(args) -> list[dict]:
    import torch

    from pde_kan import KAN
    from pde_kan.problems import PDE, Ball, Box, Dirichlet, Poisson
    from pde_kan.solvers import SamplingConfig, TrainConfig, solve

    two_body = Poisson.two_body(10, seed=0)
    cube = Poisson.sine_cube(5)
    cases = [
        ("poisson-two-body d=10 (hard)", two_body,
         PDE(lambda x, u: u.laplacian - two_body.source(x), domain=Ball(10), conditions=[Dirichlet(0.0)],
             exact=two_body.exact)),
        ("poisson-sine-cube d=5 (soft)", cube,
         PDE(lambda x, u: -u.laplacian - cube.source(x), domain=Box.cube(5), conditions=[Dirichlet(cube.exact)],
             exact=cube.exact, boundary_weight=cube.boundary_weight)),
    ]
    rows = []
    for label, builtin, written in cases:
        cfg = TrainConfig(steps=args.overhead_steps, lr=1e-2, eval_every=0, seed=0, device="cpu")
        sampling = SamplingConfig(n_interior=args.n_interior, n_boundary=100, n_eval=100)
        times = {"builtin": [], "pde": []}
        for rep in range(args.repeats):
            for name, prob in (("builtin", builtin), ("pde", written)) if rep % 2 == 0 else \
                    (("pde", written), ("builtin", builtin)):
                torch.manual_seed(0)
                sol = solve(prob, KAN([prob.dim, 32, 32, 1]), cfg, sampling)
                times[name].append(sol.metrics["seconds"] / sol.metrics["steps"])
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"case": label, "ms_per_step_builtin": 1e3 * med["builtin"], "ms_per_step_pde": 1e3 * med["pde"],
                     "ratio_pde_over_builtin": med["pde"] / med["builtin"], "repeats": args.repeats,
                     "steps_per_repeat": args.overhead_steps, "routing": written.routing("jet")})
        print(f"overhead {label:32s} built-in {1e3 * med['builtin']:.2f} ms/step, PDE {1e3 * med['pde']:.2f} "
              f"ms/step, ratio {med['pde'] / med['builtin']:.3f}")
    return rows


def run_pde_kan(problem_name: str, backbone: str, args) -> dict:
    from pde_kan import KAN, MLP
    from pde_kan.problems import get_problem
    from pde_kan.solvers import SamplingConfig, TrainConfig, solve

    problem = get_problem(problem_name)
    if backbone == "kan":
        model, lr = KAN([problem.dim, *args.kan_hidden, 1]), args.kan_lr
    else:
        model, lr = MLP([problem.dim, *args.mlp_hidden, 1], activation="tanh"), args.mlp_lr
    cfg = TrainConfig(steps=args.steps, lr=lr, schedule="exponential", lr_final_factor=args.lr_final,
                      eval_every=max(args.steps // 5, 1), seed=0, device="cpu")
    sampling = SamplingConfig(n_interior=args.n_interior, n_boundary=args.n_boundary, n_eval=args.n_eval)
    sol = solve(problem, model, cfg, sampling)
    return {"problem": problem_name, "method": f"pde_kan {backbone}", "rel_l2": sol.metrics["rel_l2"],
            "s_per_step": sol.metrics["seconds"] / sol.metrics["steps"], "steps": sol.metrics["steps"],
            "lr": lr, "trainable_parameters": sol.metrics["trainable_parameters"],
            "curve": [(r["step"], r["rel_l2"]) for r in sol.history if "rel_l2" in r],
            "conditions": {"hard": [c.describe() for c in problem.hard_conditions],
                           "soft": list(problem.soft_conditions)}}


def run_deepxde(problem_name: str, args) -> dict:
    """DeepXDE 1.15, FNN tanh, soft boundary / initial losses, Adam with the same budget and decay."""
    import numpy as np
    import torch

    from pde_kan.interop.deepxde import load_deepxde, set_float
    from pde_kan.nn import n_parameters
    from pde_kan.problems import get_problem

    dde = load_deepxde()
    set_float("float64")
    problem = get_problem(problem_name)
    pi = math.pi
    dde.config.set_random_seed(0)

    def on_b(_, on_boundary):
        return on_boundary

    if problem_name == "helmholtz-2d":
        geom = dde.geometry.Rectangle([-1, -1], [1, 1])
        a, k = (1.0, 4.0), 1.0

        def pde(x, y):
            lap = dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1)
            f = (k ** 2 - (a[0] ** 2 + a[1] ** 2) * pi ** 2) * torch.sin(a[0] * pi * x[:, 0:1]) * \
                torch.sin(a[1] * pi * x[:, 1:2])
            return lap + k ** 2 * y - f

        bcs = [dde.icbc.DirichletBC(geom, lambda x: np.zeros((len(x), 1)), on_b)]
        data = dde.data.PDE(geom, pde, bcs, num_domain=args.n_interior, num_boundary=args.n_boundary)
    else:
        lo, hi = (-1.0, 1.0) if problem_name == "burgers-1d" else (0.0, 1.0)
        space = dde.geometry.Rectangle([0, 0], [1, 1]) if problem_name == "heat-sine" else \
            dde.geometry.Interval(lo, hi)
        geom = dde.geometry.GeometryXTime(space, dde.geometry.TimeDomain(0, 1))
        sd = 2 if problem_name == "heat-sine" else 1

        def pde(x, y):
            dy_t = dde.grad.jacobian(y, x, i=0, j=sd)
            if problem_name == "heat-sine":
                return dy_t - 0.1 * (dde.grad.hessian(y, x, i=0, j=0) + dde.grad.hessian(y, x, i=1, j=1))
            if problem_name == "wave-1d":
                return dde.grad.hessian(y, x, i=sd, j=sd) - dde.grad.hessian(y, x, i=0, j=0)
            nu = 0.01 / pi
            return dy_t + y * dde.grad.jacobian(y, x, i=0, j=0) - nu * dde.grad.hessian(y, x, i=0, j=0)

        def u0(x):
            t = torch.as_tensor(x, dtype=torch.float64)
            t = torch.cat([t[:, :sd], torch.zeros_like(t[:, :1])], 1)
            return problem.exact(t).numpy()[:, None]

        ics = [dde.icbc.DirichletBC(geom, lambda x: np.zeros((len(x), 1)), on_b),
               dde.icbc.IC(geom, u0, lambda _, on_initial: on_initial)]
        if problem_name == "wave-1d":
            ics.append(dde.icbc.OperatorBC(geom, lambda x, y, _: dde.grad.jacobian(y, x, i=0, j=sd),
                                           lambda x, _: dde.utils.isclose(x[sd], 0)))
        data = dde.data.TimePDE(geom, pde, ics, num_domain=args.n_interior, num_boundary=args.n_boundary,
                                num_initial=args.n_boundary)
    net = dde.nn.FNN([problem.dim, *args.mlp_hidden, 1], "tanh", "Glorot normal")
    model = dde.Model(data, net)
    model.compile("adam", lr=args.mlp_lr, decay=("inverse time", args.steps, 1 / args.lr_final - 1))
    start = time.perf_counter()
    model.train(iterations=args.steps, display_every=args.steps)
    seconds = time.perf_counter() - start
    import torch as _t

    g = _t.Generator().manual_seed(1)
    x = problem.sample_interior(args.n_eval, g)
    pred = _t.as_tensor(model.predict(x.numpy()))[:, 0]
    exact = problem.exact(x)
    rel = float((pred - exact).norm() / exact.norm())
    return {"problem": problem_name, "method": "deepxde mlp (soft BC/IC)", "rel_l2": rel,
            "s_per_step": seconds / args.steps, "steps": args.steps, "lr": args.mlp_lr,
            "trainable_parameters": n_parameters(net, trainable_only=False)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--problems", nargs="+", default=PROBLEMS)
    ap.add_argument("--backbones", nargs="+", default=["kan", "mlp"])
    ap.add_argument("--kan-hidden", type=int, nargs="+", default=[16, 16])
    ap.add_argument("--mlp-hidden", type=int, nargs="+", default=[64, 64])
    ap.add_argument("--kan-lr", type=float, default=1e-2)
    ap.add_argument("--mlp-lr", type=float, default=1e-3)
    ap.add_argument("--lr-final", type=float, default=0.05)
    ap.add_argument("--n-interior", type=int, default=256)
    ap.add_argument("--n-boundary", type=int, default=64)
    ap.add_argument("--n-eval", type=int, default=5000)
    ap.add_argument("--overhead-steps", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=6)
    ap.add_argument("--no-deepxde", action="store_true")
    ap.add_argument("--no-overhead", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    t0 = time.time()
    over = [] if args.no_overhead else overhead(args)
    rows = []
    for name in args.problems:
        for backbone in args.backbones:
            row = run_pde_kan(name, backbone, args)
            rows.append(row)
            print(f"{name:14s} {row['method']:26s} rel_l2={row['rel_l2']:.3e} {1e3 * row['s_per_step']:.1f} ms/step")
        if not args.no_deepxde:
            row = run_deepxde(name, args)
            rows.append(row)
            print(f"{name:14s} {row['method']:26s} rel_l2={row['rel_l2']:.3e} {1e3 * row['s_per_step']:.1f} ms/step")
    payload = {"command": command_line(), "load_average_before": load_before, "load_average_after": os.getloadavg(),
               "cpu_count": os.cpu_count(), "threads": args.threads, "platform": platform.platform(),
               "torch": torch.__version__, "wall_seconds": time.time() - t0, "settings": vars(args),
               "overhead": over, "accuracy": rows,
               "note": "one seed, one learning rate per method (no sweep), CPU shared with other jobs"}
    write_json(args.out, payload)


if __name__ == "__main__":
    main()
