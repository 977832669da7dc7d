"""Transfer study: pretrain a KAN on one coefficient set, then fine-tune it to others with five methods.

Families and targets:

* Poisson two-body, d = 10 (``Δu = f`` on the unit ball): source ``c`` from seed 0; targets ``c`` from seed 1
  and ``2 c``.
* Time-dependent Allen–Cahn on the unit ball in R^3 x [0, 1]: source ``c = 0``; targets ``c = 0.5`` and ``c = 2``.
  The ``allen-cahn-time`` ansatz ``u = g_c(|x|) + t (1 - |x|²) raw`` enforces the initial and boundary
  conditions only (``raw`` must learn ``(e^{-t} - 1) g_c / (t (1 - |x|²))``). The recorded JSON was produced
  with a local copy of this ansatz, identical to the registered one since it was corrected.

Methods, every one through ``pde_kan.transfer.transfer`` (the one Trainer, same steps, Adam with an
exponential decay to 0.1x): ``lotra`` (per-component rates of ``pde_kan.transfer.rates``), ``lotra_uniform``
(one rate for core and factors), ``full`` (all parameters), ``last_layer`` and ``scratch`` (fresh init of the
same architecture). Rates: ``--lr`` (1e-2, the pretraining rate) for full / last-layer / scratch, ``--lotra-lr``
(3e-2) as the base rate of both LoTRA variants — the best of {1e-2, 3e-2, 1e-1} in a pilot on the Poisson
targets (1e-1 diverged; 1e-2 was 1.5-2x worse), as LoRA-type adapters generally want a larger rate than full
fine-tuning. Sized for two shared CPU cores (widths [d, 32, 32, 1], 1500 pretraining and 300 fine-tuning
steps, 2000 evaluation points), so the absolute errors are those of short runs.

Reported per target: rel L2 against steps, final rel L2, trainable parameters, seconds; and the three checks
of the target: LoTRA's error within 1.5x of full fine-tuning's, with at most 10% of its trainable parameters,
and LoTRA reaching scratch's final error within a third of the steps. Writes JSON (``--out``) with the exact
command line, and a figure of error against step (``--figure``).

    python benchmarks/transfer.py --out benchmarks/results/transfer.json --figure benchmarks/results/transfer.png
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time

import torch

from pde_kan import KAN
from pde_kan.problems import AllenCahnTime, Poisson
from pde_kan.solvers import TrainConfig, solve
from pde_kan.transfer import LoTRAConfig, transfer

from _common import write_json  # noqa: E402 (this folder is on sys.path when run as a script)


def families(ac_spatial_dim: int):
    poisson = Poisson.two_body(dim=10, seed=0)
    ac = AllenCahnTime(spatial_dim=ac_spatial_dim, c=0.0)
    return {
        "poisson10d": (poisson, {
            "poisson10d: c from seed 1": poisson.with_params(coeffs=Poisson.two_body(dim=10, seed=1).coeffs),
            "poisson10d: 2c": poisson.with_params(coeffs=[2 * c for c in poisson.coeffs]),
        }),
        "allen_cahn_time": (ac, {
            "allen-cahn-time: c 0 -> 0.5": ac.with_params(c=0.5),
            "allen-cahn-time: c 0 -> 2": ac.with_params(c=2.0),
        }),
    }


METHODS = ("lotra", "lotra_uniform", "full", "last_layer", "scratch")


def curve(sol) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r["rel_l2"])) for r in sol.history if "rel_l2" in r]


def zero_shot_error(model, problem, n: int) -> float:
    """rel L2 of the source model, unchanged, on the target problem (the starting point of fine-tuning)."""
    x = problem.sample_interior(n, torch.Generator().manual_seed(1))
    with torch.no_grad():
        u = problem.ansatz(x, model(x))
    exact = problem.exact(x)
    return float((u - exact).norm() / exact.norm())


def steps_to_reach(points, level: float) -> float:
    """First evaluated step at which the error is <= level (inf if never)."""
    for step, err in points:
        if err <= level:
            return step
    return math.inf


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    base_cfg = dict(n_interior=args.n_interior, n_eval=args.n_eval, laplacian="jet", device="cpu", seed=0)
    lotra = LoTRAConfig(ranks=tuple(args.ranks), reference_width=args.reference_width,
                        lr_ratios={"core": args.core_ratio})
    record = {"command": " ".join([sys.executable.split("/")[-1], *sys.argv]), "platform": platform.platform(),
              "torch": torch.__version__, "settings": vars(args), "targets": {}, "sources": {}}
    fams = families(args.ac_spatial_dim)
    for fam in args.families:
        source_problem, targets = fams[fam]
        t0 = time.perf_counter()
        model = KAN([source_problem.dim, *args.hidden, 1], seed=0)
        source = solve(source_problem, model, TrainConfig(
            steps=args.pretrain_steps, lr=args.pretrain_lr, schedule="exponential", lr_final_factor=0.1,
            eval_every=max(args.pretrain_steps // 4, 1), **base_cfg))
        record["sources"][fam] = {"problem": source_problem.params(), "rel_l2": source.metrics["rel_l2"],
                                  "steps": args.pretrain_steps, "seconds": time.perf_counter() - t0,
                                  "trainable_parameters": source.metrics["trainable_parameters"]}
        print(f"[{fam}] source rel L2 {source.metrics['rel_l2']:.3e} after {args.pretrain_steps} steps "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        for tname, target in targets.items():
            cfg = TrainConfig(steps=args.steps, lr=args.lr, eval_every=args.eval_every, schedule="exponential",
                              lr_final_factor=0.1, **base_cfg)
            rows = {}
            for method in METHODS:
                t1 = time.perf_counter()
                if method.startswith("lotra"):
                    lcfg = lotra if method == "lotra" else lotra.replace(lr_rule="uniform")
                    sol = transfer(source, target, method="lotra", config=cfg.replace(lr=args.lotra_lr), lotra=lcfg)
                else:
                    sol = transfer(source, target, method=method, config=cfg)
                rows[method] = {"rel_l2": sol.metrics["rel_l2"], "curve": curve(sol),
                                "trainable_parameters": sol.metrics["trainable_parameters"],
                                "seconds": time.perf_counter() - t1}
                print(f"  {tname:32s} {method:14s} rel L2 {sol.metrics['rel_l2']:.3e}  params "
                      f"{sol.metrics['trainable_parameters']:6d}  {rows[method]['seconds']:6.1f} s", flush=True)
            zero_shot = zero_shot_error(source.model, target, args.n_eval)
            lo, full, scratch = rows["lotra"], rows["full"], rows["scratch"]
            reach = steps_to_reach(lo["curve"], scratch["rel_l2"])
            checks = {
                "lotra_over_full_error": lo["rel_l2"] / full["rel_l2"],
                "lotra_over_full_params": lo["trainable_parameters"] / full["trainable_parameters"],
                "lotra_steps_to_scratch_final_fraction": reach / args.steps,
                "lotra_over_uniform_error": lo["rel_l2"] / rows["lotra_uniform"]["rel_l2"],
            }
            checks["pass_error_within_1.5x_full"] = checks["lotra_over_full_error"] <= 1.5
            checks["pass_params_at_most_10pct"] = checks["lotra_over_full_params"] <= 0.10
            checks["pass_scratch_final_within_third"] = checks["lotra_steps_to_scratch_final_fraction"] <= 1 / 3
            record["targets"][tname] = {"family": fam, "problem": target.params(), "methods": rows,
                                        "source_model_rel_l2": zero_shot, "checks": checks}
    return record


def print_table(record: dict) -> None:
    print(f"\n{'target':32s} {'method':14s} {'rel L2':>10s} {'params':>7s} {'s':>6s}")
    for tname, t in record["targets"].items():
        for m, r in t["methods"].items():
            print(f"{tname:32s} {m:14s} {r['rel_l2']:10.3e} {r['trainable_parameters']:7d} {r['seconds']:6.1f}")
        c = t["checks"]
        print(f"{'':32s} source model on the target: rel L2 {t['source_model_rel_l2']:.3e}")
        print(f"{'':32s} lotra/full error {c['lotra_over_full_error']:.2f} (<= 1.5: "
              f"{c['pass_error_within_1.5x_full']}), params {c['lotra_over_full_params']:.3f} (<= 0.10: "
              f"{c['pass_params_at_most_10pct']}), steps to scratch's final "
              f"{c['lotra_steps_to_scratch_final_fraction']:.2f} (<= 1/3: {c['pass_scratch_final_within_third']}), "
              f"lotra/uniform error {c['lotra_over_uniform_error']:.2f}")


def plot(record: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(record["targets"])
    cols = min(2, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    for ax, tname in zip(axes.flat, names):
        for m, r in record["targets"][tname]["methods"].items():
            if r["curve"]:
                s, e = zip(*r["curve"])
                ax.semilogy(s, e, label=f"{m} ({r['trainable_parameters']})")
        ax.set_title(tname, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("rel L2")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON record")
    ap.add_argument("--figure", help="PNG of rel L2 against step")
    ap.add_argument("--families", nargs="+", default=["poisson10d", "allen_cahn_time"],
                    choices=["poisson10d", "allen_cahn_time"])
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    ap.add_argument("--pretrain-steps", type=int, default=1500)
    ap.add_argument("--pretrain-lr", type=float, default=1e-2)
    ap.add_argument("--steps", type=int, default=300, help="fine-tuning steps of every method")
    ap.add_argument("--lr", type=float, default=1e-2, help="learning rate of full, last_layer and scratch")
    ap.add_argument("--lotra-lr", type=float, default=3e-2,
                    help="base rate of both LoTRA variants (the rule scales it per component)")
    ap.add_argument("--ranks", type=int, nargs=3, default=[4, 4, 3])
    ap.add_argument("--reference-width", type=int, default=16)
    ap.add_argument("--core-ratio", type=float, default=1.0)
    ap.add_argument("--eval-every", type=int, default=25)
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--n-interior", type=int, default=100)
    ap.add_argument("--ac-spatial-dim", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    record = run(args)
    record["total_seconds"] = time.perf_counter() - t0
    print_table(record)
    write_json(args.out, record)
    if args.figure:
        plot(record, args.figure)
        print(f"wrote {args.figure}")
    print(f"total {record['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
