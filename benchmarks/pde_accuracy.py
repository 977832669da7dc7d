"""PDE accuracy benchmark: Poisson and Allen–Cahn two-body at d = 10 with KAN, MetaKAN, Slim KAN and MLP.

Each (problem, backbone) case runs in a fresh subprocess so its peak memory (process high-water mark) is its
own; the parent prints a table of rel L2, parameters, seconds, ms/step and peak memory and writes JSON.

    python benchmarks/pde_accuracy.py --steps 5000 --out benchmarks/results/pde_accuracy.json

Reference anchors measured on this kind of CPU (not re-run here): the official MetaKAN script reaches rel L2
0.040 after 201 steps at 3.2 s per step with 3.1 GB peak memory (it evaluates 20k test points every step);
DeepXDE with an MLP [10, 128, 128, 128, 1] and a hard BC reaches 0.074 after 2000 Adam iterations at 16 ms per
iteration.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

from _common import write_json

OFFICIAL_METAKAN = {"rel_l2_after_201_steps": 0.040, "seconds_per_step": 3.2, "peak_memory_mb": 3100.0}

BACKBONES = ("kan", "metakan", "slimkan", "mlp")
#: backbone keywords, one flat mapping (each backbone takes those its constructor has; the rest keep their defaults)
BACKBONE_SETTINGS = {"ranks": [16, 16, 6]}


def run_case(problem_name: str, backbone: str, args) -> dict:
    import torch

    from pde_kan.problems import get_problem
    from pde_kan.solvers import SamplingConfig, TrainConfig, solve
    from pde_kan.validation.suite import build_backbone

    torch.set_num_threads(args.threads)
    problem = get_problem(problem_name, dim=args.dim, seed=0)
    model = build_backbone(backbone, [args.dim, *args.hidden, 1], BACKBONE_SETTINGS)
    config = TrainConfig(steps=args.steps, lr=args.lr, schedule="exponential", lr_final_factor=args.lr_final,
                         eval_every=max(args.steps // 10, 1), seed=0, device="cpu")
    sol = solve(problem, model, config, SamplingConfig(n_interior=100, engine="jet", n_eval=20000))
    curve = [(r["step"], r["rel_l2"]) for r in sol.history if "rel_l2" in r]
    return {"problem": problem_name, "backbone": backbone, **sol.metrics,
            "ms_per_step": 1000 * sol.metrics["seconds"] / sol.metrics["steps"], "curve": curve,
            "model_config": model.config}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=10)
    ap.add_argument("--hidden", type=int, nargs="+", default=[64, 64, 64])
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--lr-final", type=float, default=0.01, help="exponential decay to lr * lr_final")
    ap.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    ap.add_argument("--problems", nargs="+", default=["poisson-two-body", "allen-cahn-two-body"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--case", nargs=2, metavar=("PROBLEM", "BACKBONE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.case:
        print(json.dumps(run_case(*args.case, args)))
        return
    rows = []
    passthrough = [a for a in (argv if argv is not None else sys.argv[1:])]
    for problem in args.problems:
        for backbone in args.backbones:
            t = time.time()
            proc = subprocess.run([sys.executable, __file__, *passthrough, "--case", problem, backbone],
                                  capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(args.threads)})
            if proc.returncode != 0:
                raise RuntimeError(f"case {problem}/{backbone} failed:\n{proc.stderr[-2000:]}")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(f"{problem:22s} {backbone:8s} rel_l2={row['rel_l2']:.3e} params={row['trainable_parameters']:6d} "
                  f"{row['ms_per_step']:.1f} ms/step peak={row['peak_memory_mb']:.0f} MB ({time.time() - t:.0f} s)",
                  flush=True)
    meta = [r for r in rows if r["backbone"] == "metakan"]
    ratios = {}
    if meta:
        m = meta[0]
        ratios = {"metakan_step_speedup_vs_official": OFFICIAL_METAKAN["seconds_per_step"] * 1000 / m["ms_per_step"],
                  "metakan_peak_memory_fraction_of_official": m["peak_memory_mb"] / OFFICIAL_METAKAN["peak_memory_mb"]}
        print({k: round(v, 3) for k, v in ratios.items()})
    record = {"command": "python " + " ".join([os.path.relpath(__file__), *passthrough]),
              "torch_threads": args.threads, "machine": platform.platform(), "processor": platform.processor(),
              "python": platform.python_version(), "official_metakan_anchor": OFFICIAL_METAKAN,
              "ratios": ratios, "rows": rows}
    write_json(args.out, record)


if __name__ == "__main__":
    main()
