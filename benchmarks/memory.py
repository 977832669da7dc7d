"""Peak memory (and time) of one training step: KAN vs MetaKAN vs Slim KAN vs MLP, each in a fresh process.

Cases:

* ``fc``: widths [784, 1024, 1024, 10], batch 128, float32, cross-entropy, Adam step.
* ``pinn10`` / ``pinn100``: widths [d, 64, 64, 1], N = 100, float64, exact forward-jet Laplacian of the
  network, loss ``mean((Δu - f)^2)``, backward, Adam step.

Method (CPU): every (case, model) runs in a fresh interpreter (``--worker``), so no allocator state, cached
tensor or grown arena of one case can hide or inflate another's. The worker imports torch and pde_kan, makes
the data and runs two training steps of a tiny model of the same kind (lazy imports such as the optimizer's
``torch._dynamo``, thread pools, kernels); then it frees that, ``malloc_trim``s, resets the kernel's peak-RSS counter
(``echo 5 > /proc/self/clear_refs``) and records the current RSS as the baseline. It builds the model and the
optimizer and runs two training steps (the first allocates Adam's state, the second is the steady state);
the peak is ``VmHWM - baseline`` from ``/proc/self/status``, i.e. everything the step needs on top of the
interpreter, libraries and data: parameters, gradients, optimizer state, activations, temporaries.
(``tracemalloc`` does not see torch's allocations; where ``clear_refs`` is not writable the worker falls back
to the ``ru_maxrss`` delta.) On CUDA the same worker reports ``torch.cuda.max_memory_allocated``. Step time
comes from a second fresh worker with the default allocator (median of a few steps after the same two), and so
does the **reported peak**: memory as a user sees it. The first worker runs with a fixed glibc mmap threshold
(64 KiB): every tensor above it is mapped when allocated and unmapped when freed, so its RSS peak follows the live
tensors (``peak_mb_pinned``) instead of depending on which freed blocks glibc's dynamic threshold keeps in the
heap. Every (case, model) runs ``--repeats`` times, the repeats interleaved across models; the table reports
medians, and ratios against KAN are medians of per-repeat ratios.

    .venv/bin/python benchmarks/memory.py --out benchmarks/results/memory.json
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import command_line, reset_peak_rss, status_kb, write_json

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "fc": dict(widths=[784, 1024, 1024, 10], n=128, dtype="float32", kind="fc"),
    "pinn10": dict(widths=[10, 64, 64, 1], n=100, dtype="float64", kind="pinn"),
    "pinn100": dict(widths=[100, 64, 64, 1], n=100, dtype="float64", kind="pinn"),
}
MODELS = {  # name -> (backbone, extra constructor arguments)
    "kan": ("kan", {}),
    "metakan": ("metakan", {}),
    "slimkan": ("slimkan", {}),
    "mlp": ("mlp", {"activation": "silu"}),
}
VARIANTS = {  # MetaKAN trade-offs (--variants): what recompute and chunk_size buy
    "metakan keep": ("metakan", {"recompute": False}),
    "metakan chunk=16384": ("metakan", {"chunk_size": 16384}),
    "metakan chunk=65536": ("metakan", {"chunk_size": 65536}),
    "metakan chunk=None": ("metakan", {"chunk_size": None}),
    "metakan base=free": ("metakan", {"base_weight": "free"}),
    "metakan base=lowrank": ("metakan", {"base_weight": "lowrank"}),
}


# --- worker -----------------------------------------------------------------------------------------------
def worker(spec: dict) -> dict:
    import torch

    torch.set_num_threads(spec["threads"])
    sys.path.insert(0, str(ROOT))
    from pde_kan.diff import laplacian
    from pde_kan.nn import get_backbone, n_parameters

    case = CASES[spec["case"]]
    dtype = getattr(torch, case["dtype"])
    device = torch.device(spec["device"])
    widths, n = case["widths"], case["n"]
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(n, widths[0], generator=g, dtype=dtype) * 2 - 1).to(device)
    if case["kind"] == "fc":
        labels = torch.randint(0, widths[-1], (n,), generator=g).to(device)
    else:
        x = x * 0.9
        f = torch.randn(n, generator=g, dtype=dtype).to(device)
    name, kw = {**MODELS, **VARIANTS}[spec["model"]]

    def make_step(model):
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            if case["kind"] == "fc":
                loss = torch.nn.functional.cross_entropy(model(x), labels)
            else:
                loss = (laplacian(model, x, "jet") - f).square().mean()
            loss.backward()
            opt.step()
            return loss
        return step

    # warm-up with a tiny model of the same kind: lazy imports (the optimizer pulls in torch._dynamo, ~80 MB),
    # thread pools and kernels are set up before the baseline, so the peak counts only this model's step
    tiny = get_backbone(name, [widths[0], 3, widths[-1]], dtype=dtype, device=device, **kw)
    warm = make_step(tiny)
    warm()
    warm()
    del tiny, warm
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        method = "cuda max_memory_allocated"
    else:
        if reset_peak_rss():
            base = status_kb("VmRSS") * 1024
            method = "VmHWM - VmRSS after clear_refs"
        else:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            method = "ru_maxrss delta"

    model = get_backbone(name, widths, dtype=dtype, device=device, **kw)
    step = make_step(model)
    step()
    step()
    if cuda:
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    elif method.startswith("VmHWM"):
        peak = status_kb("VmHWM") * 1024 - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    times = []
    for _ in range(spec["time_steps"] if spec.get("phase") == "time" else 0):
        t0 = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return {"peak_bytes": peak, "step_s": statistics.median(times) if times else None,
            "params": n_parameters(model), "method": method}


# --- driver -----------------------------------------------------------------------------------------------
#: Fixed glibc mmap threshold for the memory phase: every allocation above 64 KiB is mapped when made and
#: unmapped when freed, so the RSS peak follows the live tensors. (With glibc's default, dynamic threshold the
#: peak depends on which freed blocks happen to be reused, by several MB at the PINN sizes.)
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "65536"}


def run_worker(spec: dict) -> dict:
    """One fresh process: peak memory with the fixed mmap threshold, or step time with the default allocator."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(MALLOC_ENV if spec["phase"] == "memory" else {})}
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                         cwd=ROOT, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"worker {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_pair(spec: dict) -> dict:
    mem = run_worker({**spec, "phase": "memory"})
    tim = run_worker({**spec, "phase": "time"})
    return {**mem, "step_s": tim["step_s"], "peak_bytes_default_malloc": tim["peak_bytes"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the results as JSON to this path")
    ap.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS) + list(VARIANTS))
    ap.add_argument("--variants", action="store_true", help="also run the MetaKAN recompute/chunk variants")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per (case, model)")
    ap.add_argument("--time-steps", type=int, default=3, help="timed steps per worker (median)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    results = []
    for case in args.cases:
        # the MetaKAN variants are the fully connected case's trade-off (PINN layers fit in one chunk)
        models = list(args.models) + (list(VARIANTS) if args.variants and CASES[case]["kind"] == "fc" else [])
        runs = {m: [] for m in models}
        for r in range(args.repeats):
            order = models[r % len(models):] + models[:r % len(models)]
            for m in order:
                runs[m].append(run_pair({"case": case, "model": m, "threads": args.threads,
                                         "device": args.device, "time_steps": args.time_steps}))
        rows = {}
        for m, rs in runs.items():
            rows[m] = {
                # what a user sees: the default allocator (the timing process), then the live-tensor peak
                "peak_mb": statistics.median(x["peak_bytes_default_malloc"] for x in rs) / 2**20,
                "peak_mb_pinned": statistics.median(x["peak_bytes"] for x in rs) / 2**20,
                "step_ms": 1e3 * statistics.median(x["step_s"] for x in rs),
                "params": rs[0]["params"],
                "peak_mb_all": [x["peak_bytes_default_malloc"] / 2**20 for x in rs],
                "peak_mb_pinned_all": [x["peak_bytes"] / 2**20 for x in rs],
            }
        if "kan" in runs:
            for m, rs in runs.items():
                pairs = list(zip(rs, runs["kan"]))
                rows[m]["peak_to_kan"] = statistics.median(
                    x["peak_bytes_default_malloc"] / k["peak_bytes_default_malloc"] for x, k in pairs)
                rows[m]["peak_pinned_to_kan"] = statistics.median(x["peak_bytes"] / k["peak_bytes"] for x, k in pairs)
                rows[m]["time_to_kan"] = statistics.median(x["step_s"] / k["step_s"] for x, k in pairs)
        spec = CASES[case]
        results.append({"case": case, **spec, "method": runs[models[0]][0]["method"] + " (default allocator; "
                        "pinned: mmap threshold 64 KiB)", "models": rows})
        print(f"\n{case}: widths {spec['widths']}, N={spec['n']}, {spec['dtype']}  (median of {args.repeats})")
        print(f"{'model':22s} {'peak MB':>9s} {'x KAN':>7s} {'pinned MB':>10s} {'x KAN':>7s} {'step ms':>9s} "
              f"{'x KAN':>7s} {'params':>10s}")
        nan = float("nan")
        for m, row in rows.items():
            print(f"{m:22s} {row['peak_mb']:9.1f} {row.get('peak_to_kan', nan):7.2f} {row['peak_mb_pinned']:10.1f} "
                  f"{row.get('peak_pinned_to_kan', nan):7.2f} {row['step_ms']:9.1f} {row.get('time_to_kan', nan):7.2f} "
                  f"{row['params']:10d}")
    if args.out:
        import torch

        from pde_kan.nn import fused_kernels_available

        payload = {
            "benchmark": "memory", "command": command_line(), "loadavg_end": os.getloadavg(),
            "metakan_fused_kernels": fused_kernels_available(), "torch": torch.__version__, "threads": args.threads, "device": args.device, "repeats": args.repeats,
            "machine": platform.machine(),
            "definition": "peak = extra resident memory of building the model + optimizer and running two "
                          "training steps (forward, loss, backward, Adam step), fresh process per run",
            "results": results,
        }
        write_json(args.out, payload)


if __name__ == "__main__":
    main()
