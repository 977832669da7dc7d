"""Feynman function fitting: KAN vs MetaKAN vs Slim KAN vs MLP on the AI Feynman equations.

Every backbone is trained on every chosen equation with the one training loop (``pde_kan.solvers.fit``) through
``pde_kan.validation.FunctionFittingSuite``: reference widths ``[n_vars, 5, 5, 5, 1]``, MetaKAN embedding 1 /
hypernet hidden 16 / one shared hypernet, L-BFGS (lr 1) for ``--steps`` steps in float64, 1000 train and 1000
test points per equation from the published sampling ranges. Reported per equation and backbone: test RMSE (in
the equation's units), NRMSE (RMSE / std of the test targets), trainable parameters and seconds; the summary gives,
per backbone, the median NRMSE and the median ratio of its NRMSE and parameter count to KAN's on the same
equations.

    python benchmarks/feynman.py --out benchmarks/results/feynman_suite.json            # all 120 equations
    python benchmarks/feynman.py --equations I.6.20b I.12.11 --steps 50 --out /tmp/f.json
"""
from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time

from _common import command_line, write_json


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--equations", nargs="+", help="equation names (default: all 120 benchmark equations)")
    parser.add_argument("--first", type=int, help="only the first N equations of the (given or full) list")
    parser.add_argument("--backbones", nargs="+", default=["kan", "metakan", "slimkan", "mlp"])
    parser.add_argument("--steps", type=int, default=200, help="L-BFGS steps (Adam steps with --optimizer adam)")
    parser.add_argument("--optimizer", default="lbfgs", choices=["lbfgs", "adam"])
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate")
    parser.add_argument("--n-train", type=int, default=1000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch intra-op threads (1: spinning threads slow tiny ops on a shared CPU)")
    parser.add_argument("--out", required=True, help="JSON file to write")
    args = parser.parse_args(argv)

    import logging

    import torch

    torch.set_num_threads(args.threads)
    from pde_kan.validation.feynman import available_equations, run_feynman

    # one line per (equation, backbone) as it finishes, from the suite's own log records
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("pde_kan")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    names = args.equations or available_equations("benchmark")
    if args.first:
        names = names[: args.first]
    start = time.perf_counter()
    report = run_feynman(names, backbones=args.backbones, steps=args.steps, optimizer=args.optimizer, lr=args.lr,
                         n_train=args.n_train, n_test=args.n_test, seed=args.seed, device="cpu")
    total = time.perf_counter() - start
    print(report.to_text())

    rows = report.rows
    kan = {r["task"]: r for r in rows if r["backbone"] == "kan"}
    summary = {}
    for b in args.backbones:
        mine = [r for r in rows if r["backbone"] == b and r["status"] == "ok"]
        entry = {"equations": len(mine),
                 "median_nrmse": statistics.median(r["nrmse"] for r in mine) if mine else math.nan,
                 "median_params": statistics.median(r["params"] for r in mine) if mine else math.nan,
                 "diverged": sum(r["status"] != "ok" for r in rows if r["backbone"] == b)}
        paired = [(r, kan[r["task"]]) for r in mine if r["task"] in kan and kan[r["task"]]["status"] == "ok"]
        if paired and b != "kan":
            entry["median_nrmse_ratio_to_kan"] = statistics.median(
                r["nrmse"] / max(k["nrmse"], 1e-300) for r, k in paired)
            entry["median_params_ratio_to_kan"] = statistics.median(r["params"] / k["params"] for r, k in paired)
            entry["wins_vs_kan"] = sum(r["nrmse"] < k["nrmse"] for r, k in paired)
        summary[b] = entry
    print("\nsummary (medians over equations; ratios to KAN on the same equation)")
    print(f"{'backbone':10s} {'eqs':>4s} {'median NRMSE':>13s} {'NRMSE/KAN':>10s} {'params/KAN':>11s} {'wins':>5s}")
    for b, e in summary.items():
        print(f"{b:10s} {e['equations']:4d} {e['median_nrmse']:13.3e} "
              f"{e.get('median_nrmse_ratio_to_kan', 1.0):10.3g} {e.get('median_params_ratio_to_kan', 1.0):11.3g} "
              f"{e.get('wins_vs_kan', '-')!s:>5s}")
    print(f"total {total:.0f} s")

    result = {
        "command": command_line(),
        "platform": platform.platform(), "torch": torch.__version__, "threads": args.threads,
        "equations": names, "steps": args.steps, "optimizer": args.optimizer, "seconds_total": total,
        "summary": summary, "report": report.to_dict(),
    }
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
