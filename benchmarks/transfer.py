"""Transfer study: pretrain one base per backbone, then fine-tune it to nearby and unrelated coefficients with every
method of ``pde_kan.transfer.transfer`` at its DEFAULT learning rate, at three step budgets, and (optionally)
train a family of 20 coefficient sets with an ``AdapterBank``.

Family: Poisson two-body, d = 10 (``Δu = f`` on the unit ball), source coefficients ``c`` (seed 0). Targets:

* ``eps=0.1``, ``eps=0.5``: ``c + eps * δ`` with ``δ`` an independent draw of the same distribution (seed 1);
* ``1.2c``, ``2c``: scaled sources;
* ``unrelated``: the coefficients of seed 1 (reported, not targeted: nothing in the source helps there);
* optionally (``--allen-cahn``) time-dependent Allen–Cahn on the unit ball in R^3 x [0, 1], ``c`` 0 -> 0.5.

Methods (``transfer(..., lr="default")``: :data:`pde_kan.transfer.api.METHOD_RATES`): ``lotra`` (``LoTRAConfig()``:
auto ranks within 15 % of full fine-tuning's parameters, base weights adapted, width- and rank-scaled rates at
base 3e-2), ``full`` (0.3x the source rate), ``last_layer`` (3x), ``scratch`` (3x; a fresh model of the same
architecture). Every run: Adam, exponential decay to 0.1x over its own steps, the same collocation seed per
seed index, the same evaluation points (``n_eval`` Monte-Carlo points of the run's seed). The default rates come
from sweeps that chose on the training loss (never on the error against the exact solution); nothing here
selects or stops on that error: it is only reported.

Checks of issue 14 per nearby target (eps <= 0.5, scaled), from the 500-step runs' curves and the 150-step runs:
LoTRA reaches scratch's 500-step error within a third of the steps (<= 166), LoTRA's error at 150 steps is within
1.5x of full fine-tuning's, and the adapter file (``save_adapter``) is at most a quarter of the model file
(``torch.save`` of the state dict).

Adapter bank (``--bank N``): N coefficient sets ``c + 0.3 δ_k`` (δ_k from seeds 100..), each trained with the
bank (warm start from the nearest of the base and the stored sets, each of ``--bank-steps`` fixed budgets) and
from scratch (``--bank-scratch-steps`` steps at scratch's default rate); reported: total seconds, how many sets
reach rel L2 <= 5e-3 (fixed budgets: nothing stops on the error), disk (one bank file vs one model file per
scratch run).

    python benchmarks/transfer.py --out benchmarks/results/transfer.json --figure benchmarks/results/transfer.png
"""
from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

from pde_kan import KAN, MetaKAN, SlimKAN
from pde_kan.problems import AllenCahnTime, Poisson
from pde_kan.problems.poisson import draw_coeffs
from pde_kan.solvers import SamplingConfig, TrainConfig, solve
from pde_kan.transfer import AdapterBank, LoTRAConfig, LoTRAModel, default_lr, transfer

from _common import command_line, write_json  # noqa: E402 (this folder is on sys.path when run as a script)

BACKBONES = {
    "kan": lambda d, hidden: KAN([d, *hidden, 1], seed=0),
    "slimkan": lambda d, hidden: SlimKAN([d, *hidden, 1], seed=0),
    "metakan": lambda d, hidden: MetaKAN([d, *hidden, 1], seed=0),
}
METHODS = ("lotra", "full", "last_layer", "scratch")
NEARBY = ("eps=0.1", "eps=0.5", "1.2c", "2c", "allen-cahn c 0 -> 0.5")


def poisson_targets(source):
    c, d = source.coeffs, Poisson.two_body(dim=source.dim, seed=1).coeffs
    return {
        "eps=0.1": source.with_params(coeffs=[a + 0.1 * b for a, b in zip(c, d)]),
        "eps=0.5": source.with_params(coeffs=[a + 0.5 * b for a, b in zip(c, d)]),
        "1.2c": source.with_params(coeffs=[1.2 * a for a in c]),
        "2c": source.with_params(coeffs=[2 * a for a in c]),
        "unrelated": source.with_params(coeffs=list(d)),
    }


def curve(sol) -> list[tuple[int, float]]:
    return [(int(r["step"]), float(r["rel_l2"])) for r in sol.history if "rel_l2" in r]


