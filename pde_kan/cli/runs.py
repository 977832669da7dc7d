"""``pde-kan predict`` and ``pde-kan plot``: read a finished run."""
from __future__ import annotations

import json
from pathlib import Path

from ._common import add_verbose, check_out, load_run, run_dir, write_plots
from ._config import CLIError


def read_points(path: str, dim: int):
    """``(N, dim)`` float64 points from a ``.npy`` array or a CSV / text file (one point a row, comma or
    whitespace separated, an optional header line)."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--points {path!r} does not exist; pass a .npy or .csv file with one point ({dim} "
                       f"coordinates) per row.")
    try:
        if p.suffix == ".npy":
            pts = np.load(p, allow_pickle=False)
        else:
            text = p.read_text().splitlines()
            delim = "," if any("," in line for line in text[:2]) else None
            try:
                pts = np.loadtxt(p, delimiter=delim, ndmin=2)
            except ValueError:  # a header line
                pts = np.loadtxt(p, delimiter=delim, ndmin=2, skiprows=1)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise CLIError(f"--points {path!r} cannot be read as a .npy array or a CSV of numbers ({e}).") from None
    pts = np.asarray(pts)
    if pts.ndim == 1 and dim == 1:
        pts = pts[:, None]
    if pts.ndim != 2 or pts.shape[1] != dim or not np.issubdtype(pts.dtype, np.number):
        raise CLIError(f"--points {path!r} must hold numbers of shape (N, {dim}) (one point per row, the run's "
                       f"problem has dim={dim}), got {pts.dtype} of shape {pts.shape}.")
    if not np.isfinite(pts).all():
        raise CLIError(f"--points {path!r} contains {int((~np.isfinite(pts)).sum())} non-finite value(s); clean "
                       f"the points first.")
    return pts.astype(np.float64)


def _check_out_file(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise CLIError(f"--out {str(out)!r} is a directory; pass a file name such as pred.h5.")
    if out.exists() and not overwrite:
        raise CLIError(f"--out {str(out)!r} exists; pass --overwrite to replace it or choose another name.")
    check_out(out.parent, may_reuse=True)


def _refuse_family_base(sol, source: str) -> None:
    """A family base has one output per coefficient set and no single problem: say how to get a solution."""
    if sol.attrs.get("family") is None:
        return
    sets = sol.attrs.get("family_sets") or [f"set{i}" for i in range(len(sol.attrs["family"]))]
    raise CLIError(f"--from {source!r} is a family base ({len(sets)} heads, sets {', '.join(sets)}), not one "
                   f"solution; solve a set with `pde-kan transfer --from {source} --set problem.KEY=VALUE --out DIR` "
                   f"(a fitted mix of the heads, then LoTRA) and predict from that run.")


def cmd_predict(args) -> int:
    """u at the points of --points, with the run's model and the problem's ansatz, into an HDF5 file."""
    import h5py
    import numpy as np

    from .._io import atomic_write

    out = Path(args.out)
    if out.suffix not in (".h5", ".hdf5"):
        raise CLIError(f"--out {args.out!r}: predictions are written as HDF5; name the file *.h5.")
    sol = load_run(args.source)
    _refuse_family_base(sol, args.source)
    if sol.model is None or sol.problem is None:
        what = "a model" if sol.model is None else f"a registered problem ({sol.attrs.get('problem')!r})"
        raise CLIError(f"--from {args.source!r}: the run has no {what}; for a problem of your own use the Python "
                       f"API: load_solution(path, problem=...).predict(x).")
    pts = read_points(args.points, sol.problem.dim)
    _check_out_file(out, args.overwrite)
    pred = sol.predict(pts)
    arrays = {"x": pts, "prediction": pred}
    try:
        import torch

        exact = sol.problem.exact(torch.as_tensor(pts)).numpy()
        arrays.update(exact=exact, error=pred - exact)
    except NotImplementedError:  # a problem without a closed-form solution
        pass

    def write(tmp):
        with h5py.File(tmp, "w") as f:
            f.attrs["source"] = str(args.source)
            f.attrs["problem"] = json.dumps(sol.problem.params())
            f.attrs["model_config"] = json.dumps(sol.attrs.get("model_config"))
            for k, v in arrays.items():
                f.create_dataset(k, data=np.asarray(v))

    atomic_write(out, write)
    line = f"wrote {out}: u at {len(pts)} points"
    if "error" in arrays:
        e = arrays["error"]
        rel = np.linalg.norm(e) / max(np.linalg.norm(arrays["exact"]), 1e-300)
        line += f" (rel_l2 against the exact solution {rel:.4g}, max |error| {np.abs(e).max():.4g})"
    print(line)
    return 0


def cmd_plot(args) -> int:
    """history.png and slice.png of a finished run (into --out, by default the run's directory)."""
    results, _ = run_dir(args.source)
    out = Path(args.out) if args.out else results.parent
    sol = load_run(args.source)
    check_out(out, may_reuse=True)  # only PNGs are written; they are derived from the run and are redrawn
    # a family base has no single problem: its training history only
    files = write_plots(sol, out) if sol.problem is not None or sol.attrs.get("family") is not None else []
    if not files:
        raise CLIError(f"--from {args.source!r}: the run's problem is not registered; plot it from Python with "
                       f"load_solution(path, problem=...).")
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def add_parsers(sub) -> None:
    pr = sub.add_parser("predict", help="the solution u of a run at given points")
    pr.add_argument("--from", dest="source", required=True, help="directory (or results.h5) of a run")
    pr.add_argument("--points", required=True, help=".npy or .csv file, one point per row")
    pr.add_argument("--out", required=True, help="HDF5 file to write (x, prediction, exact, error)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    add_verbose(pr)
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("plot", help="redraw the plots of a run (history.png, slice.png)")
    pl.add_argument("--from", dest="source", required=True, help="directory (or results.h5) of a run")
    pl.add_argument("--out", help="directory for the PNGs (default: the run's directory)")
    add_verbose(pl)
    pl.set_defaults(func=cmd_plot)
