"""Forward+backward time of KAN / MetaKAN / Slim KAN / MLP against pykan 0.2.8 and the dense-matmul limit.

Every competitor runs side by side in one process: each repeat runs every competitor once (in a rotating
order), so load changes on a shared machine hit all of them alike; the table reports the median time and the
median of the per-repeat ratios. ``matmul`` is the physical limit of a KAN layer: the same dense GEMMs
``(N, in * n_basis) x (in * n_basis, out)`` for every layer, forward and backward (weight gradients everywhere,
input gradients where the network needs them, i.e. after the first layer), with nothing else.

    .venv/bin/python benchmarks/layer_speed.py --out benchmarks/results/layer_speed.json

pykan is the ``bench`` extra (``.venv/bin/pip install -c constraints.txt pykan==0.2.8``; its import also needs
pandas); it is skipped with a note when it cannot be imported. ``pykan`` runs with ``auto_save=False,
symbolic_enabled=False, save_act=False`` (its fastest settings: no checkpoint files, no symbolic branch, no
stored activations), ``pykan (defaults)`` with only ``auto_save=False``; both float32 (pykan builds its
parameters in the default dtype).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from _common import command_line, write_json

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pde_kan.nn import KAN, MLP, MetaKAN, SlimKAN, fused_kernels_available, n_parameters  # noqa: E402

CASES = [  # (name, widths, N)
    ("[64, 64, 64, 1] N=1024", [64, 64, 64, 1], 1024),
    ("[784, 256, 10] N=128", [784, 256, 10], 128),
    ("[784, 64, 10] N=128", [784, 64, 10], 128),
]
GRID, ORDER = 5, 3
PYKAN_DEFAULTS_MAX_EDGES = 20000


class MatmulLimit(torch.nn.Module):
    """The dense GEMMs of a KAN of these widths and nothing else."""

    def __init__(self, widths, n_basis, dtype):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter(torch.randn(o, i * n_basis, generator=g, dtype=dtype) / (i * n_basis) ** 0.5)
            for i, o in zip(widths[:-1], widths[1:]))
        self.widths = widths
        self.n_basis = n_basis

    def make_features(self, n, dtype):
        g = torch.Generator().manual_seed(1)
        return [torch.randn(n, i * self.n_basis, generator=g, dtype=dtype).requires_grad_(layer > 0)
                for layer, i in enumerate(self.widths[:-1])]


def pykan_models(widths):
    """pykan at its fastest settings and at its defaults (only ``auto_save`` off: no checkpoint files)."""
    try:
        from importlib.metadata import version

        from kan import MultKAN
    except Exception as err:  # noqa: BLE001 - any import failure means "not available"
        return {}, f"pykan unavailable ({type(err).__name__}: {err}); install the bench extra"
    fast = MultKAN(width=list(widths), grid=GRID, k=ORDER, seed=0, auto_save=False, symbolic_enabled=False,
                   save_act=False)
    default = MultKAN(width=list(widths), grid=GRID, k=ORDER, seed=0, auto_save=False)
    return {"pykan": fast, "pykan (defaults)": default}, f"pykan {version('pykan')}"


def build(widths, dtype, with_pykan):
    models = {
        "kan": KAN(widths, grid_size=GRID, spline_order=ORDER, dtype=dtype),
        "metakan": MetaKAN(widths, grid_size=GRID, spline_order=ORDER, dtype=dtype),
        "slimkan": SlimKAN(widths, grid_size=GRID, spline_order=ORDER, dtype=dtype),
        "mlp": MLP(widths, activation="silu", dtype=dtype),
    }
    notes = []
    if with_pykan:
        extra, note = pykan_models(widths)
        notes.append(note)
        edges = sum(i * o for i, o in zip(widths[:-1], widths[1:]))
        if edges > PYKAN_DEFAULTS_MAX_EDGES and "pykan (defaults)" in extra:
            del extra["pykan (defaults)"]  # its symbolic branch takes minutes per step at this size
            notes.append(f"pykan (defaults) skipped: {edges} edges > {PYKAN_DEFAULTS_MAX_EDGES}, minutes per step")
        models.update(extra)
    return models, notes


def step_fn(model, x, target):
    def step():
        model.zero_grad(set_to_none=True)
        out = model(x)
        torch.nn.functional.mse_loss(out, target).backward()
    return step


def matmul_step(limit: MatmulLimit, feats, target):
    def step():
        limit.zero_grad(set_to_none=True)
        for f in feats:
            f.grad = None
        loss = 0
        for f, w in zip(feats, limit.weights):
            loss = loss + (f @ w.T).square().mean()
        loss.backward()
    return step


def timed(fn, inner, clock):
    t0 = clock()
    for _ in range(inner):
        fn()
    return (clock() - t0) / inner


def run_case(name, widths, n, dtype, repeats, inner, clock, with_pykan):
    models, notes = build(widths, dtype, with_pykan)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, widths[0], generator=g, dtype=dtype) * 2 - 1
    target = torch.randn(n, widths[-1], generator=g, dtype=dtype)
    fns = {}
    for k, m in models.items():
        theirs = k.startswith("pykan")  # float32 only
        fns[k] = step_fn(m, x.float() if theirs else x, target.float() if theirs else target)
    limit = MatmulLimit(widths, GRID + ORDER, dtype)
    fns["matmul"] = matmul_step(limit, limit.make_features(n, dtype), target)
    for fn in fns.values():  # warm-up (allocator, thread pools, lazily built tables)
        fn()
        fn()
    times = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        order = keys[r % len(keys):] + keys[:r % len(keys)]
        for k in order:  # pykan's defaults take seconds per step: one step per sample is plenty
            times[k].append(timed(fns[k], 1 if k == "pykan (defaults)" else inner, clock))
    def ratios(ref):
        return {k: statistics.median(t / r for t, r in zip(times[k], times[ref])) for k in fns}

    params = {k: n_parameters(m) for k, m in models.items()}
    params["matmul"] = n_parameters(limit, trainable_only=False)
    return {
        "case": name, "widths": widths, "n": n, "dtype": str(dtype).replace("torch.", ""),
        "ms": {k: 1e3 * statistics.median(v) for k, v in times.items()},
        "ratio_to_matmul": ratios("matmul"), "ratio_to_kan": ratios("kan"),
        "ratio_to_pykan": ratios("pykan") if "pykan" in fns else None,
        "params": params, "notes": notes,
    }


TUCKER_SHAPES = [  # (in, out, N, dtype): layers of the PINN and FC networks above and of the memory benchmark
    (10, 64, 100, "float64"), (64, 64, 100, "float64"), (100, 64, 100, "float64"), (64, 1, 100, "float64"),
    (64, 64, 1024, "float32"), (64, 1, 1024, "float32"), (784, 256, 128, "float32"), (256, 10, 128, "float32"),
    (784, 64, 128, "float32"), (64, 10, 128, "float32"), (784, 1024, 128, "float32"),
    (1024, 1024, 128, "float32"), (1024, 10, 128, "float32"),
]


def tucker_paths(repeats, clock):
    """Slim KAN: forward+backward of the factored and the materialised contraction, and the cost model's pick."""
    from pde_kan.nn import CoefficientSource, TuckerCoefficients

    rows = []
    for n_in, n_out, n, dt in TUCKER_SHAPES:
        dtype = getattr(torch, dt)
        src = TuckerCoefficients(n_in, n_out, GRID + ORDER, ranks=(min(8, n_out), min(8, n_in), 4), dtype=dtype)
        g = torch.Generator().manual_seed(0)
        feats = torch.randn(n, n_in, GRID + ORDER + 1, generator=g, dtype=dtype, requires_grad=True)
        grad = torch.randn(n, n_out, generator=g, dtype=dtype)

        def run(factored):
            def fn():
                src.zero_grad(set_to_none=True)
                feats.grad = None
                y = src.contract_factored(feats) if factored else CoefficientSource.contract(src, feats)
                y.backward(grad)
            return fn

        fns = {"factored": run(True), "materialised": run(False)}
        for fn in fns.values():
            fn()
        times = {k: [] for k in fns}
        for r in range(repeats):
            for k in (list(fns) if r % 2 == 0 else list(fns)[::-1]):
                times[k].append(timed(fns[k], 3, clock))
        factored_cost, dense_cost = src.contraction_costs(n)
        ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
        rows.append({"in": n_in, "out": n_out, "n": n, "dtype": dt, "ranks": list(src.ranks),
                     "ms_factored": ms["factored"], "ms_materialised": ms["materialised"],
                     "ratio": statistics.median(a / b for a, b in zip(times["factored"], times["materialised"])),
                     "model_factored": factored_cost, "model_materialised": dense_cost,
                     "model_picks": "factored" if src.factored_is_cheaper(n) else "materialised"})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the results as JSON to this path")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--inner", type=int, default=3, help="steps per timed sample")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: least noise when shared)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall: perf_counter; cpu: process CPU time (meaningful with --threads 1)")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--no-pykan", action="store_true", help="skip pykan even if installed")
    ap.add_argument("--cases", type=int, nargs="*", help="indices into the case list (default all)")
    ap.add_argument("--tucker-paths", action="store_true",
                    help="instead: time Slim KAN's factored vs materialised contraction per layer shape")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    load_start = os.getloadavg()  # ratios shift with load: every results file says how busy the machine was
    if args.tucker_paths:
        rows = tucker_paths(args.repeats, clock)
        print(f"{'in':>5s} {'out':>5s} {'N':>5s} {'dtype':8s} {'factored ms':>12s} {'materialised ms':>16s} "
              f"{'ratio':>6s} {'model picks':>12s}")
        for r in rows:
            print(f"{r['in']:5d} {r['out']:5d} {r['n']:5d} {r['dtype']:8s} {r['ms_factored']:12.2f} "
                  f"{r['ms_materialised']:16.2f} {r['ratio']:6.2f} {r['model_picks']:>12s}")
        if args.out:
            payload = {"benchmark": "tucker_paths",
                       "command": command_line(), "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                       "torch": torch.__version__, "threads": args.threads, "clock": args.clock,
                       "repeats": args.repeats, "rows": rows}
            write_json(args.out, payload)
        return
    dtype = getattr(torch, args.dtype)
    cases = [CASES[i] for i in args.cases] if args.cases else CASES
    results = []
    for name, widths, n in cases:
        res = run_case(name, widths, n, dtype, args.repeats, args.inner, clock, not args.no_pykan)
        results.append(res)
        print(f"\n{name}, {res['dtype']}  (median of {args.repeats} side-by-side repeats)")
        print(f"{'model':18s} {'ms/step':>9s} {'x matmul':>9s} {'x KAN':>7s} {'x pykan':>8s} {'params':>10s}")
        for k in res["ms"]:
            to_pykan = res["ratio_to_pykan"][k] if res["ratio_to_pykan"] else float("nan")
            print(f"{k:18s} {res['ms'][k]:9.2f} {res['ratio_to_matmul'][k]:9.2f} {res['ratio_to_kan'][k]:7.2f} "
                  f"{to_pykan:8.3f} {res['params'][k]:10d}")
        for note in res["notes"]:
            print(f"  note: {note}")
    if args.out:
        payload = {
            "benchmark": "layer_speed", "command": command_line(),
            "loadavg_start": load_start, "loadavg_end": os.getloadavg(), "torch": torch.__version__, "threads": args.threads, "clock": args.clock, "repeats": args.repeats,
            "inner": args.inner, "machine": platform.machine(), "processor": platform.processor(),
            "grid_size": GRID, "spline_order": ORDER, "metakan_fused_kernels": fused_kernels_available(),
            "definition": "one forward+backward (MSE loss) per step; matmul = the same GEMMs "
                          "(N, in*n_basis) x (in*n_basis, out) forward+backward",
            "results": results,
        }
        write_json(args.out, payload)


if __name__ == "__main__":
    main()