def steps_to_reach(points, level: float) -> float:
    """First evaluated step at which the error is <= level (inf if never)."""
    for step, err in points:
        if err <= level:
            return step
    return math.inf


def file_sizes(model, base=None) -> dict[str, int]:
    """Bytes of the model file (the state dict of ``base``, the source model, when given; else of ``model``)
    and, for a LoTRA model, of its adapter (``adapter.pt``)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = {}
        if isinstance(model, LoTRAModel):
            out["adapter_bytes"] = (model.save_adapter(Path(tmp) / "a") / "adapter.pt").stat().st_size
        torch.save((base if base is not None else model).state_dict(), Path(tmp) / "m.pt")
        out["model_bytes"] = (Path(tmp) / "m.pt").stat().st_size
    return out


def run_target(args, source, target, base_cfg, seed) -> dict:
    rows = {}
    for method in METHODS:
        rows[method] = {}
        for steps in args.budgets:
            cfg = base_cfg.replace(steps=steps, eval_every=args.eval_every, seed=seed)
            lotra = LoTRAConfig(seed=seed)
            t = time.perf_counter()
            sol = transfer(target, source, method=method, config=cfg, lr="default", lotra=lotra)
            row = {"rel_l2": sol.metrics["rel_l2"], "lr": sol.config.lr, "seconds": time.perf_counter() - t,
                   "trainable_parameters": sol.metrics["trainable_parameters"],
                   "final_loss": [r["loss"] for r in sol.history][-1]}
            if steps == max(args.budgets):
                row["curve"] = curve(sol)
                row.update(file_sizes(sol.model, source.model))
            rows[method][str(steps)] = row
            print(f"    seed {seed} {method:10s} {steps:4d} steps  lr {sol.config.lr:.1e}  rel L2 "
                  f"{row['rel_l2']:.3e}  params {row['trainable_parameters']:6d}  {row['seconds']:5.1f} s", flush=True)
    return rows


def checks(rows, budgets) -> dict:
    big, mid = str(max(budgets)), "150" if 150 in budgets else str(sorted(budgets)[len(budgets) // 2])
    lo, full, scratch = rows["lotra"], rows["full"], rows["scratch"]
    reach = steps_to_reach(lo[big]["curve"], scratch[big]["rel_l2"])
    out = {
        "lotra_steps_to_scratch_final": reach,
        "lotra_steps_to_scratch_final_fraction": reach / int(big),
        f"lotra_over_full_error_at_{mid}": lo[mid]["rel_l2"] / full[mid]["rel_l2"],
        f"lotra_over_scratch_error_at_{mid}": lo[mid]["rel_l2"] / scratch[mid]["rel_l2"],
        "lotra_over_full_params": lo[big]["trainable_parameters"] / full[big]["trainable_parameters"],
        "adapter_over_model_file": lo[big]["adapter_bytes"] / lo[big]["model_bytes"],
    }
    out["pass_scratch_final_within_third"] = out["lotra_steps_to_scratch_final_fraction"] <= 1 / 3
    out[f"pass_within_1.5x_full_at_{mid}"] = out[f"lotra_over_full_error_at_{mid}"] <= 1.5
    out["pass_adapter_file_at_most_quarter"] = out["adapter_over_model_file"] <= 0.25
    return out


def pretrain(args, backbone, problem):
    cfg = TrainConfig(steps=args.pretrain_steps, lr=args.pretrain_lr, schedule="exponential", lr_final_factor=0.1,
                      eval_every=args.pretrain_steps, device="cpu", seed=0)
    t = time.perf_counter()
    # the transfers and the bank below take their sampling settings from this source run
    sol = solve(problem, BACKBONES[backbone](problem.dim, args.hidden), cfg,
                SamplingConfig(n_interior=args.n_interior, n_eval=args.n_eval))
    return sol, time.perf_counter() - t


def bank_check(args, source_sol, base_cfg) -> dict:
    source = source_sol.problem
    members = [source.with_params(coeffs=[a + 0.3 * b for a, b in zip(source.coeffs, draw_coeffs(source.dim, 100 + k))])
               for k in range(args.bank)]
    out = {"sets": args.bank, "eps": 0.3, "target_rel_l2": 5e-3}
    with tempfile.TemporaryDirectory() as tmp:
        out["bank"] = {}
        for steps in args.bank_steps:
            file = Path(tmp) / f"bank{steps}.h5"
            bank = AdapterBank(source_sol, file, config=base_cfg.replace(steps=steps, eval_every=0))
            t = time.perf_counter()
            sols = [bank.add(p) for p in members]
            errs = [s.metrics["rel_l2"] for s in sols]
            row = {"steps_each": steps, "seconds": time.perf_counter() - t, "rel_l2": errs,
                   "reached": sum(e <= 5e-3 for e in errs), "disk_bytes": file.stat().st_size, "lr": bank.lr,
                   "warm_start_from": [s.attrs["bank"]["warm_start_from"] for s in sols]}
            out["bank"][str(steps)] = row
            print(f"  bank: {args.bank} sets x {steps} steps in {row['seconds']:.0f} s, {row['reached']} <= 5e-3, "
                  f"max {max(errs):.2e}, {row['disk_bytes']} bytes, warm starts from members: "
                  f"{sum(w is not None for w in row['warm_start_from'])}", flush=True)
        lr = default_lr("scratch", source_sol.config.lr)
        t = time.perf_counter()
        errs, disk = [], 0
        for i, p in enumerate(members):
            sol = transfer(p, source_sol, method="scratch", config=base_cfg.replace(steps=args.bank_scratch_steps,
                                                                                   eval_every=0), lr=lr)
            errs.append(sol.metrics["rel_l2"])
            torch.save(sol.model.state_dict(), Path(tmp) / f"s{i}.pt")
            disk += (Path(tmp) / f"s{i}.pt").stat().st_size
        out["scratch"] = {"steps_each": args.bank_scratch_steps, "seconds": time.perf_counter() - t, "rel_l2": errs,
                          "reached": sum(e <= 5e-3 for e in errs), "disk_bytes": disk, "lr": lr}
        print(f"  scratch: {args.bank} sets x {args.bank_scratch_steps} steps in {out['scratch']['seconds']:.0f} s, "
              f"{out['scratch']['reached']} <= 5e-3, max {max(errs):.2e}, {disk} bytes", flush=True)
    for steps, row in out["bank"].items():
        row["time_ratio_scratch_over_bank"] = out["scratch"]["seconds"] / row["seconds"]
        row["disk_ratio_scratch_over_bank"] = out["scratch"]["disk_bytes"] / row["disk_bytes"]
    return out


def files_only(args) -> dict:
    """Adapter and model file sizes of every backbone at the default LoTRAConfig (sizes depend on shapes and
    dtypes only, not on trained values, so no training is needed)."""
    record = {"command": command_line(), "platform": platform.platform(), "torch": torch.__version__,
              "settings": vars(args), "files": {}}
    for backbone in args.backbones:
        for name, dim in (("poisson-two-body d=10", 10), ("allen-cahn-time d=3+1", 4)):
            base = BACKBONES[backbone](dim, args.hidden)
            model = LoTRAModel(copy.deepcopy(base))
            sizes = file_sizes(model, base)
            sizes["adapter_over_model_file"] = sizes["adapter_bytes"] / sizes["model_bytes"]
            sizes["trainable_parameters"] = model.n_parameters()
            record["files"][f"{backbone}: {name}"] = sizes
            print(f"{backbone:8s} {name:22s} adapter {sizes['adapter_bytes']:7d} B  model {sizes['model_bytes']:7d} B"
                  f"  ratio {sizes['adapter_over_model_file']:.3f}", flush=True)
    return record


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    record = {"command": command_line(), "platform": platform.platform(), "torch": torch.__version__,
              "settings": vars(args), "load_average_start": os.getloadavg(), "sources": {}, "targets": {}}
    base_cfg = TrainConfig(schedule="exponential", lr_final_factor=0.1, device="cpu")
    poisson = Poisson.two_body(dim=10, seed=0)
    for backbone in args.backbones:
        families = [(poisson, poisson_targets(poisson))]
        if args.allen_cahn:
            ac = AllenCahnTime(spatial_dim=3, c=0.0)
            families.append((ac, {"allen-cahn c 0 -> 0.5": ac.with_params(c=0.5)}))
        for source_problem, targets in families:
            source, secs = pretrain(args, backbone, source_problem)
            skey = f"{backbone}: {source_problem.name}"
            record["sources"][skey] = {"rel_l2": source.metrics["rel_l2"], "seconds": secs,
                                       "parameters": source.metrics["trainable_parameters"]}
            print(f"[{skey}] source rel L2 {source.metrics['rel_l2']:.3e} ({secs:.0f} s)", flush=True)
            for tname, target in targets.items():
                if args.skip_targets:
                    break
                if backbone not in args.all_targets_backbones and tname not in args.few_targets:
                    continue
                key = f"{backbone}: {tname}"
                print(f"  {key}", flush=True)
                seeds = args.seeds if backbone in args.all_targets_backbones else args.seeds[:1]
                per_seed = {str(s): run_target(args, source, target, base_cfg, s) for s in seeds}
                record["targets"][key] = {"backbone": backbone, "target": tname, "nearby": tname in NEARBY,
                                          "problem": target.params(), "seeds": per_seed,
                                          "checks": {s: checks(rows, args.budgets) for s, rows in per_seed.items()}}
            if args.bank and backbone == "kan" and source_problem is poisson:  # warm starts: nearest of base + members
                record["bank"] = bank_check(args, source, base_cfg)
    record["load_average_end"] = os.getloadavg()
    return record


def table(record) -> str:
    budgets = [str(b) for b in record["settings"]["budgets"]]
    lines = ["| target | method | " + " | ".join(f"{b} steps" for b in budgets) + " | params |",
             "|---|---|" + "---|" * len(budgets) + "---|"]
    for key, t in record["targets"].items():
        seeds = list(t["seeds"])
        for m in METHODS:
            cells = []
            for b in budgets:
                errs = [t["seeds"][s][m][b]["rel_l2"] for s in seeds]
                cells.append(" / ".join(f"{e:.2e}" for e in errs))
            p = t["seeds"][seeds[0]][m][budgets[-1]]["trainable_parameters"]
            lines.append(f"| {key} | {m} | " + " | ".join(cells) + f" | {p} |")
    return "\n".join(lines)


def plot(record: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(record["targets"])
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
    big = str(max(record["settings"]["budgets"]))
    for ax, key in zip(axes.flat, names):
        seed = next(iter(record["targets"][key]["seeds"]))
        for m, r in record["targets"][key]["seeds"][seed].items():
            s, e = zip(*r[big]["curve"])
            ax.semilogy(s, e, label=f"{m} (lr {r[big]['lr']:.0e}, {r[big]['trainable_parameters']} params)")
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("fine-tuning step")
        ax.set_ylabel("rel L2 vs exact")
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Transfer at default rates (seed " + seed + ")", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=70)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="JSON record")
    ap.add_argument("--figure", help="PNG of rel L2 against step (first seed, largest budget)")
    ap.add_argument("--backbones", nargs="+", default=["kan"], choices=sorted(BACKBONES))
    ap.add_argument("--all-targets-backbones", nargs="+", default=["kan"],
                    help="backbones run on every target with every seed; the others on --few-targets, one seed")
    ap.add_argument("--few-targets", nargs="+", default=["eps=0.5", "2c"])
    ap.add_argument("--allen-cahn", action="store_true", help="add time-dependent Allen-Cahn c 0 -> 0.5")
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    ap.add_argument("--pretrain-steps", type=int, default=3000)
    ap.add_argument("--pretrain-lr", type=float, default=1e-2)
    ap.add_argument("--budgets", type=int, nargs="+", default=[50, 150, 500])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--n-interior", type=int, default=100)
    ap.add_argument("--bank", type=int, default=0, help="coefficient sets of the adapter-bank check (0: skip)")
    ap.add_argument("--bank-steps", type=int, nargs="+", default=[150, 500])
    ap.add_argument("--bank-scratch-steps", type=int, default=1500)
    ap.add_argument("--skip-targets", action="store_true", help="only pretrain and run the bank check")
    ap.add_argument("--files-only", action="store_true", help="only the adapter / model file sizes (no training)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if args.files_only:
        write_json(args.out, files_only(args))
        return 0
    t0 = time.perf_counter()
    record = run(args)
    record["total_seconds"] = time.perf_counter() - t0
    record["table_markdown"] = table(record) if record["targets"] else ""
    print(record["table_markdown"])
    for key, t in record["targets"].items():
        for s, c in t["checks"].items():
            print(f"{key} seed {s}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                                  for k, v in c.items()))
    write_json(args.out, record)
    if args.figure:
        plot(record, args.figure)
        print(f"wrote {args.figure}")
    print(f"total {record['total_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
