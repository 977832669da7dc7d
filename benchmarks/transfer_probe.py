"""Probe one transfer target: LoTRA at several rank budgets and full fine-tuning, each over a few learning rates,
at one step budget; the rate of each (method, budget) is chosen on the mean training loss of the last 10 steps
(never on the error against the exact solution, which is only reported).

Target: time-dependent Allen–Cahn on the unit ball in R^3 x [0, 1], ``c`` 0 -> 0.5, from a KAN [4, 32, 32, 1]
pretrained as in benchmarks/transfer.py (3000 steps, Adam 1e-2, exponential decay to 0.1x): the one nearby target
where LoTRA at its defaults trails full fine-tuning by more than 1.5x (docs/transfer.md). Question: is the rank
budget what holds it back?

    OMP_NUM_THREADS=1 python benchmarks/transfer_probe.py --out benchmarks/results/transfer_probe_allen_cahn.json
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import torch

from pde_kan import KAN
from pde_kan.problems import AllenCahnTime
from pde_kan.solvers import SamplingConfig, TrainConfig, solve
from pde_kan.transfer import LoTRAConfig, transfer

from _common import command_line, write_json  # noqa: E402 (this folder is on sys.path when run as a script)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--budgets", type=float, nargs="+", default=[0.15, 0.3, 0.6, 1.0])
    ap.add_argument("--lotra-lrs", type=float, nargs="+", default=[1e-2, 3e-2, 1e-1])
    ap.add_argument("--full-lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0, load = time.perf_counter(), os.getloadavg()
    source = AllenCahnTime(spatial_dim=3, c=0.0)
    cfg = TrainConfig(steps=3000, lr=1e-2, schedule="exponential", lr_final_factor=0.1, eval_every=3000,
                      device="cpu", seed=0)
    base = solve(source, KAN([4, 32, 32, 1], seed=0), cfg, SamplingConfig(n_interior=100, n_eval=2000))
    print(f"source rel L2 {base.metrics['rel_l2']:.2e}", flush=True)
    target = source.with_params(c=0.5)
    run_cfg = TrainConfig(steps=args.steps, schedule="exponential", lr_final_factor=0.1, eval_every=0, device="cpu")
    runs = []
    grid = [("full", None, args.full_lrs)] + [("lotra", b, args.lotra_lrs) for b in args.budgets]
    for method, budget, lrs in grid:
        for lr in lrs:
            lotra = LoTRAConfig(rank_budget=budget) if budget is not None else None
            sol = transfer(target, base, method=method, config=run_cfg, lr=lr, lotra=lotra)
            row = {"method": method, "rank_budget": budget, "lr": lr, "rel_l2": sol.metrics["rel_l2"],
                   "train_loss_last10": sum(r["loss"] for r in sol.history[-10:]) / 10,
                   "trainable_parameters": sol.metrics["trainable_parameters"]}
            runs.append(row)
            print(row, flush=True)
    chosen = {}
    for method, budget, _ in grid:
        rows = [r for r in runs if r["method"] == method and r["rank_budget"] == budget]
        best = min(rows, key=lambda r: r["train_loss_last10"])
        chosen[f"{method}" + ("" if budget is None else f" budget {budget}")] = best
    full = chosen["full"]["rel_l2"]
    for name, row in chosen.items():
        print(f"{name:22s} lr {row['lr']:.0e}  rel L2 {row['rel_l2']:.2e}  x full {row['rel_l2'] / full:.2f}  "
              f"params {row['trainable_parameters']}")
    write_json(args.out, {"command": command_line(), "platform": platform.platform(), "torch": torch.__version__,
                          "settings": vars(args), "load_average_start": load, "load_average_end": os.getloadavg(),
                          "source_rel_l2": base.metrics["rel_l2"], "runs": runs,
                          "selection": "per (method, rank budget): the lr with the lowest mean training loss over "
                                       "the last 10 steps", "chosen": chosen,
                          "seconds": time.perf_counter() - t0})
    return 0


if __name__ == "__main__":
    sys.exit(main())
