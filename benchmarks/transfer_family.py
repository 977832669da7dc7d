"""Does a base trained for the family help transfer? A multi-head base (one output per coefficient set, trained on
H sets at once: ``pde_kan.transfer.pretrain_family``) against the single-set base of benchmarks/transfer.py, on the
adapter-bank family of that benchmark.

Family: Poisson two-body, d = 10, source coefficients ``c`` (seed 0). Targets: the 20 bank sets ``c + 0.3 δ_k``
(δ_k from seeds 100..119). The family base trains on ``c`` and ``H - 1`` other sets ``c + 0.3 δ_j`` (seeds 200..;
no target is among them).

* ``single``: KAN [10, 32, 32, 1] pretrained on ``c`` (3000 steps, Adam 1e-2, exponential decay to 0.1x), then
  ``transfer(method="lotra")`` with its defaults.
* ``family``: KAN [10, 32, 32, H] pretrained on the H sets (same steps and rate; each step costs H jets), then
  ``mix_heads`` (20 L-BFGS steps on the H mixing weights, heads frozen; the mixed model's error is reported as
  ``mix``), then ``transfer(method="lotra")`` with its defaults on the mixed model.

``--bank STEPS``: instead, the issue's adapter-bank check on the same 20 sets: an ``AdapterBank`` on the family base
(each member: mix fit, then STEPS LoTRA steps warm-started from the nearest member) against 20 runs from scratch
(``--scratch-steps`` steps at scratch's default rate, as in benchmarks/transfer.py), side by side in this
process: total seconds, sets with rel L2 <= 5e-3, disk (one bank file vs one model file per scratch run).

``--rate-probe RATE [RATE ...]``: instead, LoTRA on the mixed start of the first five Poisson targets at each base
rate, per budget; each target's rate is chosen on the mean training loss of the last 10 steps (the error against
the exact solution is only reported): does a good mix want a lower LoTRA rate than the default 3e-2?

Every fine-tuning run: each budget (``--budgets``) is its own run (Adam, exponential decay to 0.1x over its
steps), errors at the end of the budget against the exact solution on the same 2000 evaluation points; nothing
stops or selects on that error. Reported per target and in sum: errors, how many reach rel L2 <= 5e-3, seconds
(mix fit included; pretraining reported separately).

    python benchmarks/transfer_family.py --out benchmarks/results/transfer_family.json
    python benchmarks/transfer_family.py --bank 150 --out benchmarks/results/transfer_family_bank.json
    python benchmarks/transfer_family.py --rate-probe 3e-3 1e-2 3e-2 --budgets 50 150 \
        --out benchmarks/results/transfer_family_rates.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from pde_kan import KAN
from pde_kan.problems import AllenCahnTime, Poisson
from pde_kan.problems.poisson import draw_coeffs
from pde_kan.solvers import SamplingConfig, TrainConfig
from pde_kan.transfer import AdapterBank, default_lr, mix_heads, pretrain_family, transfer
from pde_kan.solvers import solve

from _common import command_line, write_json  # noqa: E402 (this folder is on sys.path when run as a script)

LEVEL = 5e-3


def shifted(source, seed: int, eps: float = 0.3):
    return source.with_params(coeffs=[a + eps * b for a, b in zip(source.coeffs, draw_coeffs(source.dim, seed))])


def pretrain(args, problems, sampling):
    cfg = TrainConfig(steps=args.pretrain_steps, lr=args.pretrain_lr, schedule="exponential", lr_final_factor=0.1,
                      eval_every=args.pretrain_steps, device="cpu", seed=0)
    model = KAN([problems[0].dim, *args.hidden, len(problems)], seed=0)
    t = time.perf_counter()
    sol = solve(problems[0], model, cfg, sampling) if len(problems) == 1 else \
        pretrain_family(problems, model, cfg, sampling)
    return sol, time.perf_counter() - t


def adapt(args, target, start, sampling) -> dict:
    out = {}
    for steps in args.budgets:
        cfg = TrainConfig(steps=steps, schedule="exponential", lr_final_factor=0.1, eval_every=0, device="cpu", seed=0)
        t = time.perf_counter()
        sol = transfer(target, start, method="lotra", config=cfg, lr="default", sampling=sampling)
        out[str(steps)] = {"rel_l2": sol.metrics["rel_l2"], "seconds": time.perf_counter() - t,
                           "trainable_parameters": sol.metrics["trainable_parameters"]}
    return out


def summarise(rows: list[dict], budgets) -> dict:
    out = {}
    for b in map(str, budgets):
        errs = [r[b]["rel_l2"] for r in rows]
        out[b] = {"median_rel_l2": statistics.median(errs), "max_rel_l2": max(errs),
                  "reached": sum(e <= LEVEL for e in errs), "seconds": sum(r[b]["seconds"] for r in rows)}
    return out


def poisson_family(args):
    """Poisson two-body d = 10: targets ``c + 0.3 δ_k`` (seeds 100..); H pretraining sets ``c`` and
    ``c + 0.3 δ_j`` (seeds 200..)."""
    source = Poisson.two_body(dim=10, seed=0)
    return (source, [shifted(source, 100 + k) for k in range(args.targets)],
            lambda heads: [source] + [shifted(source, 200 + j) for j in range(heads - 1)])


def allen_cahn_family(args):
    """Time-dependent Allen–Cahn on the unit ball in R^3 x [0, 1] (benchmarks/transfer.py's other family):
    source ``c = 0``, targets ``c`` = 0.25, 0.5 (transfer.py's target), 0.75 and 1.5 (outside the pretraining
    range); H pretraining sets ``c`` evenly spaced over [0, 1]."""
    source = AllenCahnTime(spatial_dim=3, c=0.0)
    return (source, [source.with_params(c=c) for c in (0.25, 0.5, 0.75, 1.5)],
            lambda heads: [source.with_params(c=j / max(heads - 1, 1)) for j in range(heads)])


FAMILIES = {"poisson": poisson_family, "allen-cahn-time": allen_cahn_family}


def begin(args, **fields) -> tuple[dict, SamplingConfig]:
    """What every mode begins with: one torch thread count, the record's header, the sampling of every run."""
    torch.set_num_threads(args.threads)
    record = {"command": command_line(), "platform": platform.platform(), "torch": torch.__version__,
              "settings": vars(args), "load_average_start": os.getloadavg(), **fields}
    return record, SamplingConfig(n_interior=args.n_interior, n_eval=args.n_eval)


def run(args) -> dict:
    record, sampling = begin(args, bases={}, targets={})
    source, targets, family_of = FAMILIES[args.family](args)
    # the evaluation points of every fine-tuning run (PDETask draws them from TrainConfig.seed + 1 = 1)
    x_eval = source.evaluation_set(args.n_eval, torch.Generator().manual_seed(1))[0]
    starts = {}
    for heads in [1, *args.heads]:
        sol, secs = pretrain(args, family_of(heads), sampling)
        name = "single" if heads == 1 else f"family H={heads}"
        record["bases"][name] = {"heads": heads, "seconds": secs, "rel_l2": sol.metrics["rel_l2"],
                                 "rel_l2_max": sol.metrics.get("rel_l2_max", sol.metrics["rel_l2"]),
                                 "parameters": sol.metrics["trainable_parameters"]}
        print(f"[{name}] pretrained in {secs:.0f} s, rel L2 {sol.metrics['rel_l2']:.2e}", flush=True)
        starts[name] = sol
    for name, base in starts.items():
        rows = []
        for k, target in enumerate(targets):
            row = {}
            t = time.perf_counter()
            if base.model.out_features > 1:
                start = mix_heads(target, base)
                mix_seconds = time.perf_counter() - t
                with torch.no_grad():
                    pred, exact = target.ansatz(x_eval, start(x_eval)), target.exact(x_eval)
                row["mix"] = {"rel_l2": float((pred - exact).norm() / exact.norm()), "seconds": mix_seconds}
            else:
                start, mix_seconds = base, 0.0
            row.update(adapt(args, target, start, sampling))
            for b in map(str, args.budgets):
                row[b]["seconds"] += mix_seconds
            rows.append(row)
            print(f"  {name} target {k}: " + ("" if "mix" not in row else f"mix {row['mix']['rel_l2']:.2e}  ") +
                  "  ".join(f"{b}: {row[str(b)]['rel_l2']:.2e}" for b in args.budgets), flush=True)
        record["targets"][name] = {"rows": rows, "summary": summarise(rows, args.budgets)}
        if "mix" in rows[0]:
            mixes = [r["mix"]["rel_l2"] for r in rows]
            record["targets"][name]["summary"]["mix"] = {"median_rel_l2": statistics.median(mixes),
                                                         "max_rel_l2": max(mixes),
                                                         "reached": sum(e <= LEVEL for e in mixes)}
    record["load_average_end"] = os.getloadavg()
    return record


def bank_check(args) -> dict:
    record, sampling = begin(args)
    source, targets, family_of = poisson_family(args)
    heads = args.heads[0]
    base, secs = pretrain(args, family_of(heads), sampling)
    record["base"] = {"heads": heads, "seconds": secs, "rel_l2": base.metrics["rel_l2"]}
    print(f"[family H={heads}] pretrained in {secs:.0f} s", flush=True)
    cfg = TrainConfig(steps=args.bank, schedule="exponential", lr_final_factor=0.1, eval_every=0, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "bank.h5"
        bank = AdapterBank(base, file, config=cfg, sampling=sampling)
        t = time.perf_counter()
        errs = [bank.add(p).metrics["rel_l2"] for p in targets]
        record["bank"] = {"steps_each": args.bank, "seconds": time.perf_counter() - t, "rel_l2": errs,
                          "reached": sum(e <= LEVEL for e in errs), "disk_bytes": file.stat().st_size}
        print(f"  bank: {record['bank']['reached']} of {len(errs)} <= {LEVEL:g}, {record['bank']['seconds']:.0f} s, "
              f"worst {max(errs):.2e}", flush=True)
        lr = default_lr("scratch", args.pretrain_lr)
        single = KAN([source.dim, *args.hidden, 1], seed=0)
        t = time.perf_counter()
        errs, disk = [], 0
        for i, p in enumerate(targets):
            sol = transfer(p, single, method="scratch", config=cfg.replace(steps=args.scratch_steps), lr=lr,
                           sampling=sampling)
            errs.append(sol.metrics["rel_l2"])
            torch.save(sol.model.state_dict(), Path(tmp) / f"s{i}.pt")
            disk += (Path(tmp) / f"s{i}.pt").stat().st_size
        record["scratch"] = {"steps_each": args.scratch_steps, "seconds": time.perf_counter() - t, "rel_l2": errs,
                             "reached": sum(e <= LEVEL for e in errs), "disk_bytes": disk, "lr": lr}
        print(f"  scratch: {record['scratch']['reached']} of {len(errs)}, {record['scratch']['seconds']:.0f} s, "
              f"worst {max(errs):.2e}", flush=True)
    b, sc = record["bank"], record["scratch"]
    record["time_ratio_scratch_over_bank"] = sc["seconds"] / b["seconds"]
    record["time_ratio_scratch_over_bank_with_pretraining"] = sc["seconds"] / (b["seconds"] + secs)
    record["disk_ratio_scratch_over_bank"] = sc["disk_bytes"] / b["disk_bytes"]
    record["load_average_end"] = os.getloadavg()
    return record


def rate_probe(args) -> dict:
    record, sampling = begin(args, runs=[])
    source, targets, family_of = poisson_family(args)
    base, _ = pretrain(args, family_of(args.heads[0]), sampling)
    for k, target in enumerate(targets[:5]):
        start = mix_heads(target, base)
        for steps in args.budgets:
            for lr in args.rate_probe:
                cfg = TrainConfig(steps=steps, schedule="exponential", lr_final_factor=0.1, eval_every=0,
                                  device="cpu", seed=0)
                sol = transfer(target, start, method="lotra", config=cfg, lr=lr, sampling=sampling)
                row = {"target": k, "steps": steps, "lr": lr, "rel_l2": sol.metrics["rel_l2"],
                       "train_loss_last10": statistics.fmean(r["loss"] for r in sol.history[-10:])}
                record["runs"].append(row)
                print(row, flush=True)
    chosen = {}
    for steps in args.budgets:
        picks = []
        for k in range(min(5, len(targets))):
            rows = [r for r in record["runs"] if r["target"] == k and r["steps"] == steps]
            picks.append(min(rows, key=lambda r: r["train_loss_last10"]))
        chosen[str(steps)] = {"lr_per_target": [r["lr"] for r in picks],
                              "median_rel_l2_at_chosen": statistics.median(r["rel_l2"] for r in picks),
                              "median_rel_l2_per_lr": {str(lr): statistics.median(
                                  r["rel_l2"] for r in record["runs"] if r["steps"] == steps and r["lr"] == lr)
                                  for lr in args.rate_probe}}
    record["chosen_on_training_loss"] = chosen
    record["load_average_end"] = os.getloadavg()
    print(json.dumps(chosen, indent=1))
    return record


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="JSON record")
    ap.add_argument("--heads", type=int, nargs="+", default=[10], help="family bases to compare (H >= 2)")
    ap.add_argument("--family", choices=sorted(FAMILIES), default="poisson")
    ap.add_argument("--targets", type=int, default=20, help="Poisson targets (Allen-Cahn: always its four)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    ap.add_argument("--pretrain-steps", type=int, default=3000)
    ap.add_argument("--pretrain-lr", type=float, default=1e-2)
    ap.add_argument("--budgets", type=int, nargs="+", default=[50, 150, 500])
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--n-interior", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bank", type=int, default=0, help="LoTRA steps per member of the bank check (0: no bank check)")
    ap.add_argument("--scratch-steps", type=int, default=1500, help="steps of each scratch run of the bank check")
    ap.add_argument("--rate-probe", type=float, nargs="+", default=None, metavar="RATE",
                    help="LoTRA base rates to probe on mixed starts (instead of the comparison)")
    args = ap.parse_args(argv)
    if any(h < 2 for h in args.heads):
        print(f"transfer_family.py: --heads must be >= 2 (1 is the single base, always run), got {args.heads}",
              file=sys.stderr)
        return 2
    t = time.perf_counter()
    record = bank_check(args) if args.bank else rate_probe(args) if args.rate_probe else run(args)
    record["total_seconds"] = time.perf_counter() - t
    write_json(args.out, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
