"""Render docs/benchmarks.md from the committed benchmark JSON files.

    .venv/bin/python benchmarks/render.py --out docs/benchmarks.md

Reads benchmarks/results/layer_speed.json and benchmarks/results/memory.json (other paths with --speed /
--memory) and writes a markdown page: one table per case, the command lines that produced the numbers, and
the method notes stored in the JSON. Nothing is measured here.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"kan": "KAN", "metakan": "MetaKAN", "slimkan": "Slim KAN", "mlp": "MLP",
          "pykan": "pykan 0.2.8 (fastest settings)", "pykan (defaults)": "pykan 0.2.8 (defaults)",
          "matmul": "dense matmul (limit)"}


METHOD_NOTES = """## How the fast paths work

* **Basis** (`pde_kan/nn/splines.py`): on a uniform grid every B-spline is a shifted cardinal spline, so a point
  with knot coordinate `u = (x - a)/h + k` lies in interval `j = floor(u)` at fraction `f = u - j`, where exactly
  `k + 1` functions are non-zero and equal fixed polynomials of `f` (tabulated once from the Cox–de Boor
  recursion in exact rational arithmetic). The layer's features `[silu(x), B(x)]` are one zero-filled buffer and
  one scatter of the `k + 1` pieces per point; derivatives are the same pieces' derivatives. The autograd
  function saves `x`, `f` and one byte per piece (its column) and its backward gathers the `k + 1` relevant
  gradient entries; under `create_graph` it differentiates through itself one order up, so the autograd
  Laplacian and double backward stay exact.
* **Layer**: one GEMM over `in * (n_basis + 1)` (base branch fused); where the weights are larger than the
  features (`out > N`) the basis part of the features is copied instead of the weights and two GEMMs accumulate
  into one output.
* **Jets** (`pde_kan/diff/jet.py`): value and second-order term are GEMMs of `[act^(d), B^(d)]` features against
  the same packed weights (`S = (F2 q + F1 s) @ W^T`); only the first-derivative matrix `D1 (N, out, in)` is
  formed (one batched GEMM over the inputs), the per-edge `D2` never is.
* **MetaKAN**: with a scalar embedding the hypernet `e -> W2 relu(w1 e + b1) + b2` is piecewise linear in `e`, so
  it is evaluated as `A[seg] e + B[seg]` from `(hidden + 1, n_basis + 1)` tables that are differentiable in the
  hypernet's parameters (exact, including gradients). Each layer generates its weights in chunks of whole
  output rows (`chunk_size` edges, default 262144) and multiplies each chunk into the output at once; backward
  regenerates a chunk from one saved byte per edge (its segment), so neither the whole coefficient tensor nor
  any hypernet activation outlives its chunk (`recompute=True`, the default). Wider embeddings use the generic
  hypernet with the same chunked regenerate-in-backward scheme (activation checkpointing of the generator, not
  of the GEMM).
* **Memory method**: see `benchmarks/memory.py` — each (case, model) in a fresh process, peak RSS above a
  baseline taken after imports, data and a warm-up step of a tiny model of the same kind.
"""


def label(key: str) -> str:
    return LABELS.get(key, key.replace("metakan", "MetaKAN"))


def fmt(v, digits=2):
    return "–" if v is None else f"{v:.{digits}f}"


def section_header(title: str, data: dict, how: str) -> list[str]:
    """A section's title and how its JSON was produced: command line, torch, threads, then ``how``."""
    return [title, "", f"Command: `{data['command']}`  ", f"torch {data['torch']}, {data['threads']} thread(s), {how}"]


def speed_section(data: dict) -> list[str]:
    lines = section_header(
        "## Layer speed: one training step (forward + backward)", data,
        f"clock `{data['clock']}`, median of {data['repeats']} side-by-side repeats of {data['inner']} steps; "
        f"grid_size {data['grid_size']}, spline_order {data['spline_order']}.  ")
    lines += [f"Definition: {data['definition']}.", ""]
    for res in data["results"]:
        lines += [f"### {res['case']}, {res['dtype']}", "",
                  "| model | ms / step | × matmul limit | × KAN | × pykan | trainable params |",
                  "|---|---:|---:|---:|---:|---:|"]
        ms = res["ms"]
        for key in ms:
            to_pykan = res["ratio_to_pykan"][key] if res.get("ratio_to_pykan") else None
            lines.append(f"| {label(key)} | {fmt(ms[key])} | {fmt(res['ratio_to_matmul'][key])} | "
                         f"{fmt(res['ratio_to_kan'][key])} | {fmt(to_pykan, 3)} | {res['params'][key]:,} |")
        for note in res.get("notes", []):
            lines.append(f"\n_{note}_")
        lines.append("")
    return lines


