"""Laplacian + backward: the autograd loop against forward jets (exact and stochastic), every backbone.

One PINN-style step per case: ``lap = laplacian(model, x, method)``, ``loss = mean(lap**2)``,
``loss.backward()``, for KAN, MetaKAN, Slim KAN and MLP of widths ``[d, 64, 64, 1]`` at N = 100 points in
``[-1, 1]^d``, float64 (library defaults otherwise: G = 5, k = 3; MetaKAN e = 1, h = 16; Slim KAN ranks
(8, 8, 4); MLP tanh), with

    ==============  ===========================================================
    ``autograd``    the reference loop: d double-backward passes (DeepXDE's way)
    ``jet``         exact forward jet along the d coordinate directions
    ``sdgd``        forward jet along K random coordinates, scaled d / K
    ``hutchinson``  forward jet along K Rademacher probes, scaled 1 / K
    ==============  ===========================================================

Time: all methods of one (backbone, d) run side by side in this process; each repeat runs every method once
in a rotating order (so load changes on a shared machine hit them alike) after one warm-up step each. The
table reports median times and the median of the per-repeat ratios ``t_autograd / t_method``. One intra-op
thread by default (``--threads``): on a shared 2-core machine spinning OpenMP threads distort timings.

Peak memory: each (backbone, d, method) runs in a fresh subprocess, with glibc's mmap threshold pinned low
and eager heap trimming (``MALLOC_MMAP_THRESHOLD_=8192``, ``MALLOC_TRIM_THRESHOLD_=0``) so freed tensors go
back to the OS and the resident size follows live memory. The subprocess does one warm-up step on 8 points
(lazy initialisation of torch kernels and buffers), frees everything it can, reads its resident size
(VmRSS), resets the high-water mark (``/proc/self/clear_refs``) and runs the
measured step; the peak is VmHWM after the step minus VmRSS before it, i.e. the memory the step itself needs
on top of the model and the inputs. Where the high-water mark cannot be reset the process-lifetime maximum
(``getrusage`` ru_maxrss) is used and the JSON says so. Medians over ``--memory-repeats`` subprocesses.

    .venv/bin/python benchmarks/laplacian.py --out benchmarks/results/laplacian.json

``--profile`` prints the top operators of one jet step per case (torch profiler), to see where time goes.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from _common import command_line, reset_peak_rss, status_kb, write_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pde_kan.diff import laplacian  # noqa: E402
from pde_kan.nn import get_backbone  # noqa: E402

BACKBONES = ("kan", "metakan", "slimkan", "mlp")
METHODS = ("autograd", "jet", "sdgd", "hutchinson")
STOCHASTIC = ("sdgd", "hutchinson")
KAN_FAMILY = ("kan", "metakan", "slimkan")
# glibc: blocks of 8 KiB and more are mmapped (and unmapped on free) and the heap is trimmed eagerly, so the
# resident size follows live tensors (with the default, dynamic threshold small-tensor steps such as an MLP's
# are served from heap kept since the warm-up and read as ~0)
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "8192", "MALLOC_TRIM_THRESHOLD_": "0"}
TARGETS = {  # KAN family: (d, quantity, minimum ratio autograd / jet)
    "time_d10": (10, "time", 5.0),
    "time_d100": (100, "time", 30.0),
    "memory_d100": (100, "memory", 5.0),
}


def build(backbone: str, d: int, n: int, width: int):
    model = get_backbone(backbone, [d, width, width, 1], seed=0, dtype=torch.float64)
    g = torch.Generator().manual_seed(1)
    x = 2 * torch.rand(n, d, generator=g, dtype=torch.float64) - 1
    return model, x


def step(model, x, method: str, k: int, generator: torch.Generator) -> None:
    """One Laplacian + backward of its mean square; gradients reset first."""
    for p in model.parameters():
        p.grad = None
    kw = {"n_probes": k, "generator": generator} if method in STOCHASTIC else {}
    lap = laplacian(model, x, method, **kw)
    (lap**2).mean().backward()


# --- time -------------------------------------------------------------------------------------------------
def time_case(backbone: str, d: int, args) -> dict:
    model, x = build(backbone, d, args.n, args.width)
    g = torch.Generator().manual_seed(2)
    methods = list(args.methods)
    for m in methods:  # warm-up
        step(model, x, m, args.k, g)
    times = {m: [] for m in methods}
    for r in range(args.repeats):
        order = methods[r % len(methods):] + methods[: r % len(methods)]
        for m in order:
            t0 = time.perf_counter()
            step(model, x, m, args.k, g)
            times[m].append(time.perf_counter() - t0)
    out = {"n_parameters": model.n_parameters(), "times_s": times,
           "median_s": {m: statistics.median(v) for m, v in times.items()}}
    if "autograd" in methods:
        out["speedup_vs_autograd"] = {
            m: statistics.median(a / b for a, b in zip(times["autograd"], times[m])) for m in methods}
    return out


# --- memory -----------------------------------------------------------------------------------------------
def memory_case(backbone: str, d: int, method: str, args) -> dict:
    """Runs in a fresh subprocess: memory one step needs beyond the resident model and inputs (MiB)."""
    import gc

    model, x = build(backbone, d, args.n, args.width)
    g = torch.Generator().manual_seed(2)
    step(model, x[:8], method, args.k, g)  # warm-up on a few points: lazy initialisation, little heap retained
    for p in model.parameters():
        p.grad = None
    gc.collect()
    before = status_kb("VmRSS")
    if reset_peak_rss():
        source = "VmHWM after clear_refs"
    else:
        source = "ru_maxrss (process lifetime; high-water mark could not be reset)"
    step(model, x, method, args.k, g)
    if source.startswith("VmHWM"):
        peak = status_kb("VmHWM")
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"peak_mb": (peak - before) / 1024, "rss_before_mb": before / 1024, "source": source}


def run_memory(backbone: str, d: int, method: str, args) -> dict:
    cmd = [sys.executable, __file__, "--memory-case", backbone, str(d), method, "--n", str(args.n),
           "--width", str(args.width), "--k", str(args.k), "--threads", str(args.threads), "--out", "-"]
    env = {**os.environ, **MALLOC_ENV, "OMP_NUM_THREADS": str(args.threads)}
    runs = []
    for _ in range(args.memory_repeats):
        res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.case_timeout)
        if res.returncode != 0:
            return {"error": (res.stderr.strip().splitlines() or [f"exit {res.returncode}"])[-1]}
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return {"peak_mb": statistics.median(r["peak_mb"] for r in runs), "runs_mb": [r["peak_mb"] for r in runs],
            "rss_before_mb": statistics.median(r["rss_before_mb"] for r in runs), "source": runs[0]["source"]}


# --- profile ----------------------------------------------------------------------------------------------
def profile_case(backbone: str, d: int, method: str, args) -> str:
    model, x = build(backbone, d, args.n, args.width)
    g = torch.Generator().manual_seed(2)
    step(model, x, method, args.k, g)
    with torch.profiler.profile(record_shapes=True) as prof:
        step(model, x, method, args.k, g)
    return prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=12,
                                                              max_name_column_width=28,
                                                              max_shapes_column_width=60)


# --- report -----------------------------------------------------------------------------------------------
def machine() -> dict:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "logical_cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "load_average_start": list(os.getloadavg())}


def source_state() -> dict:
    """Commit of the measured code and any uncommitted changes to pde_kan (the numbers belong to that tree)."""
    root = Path(__file__).resolve().parents[1]

    def git(*cmd):
        try:
            out = subprocess.run(["git", *cmd], capture_output=True, text=True, cwd=root, timeout=30).stdout
            return out.rstrip("\n")  # keep the leading space of porcelain status lines
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD").strip(),
            "uncommitted": git("status", "--porcelain", "pde_kan").splitlines()}


def table(results: dict, args) -> str:
    methods = list(args.methods)
    others = [m for m in methods if m != "autograd"]
    head = f"{'backbone':9} {'d':>4} " + " ".join(f"{m + ' ms':>14}" for m in methods)
    if "autograd" in methods:
        head += " " + " ".join(f"{'ag/' + m:>13}" for m in others)
        head += " " + " ".join(f"{'mem ag/' + m:>15}" for m in others)
    lines = [head, "-" * len(head)]
    for key, res in results.items():
        backbone, d = key.split("/d")
        t = res["time"]
        row = f"{backbone:9} {d:>4} " + " ".join(f"{1000 * t['median_s'][m]:14.1f}" for m in methods)
        if "autograd" in methods:
            row += " " + " ".join(f"{t['speedup_vs_autograd'][m]:12.1f}x" for m in others)
            for m in others:
                ratio = res.get("memory_ratio_vs_autograd", {}).get(m)
                row += f" {ratio:14.1f}x" if ratio is not None else f" {'-':>15}"
        lines.append(row)
    if results and any("memory" in r for r in results.values()):
        lines.append("")
        lines.append("peak memory of the step (MiB): " + ", ".join(methods))
        for key, res in results.items():
            mem = res.get("memory", {})
            vals = " ".join(f"{mem[m]['peak_mb']:10.1f}" if "peak_mb" in mem.get(m, {}) else f"{'-':>10}"
                            for m in methods)
            lines.append(f"  {key:14} {vals}")
    return "\n".join(lines)


def check_targets(results: dict) -> dict:
    out = {}
    for name, (d, quantity, minimum) in TARGETS.items():
        for backbone in KAN_FAMILY:
            res = results.get(f"{backbone}/d{d}")
            if res is None:
                continue
            if quantity == "time":
                value = res["time"].get("speedup_vs_autograd", {}).get("jet")
            else:
                value = res.get("memory_ratio_vs_autograd", {}).get("jet")
            if value is not None:
                out[f"{backbone}_{name}"] = {"ratio": value, "target": minimum, "met": value >= minimum}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="JSON output path ('-' prints only)")
    p.add_argument("--backbones", nargs="+", default=list(BACKBONES), choices=BACKBONES)
    p.add_argument("--dims", nargs="+", type=int, default=[10, 100])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--n", type=int, default=100, help="collocation points")
    p.add_argument("--width", type=int, default=64, help="hidden width (widths [d, width, width, 1])")
    p.add_argument("--k", type=int, default=4, help="probe directions of the stochastic jets")
    p.add_argument("--repeats", type=int, default=5, help="timing repeats (median)")
    p.add_argument("--memory-repeats", type=int, default=3, help="fresh subprocesses per memory case (median)")
    p.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads (1: on a shared 2-core machine spinning OpenMP threads distort "
                        "timings far more than they help)")
    p.add_argument("--case-timeout", type=float, default=600.0, help="seconds per memory subprocess")
    p.add_argument("--profile", action="store_true", help="print the top operators of one jet step per case")
    p.add_argument("--memory-case", nargs=3, metavar=("BACKBONE", "D", "METHOD"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    if args.memory_case:
        backbone, d, method = args.memory_case
        print(json.dumps(memory_case(backbone, int(d), method, args)))
        return 0

    results = {}
    info = machine()
    for d in args.dims:
        for backbone in args.backbones:
            key = f"{backbone}/d{d}"
            print(f"timing {key} ...", file=sys.stderr, flush=True)
            results[key] = {"time": time_case(backbone, d, args)}
            if args.profile:
                print(f"\n== {key} jet ==\n{profile_case(backbone, d, 'jet', args)}", file=sys.stderr)
    if not args.no_memory:
        for key, res in results.items():
            backbone, d = key.split("/d")
            print(f"memory {key} ...", file=sys.stderr, flush=True)
            res["memory"] = {m: run_memory(backbone, int(d), m, args) for m in args.methods}
            mem = res["memory"]
            if "peak_mb" in mem.get("autograd", {}):
                res["memory_ratio_vs_autograd"] = {
                    m: mem["autograd"]["peak_mb"] / mem[m]["peak_mb"]
                    for m in args.methods if m != "autograd" and mem[m].get("peak_mb", 0) > 0}
    info["load_average_end"] = list(os.getloadavg())
    report = {
        "command": command_line(),
        "machine": info,
        "source": source_state(),
        "settings": {"n": args.n, "width": args.width, "k": args.k, "repeats": args.repeats,
                     "memory_repeats": 0 if args.no_memory else args.memory_repeats, "dtype": "float64",
                     "step": "laplacian(model, x, method); mean(lap**2).backward()",
                     "memory_method": "fresh subprocess per case: VmHWM over one step minus VmRSS before it, "
                                      "after a warm-up step on 8 points; glibc " + json.dumps(MALLOC_ENV)},
        "results": results,
        "targets_kan_family": check_targets(results),
    }
    print(table(results, args))
    targets = report["targets_kan_family"]
    if targets:
        print("\ntargets (KAN family, autograd / jet):")
        for name, t in targets.items():
            print(f"  {name:26} {t['ratio']:7.1f}x  (target >= {t['target']:g}x)  {'met' if t['met'] else 'MISSED'}")
    if args.out != "-":
        write_json(args.out, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