def memory_section(data: dict) -> list[str]:
    lines = section_header("## Peak memory of one training step", data,
                           f"device {data['device']}, median of {data['repeats']} fresh processes per model.  ")
    lines += [f"Definition: {data['definition']}.  ",
              "**Peak MB is what a user sees**: the process with glibc's default allocator (the one that also "
              "times the step). *Pinned MB* comes from a second fresh process with glibc's mmap threshold pinned "
              "(freed tensors go back to the OS, so the peak follows the live tensors). `MetaKAN` is the default "
              "configuration (`recompute=True`, `chunk_size=DEFAULT_CHUNK_SIZE` of `pde_kan/nn/hyper.py`); the "
              "suffixed rows change one option.", ""]
    for res in data["results"]:
        lines += [f"### {res['case']}: widths {res['widths']}, N = {res['n']}, {res['dtype']}", "",
                  f"Method: {res['method']}.", "",
                  "| model | peak MB | × KAN | pinned MB | × KAN | step ms | × KAN | trainable params |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for key, row in res["models"].items():
            lines.append(f"| {label(key)} | {fmt(row['peak_mb'], 1)} | {fmt(row.get('peak_to_kan'))} | "
                         f"{fmt(row['peak_mb_pinned'], 1)} | {fmt(row.get('peak_pinned_to_kan'))} | "
                         f"{fmt(row['step_ms'], 1)} | {fmt(row.get('time_to_kan'))} | {row['params']:,} |")
        lines.append("")
    return lines


def tucker_section(data: dict) -> list[str]:
    lines = section_header(
        "## Slim KAN: factored or materialised contraction", data,
        f"clock `{data['clock']}`, median of {data['repeats']} repeats; forward+backward of one layer's "
        "contraction, ranks (8, 8, 4) clipped to the layer. The cost model "
        "(`TuckerCoefficients.contraction_costs`) counts multiply-adds plus the passes over the factored path's "
        "intermediates, which run at memory speed; `SlimKAN(contraction=\"factored\" | \"materialized\")` "
        "overrides its pick (default `\"auto\"`).")
    lines += ["", "| in | out | N | dtype | factored ms | materialised ms | factored / materialised | model picks | "
             "right? |", "|---:|---:|---:|---|---:|---:|---:|---|---|"]
    for r in data["rows"]:
        faster = "factored" if r["ratio"] < 1 else "materialised"
        close = abs(r["ratio"] - 1) < 0.15
        ok = "yes" if r["model_picks"] == faster else ("tie" if close else "**no**")
        lines.append(f"| {r['in']} | {r['out']} | {r['n']} | {r['dtype']} | {fmt(r['ms_factored'])} | "
                     f"{fmt(r['ms_materialised'])} | {fmt(r['ratio'])} | {r['model_picks']} | {ok} |")
    lines.append("")
    return lines


def targets_section(speed: dict | None, memory: dict | None) -> list[str]:
    lines = ["## Targets", "", "| target | case | measured | met |", "|---|---|---:|---|"]

    def row(target, case, value, ok):
        lines.append(f"| {target} | {case} | {value} | {'yes' if ok else '**no**'} |")

    for res in (speed or {}).get("results", []):
        case = f"{res['case']}, {res['dtype']}"
        kan = res["ratio_to_matmul"]["kan"]
        row("KAN step <= 3x the matmul limit", case, f"{kan:.2f}x", kan <= 3)
        if res.get("ratio_to_pykan"):
            speedup = 1 / res["ratio_to_pykan"]["kan"]
            row("KAN >= 10x faster than pykan (fastest settings)", case, f"{speedup:.1f}x", speedup >= 10)
            if "pykan (defaults)" in res["ratio_to_pykan"]:
                d = res["ratio_to_pykan"]["pykan (defaults)"] / res["ratio_to_pykan"]["kan"]
                row("KAN >= 10x faster than pykan (defaults)", case, f"{d:.0f}x", d >= 10)
        for m in ("metakan", "slimkan"):
            v = res["ratio_to_kan"][m]
            row(f"{label(m)} step <= 1.5x KAN", case, f"{v:.2f}x", v <= 1.5)
    for res in (memory or {}).get("results", []):
        meta = res["models"].get("metakan", {})
        if "peak_to_kan" not in meta:
            continue
        if res["kind"] == "fc":
            row("MetaKAN peak (default allocator) <= 0.3x KAN", res["case"], f"{meta['peak_to_kan']:.2f}x",
                meta["peak_to_kan"] <= 0.3)
            row("... at <= 1.5x KAN's step time", res["case"], f"{meta['time_to_kan']:.2f}x",
                meta["time_to_kan"] <= 1.5)
        else:
            row("MetaKAN peak below KAN", res["case"], f"{meta['peak_to_kan']:.2f}x", meta["peak_to_kan"] < 1)
    lines.append("")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--speed", type=Path, default=ROOT / "benchmarks/results/layer_speed.json")
    ap.add_argument("--memory", type=Path, default=ROOT / "benchmarks/results/memory.json")
    ap.add_argument("--tucker", type=Path, default=ROOT / "benchmarks/results/tucker_paths.json")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    lines = ["# Benchmarks", "",
             "Generated by `benchmarks/render.py` from the JSON files in `benchmarks/results/`; do not edit by "
             "hand. Ratios are medians of per-repeat ratios measured side by side in one run on a shared "
             "2-core CPU machine, so they are more trustworthy than the absolute times.", ""]
    speed = json.loads(args.speed.read_text()) if args.speed.exists() else None
    memory = json.loads(args.memory.read_text()) if args.memory.exists() else None
    lines += targets_section(speed, memory)
    if speed:
        lines += speed_section(speed)
    if memory:
        lines += memory_section(memory)
    if args.tucker.exists():
        lines += tucker_section(json.loads(args.tucker.read_text()))
    lines += METHOD_NOTES.splitlines() + [""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
