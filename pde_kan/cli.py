"""The ``pde-kan`` command line (the only argparse in the package).

Subcommands: ``solve``, ``transfer``, ``validate``, ``demo``, ``list``. Run settings come from, in increasing
priority: defaults, a TOML file (``--config``), the shortcut flags (``--dim``, ``--backbone``, ...) and
``--set section.key=value`` overrides. Sections: ``[problem]`` (``name`` plus the problem's arguments),
``[model]`` (``backbone``, ``hidden`` plus the backbone's arguments), ``[train]`` (TrainConfig fields).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

DEFAULT_HIDDEN = [64, 64, 64]


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# --- configuration ------------------------------------------------------------------------------------
def _toml_loads(text: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML literal (number, bool, array, quoted string) or else a bare string."""
    try:
        return _toml_loads(f"v = {text}")["v"]
    except Exception:
        return text


def apply_override(cfg: dict, item: str) -> None:
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise CLIError(f"--set expects section.key=value (sections: problem, model, train), got {item!r}; "
                       f"e.g. --set train.lr=1e-3.")
    key, value = item.split("=", 1)
    section, name = key.split(".", 1)
    if section not in ("problem", "model", "train"):
        raise CLIError(f"--set {item!r}: unknown section {section!r}; valid sections: 'problem', 'model', 'train'.")
    cfg.setdefault(section, {})[name] = parse_value(value)


def load_config(path: Optional[str]) -> dict:
    if path is None:
        return {"problem": {}, "model": {}, "train": {}}
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--config {path!r} does not exist; pass a TOML file with [problem], [model], [train].")
    try:
        cfg = _toml_loads(p.read_text())
    except Exception as e:
        raise CLIError(f"--config {path!r} is not valid TOML: {e}.") from None
    unknown = sorted(set(cfg) - {"problem", "model", "train"})
    if unknown:
        raise CLIError(f"--config {path!r}: unknown section(s) {unknown}; valid sections: problem, model, train.")
    return {s: dict(cfg.get(s, {})) for s in ("problem", "model", "train")}


def resolve_run_config(args) -> dict:
    cfg = load_config(args.config)
    shortcuts = {
        ("problem", "name"): args.problem, ("problem", "dim"): args.dim, ("problem", "seed"): args.problem_seed,
        ("model", "backbone"): args.backbone, ("model", "hidden"): args.hidden,
        ("train", "steps"): args.steps, ("train", "lr"): args.lr, ("train", "laplacian"): args.laplacian,
        ("train", "k"): args.k, ("train", "seed"): args.seed, ("train", "device"): args.device,
        ("train", "optimizer"): args.optimizer, ("train", "n_interior"): args.n_interior,
        ("train", "eval_every"): args.eval_every, ("train", "n_eval"): args.n_eval,
    }
    for (section, key), value in shortcuts.items():
        if value is not None:
            cfg[section][key] = value
    for item in args.set or []:
        apply_override(cfg, item)
    if "name" not in cfg["problem"]:
        raise CLIError("no problem given; pass --problem NAME (see `pde-kan list`) or [problem] name in --config.")
    cfg["model"].setdefault("backbone", "metakan")
    cfg["model"].setdefault("hidden", list(DEFAULT_HIDDEN))
    return cfg


def build(cfg: dict):
    """Problem, model and TrainConfig from a resolved run config (errors become CLIError)."""
    from .nn import get_backbone
    from .problems import get_problem
    from .solvers import TrainConfig

    try:
        pkw = {k: v for k, v in cfg["problem"].items() if k != "name"}
        problem = get_problem(cfg["problem"]["name"], **pkw)
        mkw = {k: v for k, v in cfg["model"].items() if k not in ("backbone", "hidden")}
        hidden = cfg["model"]["hidden"]
        hidden = [hidden] if isinstance(hidden, int) else list(hidden)
        model = get_backbone(cfg["model"]["backbone"], [problem.dim, *hidden, 1], **mkw)
        train = TrainConfig.from_dict(cfg["train"])
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    return problem, model, train


# --- output -------------------------------------------------------------------------------------------
def format_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """An aligned plain-text table; floats in 4 significant digits."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join([line, sep, *body])


METRIC_COLUMNS = ["rel_l2", "rel_l1", "max_abs", "trainable_parameters", "seconds", "steps_per_second",
                  "peak_memory_mb"]


def write_outputs(solution, out: Path, plots: bool = True) -> list[Path]:
    """results.h5, history.csv (by the callback), run.json, and PNG plots in ``out``."""
    from .solvers import plot_history, plot_slice

    files = [solution.save(out / "results.h5")]
    if plots:
        files.append(plot_history(solution, out / "history.png"))
        if solution.problem is not None and solution.problem.dim >= 2:
            files.append(plot_slice(solution, out / "slice.png"))
    return files


def prepare_out(out: Path, cfg: dict) -> None:
    """Create ``out`` (clear error if impossible) and record the resolved settings in ``out/run.json``."""
    from .solvers import atomic_write

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"--out {str(out)!r} cannot be created ({e.strerror}); choose a writable directory.") from None
    if not os.access(out, os.W_OK):
        raise CLIError(f"--out {str(out)!r} is not writable; choose a writable directory.")
    atomic_write(out / "run.json", lambda tmp: tmp.write_text(json.dumps(cfg, indent=2)))


def _distributed():
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from .solvers.distributed import DistributedContext

        return DistributedContext.from_env()
    return None


def _callbacks(out: Path, args, dist, metric: str = "rel_l2"):
    from .solvers import Checkpoint, HistoryCSV, ProgressBar

    main = dist is None or dist.is_main
    cbs = []
    if main and not args.no_progress:
        cbs.append(ProgressBar(desc=str(out.name), metric=metric))
    if main:
        cbs += [HistoryCSV(out / "history.csv"), Checkpoint(out / "checkpoints", every=args.checkpoint_every)]
    return cbs


# --- subcommands --------------------------------------------------------------------------------------
def cmd_solve(args) -> int:
    from .solvers import solve

    cfg = resolve_run_config(args)
    problem, model, train = build(cfg)
    out = Path(args.out)
    dist = _distributed()
    resume = args.resume
    if resume == "auto":
        last = out / "checkpoints" / "last.pt"
        resume = str(last) if last.is_file() else None
    if resume is not None:  # a missing or corrupt checkpoint is a user error, reported before --out is touched
        from .solvers import load_checkpoint

        try:
            load_checkpoint(resume)
        except (ValueError, FileNotFoundError) as e:
            raise CLIError(f"--resume: {e}") from None
    if dist is None or dist.is_main:
        prepare_out(out, cfg)
    solution = solve(problem, model, train, callbacks=_callbacks(out, args, dist), resume=resume, distributed=dist)
    if dist is None or dist.is_main:
        files = write_outputs(solution, out, plots=not args.no_plots)
        print(format_table([{"backbone": cfg["model"]["backbone"], **solution.metrics}],
                           ["backbone", *METRIC_COLUMNS]))
        print("wrote " + ", ".join(str(f) for f in files))
    return 0


def cmd_transfer(args) -> int:
    from .problems import get_problem
    from .solvers import TrainConfig
    from .transfer import LoTRAConfig, LoTRAModel, load_transfer_solution, transfer

    src = Path(args.source)
    results = src / "results.h5" if src.is_dir() else src
    run_json = (src if src.is_dir() else src.parent) / "run.json"
    if not run_json.is_file():
        raise CLIError(f"--from {args.source!r}: no run.json next to the results; pass the --out directory of "
                       f"a `pde-kan solve` run.")
    cfg = json.loads(run_json.read_text())
    for item in args.problem_set or []:
        apply_override(cfg, "problem." + item)
    for item in args.set or []:
        apply_override(cfg, item)
    if args.steps is not None:
        cfg["train"]["steps"] = args.steps
    try:
        base = load_transfer_solution(results)
        if isinstance(base.model, LoTRAModel):  # transfer of a transfer starts from the merged model
            base.model = base.model.merge_and_unload()
        target = get_problem(cfg["problem"]["name"], **{k: v for k, v in cfg["problem"].items() if k != "name"})
        train = TrainConfig.from_dict(cfg["train"])
        lotra = LoTRAConfig(ranks=tuple(args.ranks)) if args.ranks else LoTRAConfig()
    except (ValueError, TypeError, RuntimeError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    out = Path(args.out)
    prepare_out(out, {**cfg, "transfer": {"from": str(args.source), "method": args.method, "ranks": args.ranks}})
    solution = transfer(base, target, method=args.method, config=train, lotra=lotra,
                        callbacks=_callbacks(out, args, None))
    files = write_outputs(solution, out, plots=not args.no_plots)
    if isinstance(solution.model, LoTRAModel):  # the adapter alone, loadable onto the source run's model
        files.append(solution.model.save_adapter(out / "adapter"))
    print(format_table([{"method": args.method, **solution.metrics}], ["method", *METRIC_COLUMNS]))
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def cmd_validate(args) -> int:
    from . import validation

    runner = getattr(validation, f"run_{args.suite}", None)
    if runner is None:
        raise CLIError(f"validation suite {args.suite!r} is not available in this installation.")
    kwargs = {"out": args.out, "progress": not args.no_progress}
    if args.suite == "feynman":
        kwargs.update(equations=args.equations, steps=args.steps, backbones=args.backbones)
    elif args.suite == "images":
        kwargs.update(dataset=args.dataset, data_dir=args.data_dir, epochs=args.epochs, backbones=args.backbones)
    else:
        kwargs.update(problems=args.problems, steps=args.steps, backbones=args.backbones)
    try:
        report = runner(**{k: v for k, v in kwargs.items() if v is not None})
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(str(e)) from None
    print(report.to_text())
    return 0


def cmd_demo(args) -> int:
    """Poisson two-body d=10 with each backbone for a short run; a metrics table and files in --out."""
    from .nn import get_backbone
    from .problems import get_problem
    from .solvers import TrainConfig, solve

    out = Path(args.out)
    problem = get_problem("poisson-two-body", dim=10, seed=0)
    hidden = [32, 32]
    budgets = {"metakan": dict(hyper_hidden=16), "kan": {}, "slimkan": dict(ranks=(8, 8, 4)), "mlp": {}}
    config = TrainConfig(steps=args.steps, lr=1e-2, schedule="exponential", lr_final_factor=0.05,
                         n_interior=100, eval_every=max(args.steps // 4, 1), n_eval=5000, device="cpu")
    rows = []
    start = time.perf_counter()
    for name, kw in budgets.items():
        model = get_backbone(name, [problem.dim, *hidden, 1], **kw)
        prepare_out(out / name, {"problem": problem.params(), "model": model.config, "train": config.to_dict()})
        cbs = _callbacks(out / name, args, None)
        sol = solve(problem, model, config, callbacks=cbs)
        write_outputs(sol, out / name, plots=(name == "metakan") and not args.no_plots)
        rows.append({"backbone": name, **sol.metrics})
    print(f"\nPoisson two-body, d=10, hidden {hidden}, {args.steps} steps, 100 fresh points/step, exact jet "
          f"Laplacian ({time.perf_counter() - start:.0f} s total)")
    print(format_table(rows, ["backbone", *METRIC_COLUMNS]))
    print(f"results, histories, checkpoints and plots in {out}/<backbone>/")
    return 0


def cmd_list(args) -> int:
    from .diff import METHODS
    from .nn import available_backbones
    from .problems import available_problems

    print("backbones:  " + ", ".join(available_backbones()))
    print("problems:   " + ", ".join(available_problems()))
    print("laplacian:  " + ", ".join(METHODS))
    return 0


# --- parser -------------------------------------------------------------------------------------------
def _period(text: str) -> int:
    """argparse type of --checkpoint-every: an integer >= 1 (checked before anything is written)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (steps between checkpoints), got {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output directory (results.h5, history.csv, checkpoints, plots)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--checkpoint-every", type=_period, default=500, metavar="N", help="checkpoint period (steps)")


def make_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="pde-kan", description="Physics-informed PDE solvers on KANs.")
    parser.add_argument("--version", action="version", version=f"pde-kan {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log evaluations (INFO)")
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="train a PINN on a problem")
    _common(s)
    s.add_argument("--config", help="TOML file with [problem], [model], [train]")
    s.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a setting (repeatable)")
    s.add_argument("--problem", help="problem name (see `pde-kan list`)")
    s.add_argument("--dim", type=int, help="problem dimension")
    s.add_argument("--problem-seed", type=int, help="seed of the problem's coefficients")
    s.add_argument("--backbone", help="kan | metakan | slimkan | mlp (default metakan)")
    s.add_argument("--hidden", type=int, nargs="+", help="hidden widths (default 64 64 64)")
    s.add_argument("--steps", type=int)
    s.add_argument("--lr", type=float)
    s.add_argument("--optimizer", help="adam | lbfgs | adam+lbfgs")
    s.add_argument("--laplacian", help="jet | sdgd | hutchinson | autograd | sdgd_autograd")
    s.add_argument("--k", type=int, help="probe directions for stochastic Laplacians")
    s.add_argument("--n-interior", type=int, dest="n_interior")
    s.add_argument("--eval-every", type=int, dest="eval_every")
    s.add_argument("--n-eval", type=int, dest="n_eval")
    s.add_argument("--seed", type=int, help="training seed")
    s.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    s.add_argument("--resume", nargs="?", const="auto", help="continue from a checkpoint (default: OUT's last)")
    s.set_defaults(func=cmd_solve)

    t = sub.add_parser("transfer", help="adapt a solved run to new problem parameters")
    _common(t)
    t.add_argument("--from", dest="source", required=True, help="directory of a `pde-kan solve` run")
    t.add_argument("--problem-set", action="append", metavar="KEY=VALUE", help="change a problem parameter")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a setting")
    t.add_argument("--method", default="lotra", help="lotra | full | last_layer | scratch")
    t.add_argument("--ranks", type=int, nargs=3, metavar=("R_OUT", "R_IN", "R_BASIS"))
    t.add_argument("--steps", type=int)
    t.set_defaults(func=cmd_transfer)

    v = sub.add_parser("validate", help="run a validation suite")
    v.add_argument("suite", choices=["feynman", "images", "pde"])
    v.add_argument("--out", help="directory for the report (table, CSV, HDF5, figure)")
    v.add_argument("--no-progress", action="store_true")
    v.add_argument("--backbones", nargs="+")
    v.add_argument("--equations", nargs="+", help="feynman: equation names (default all)")
    v.add_argument("--steps", type=int)
    v.add_argument("--dataset", help="images: digits | mnist | fashion-mnist | kmnist | cifar10")
    v.add_argument("--data-dir", help="images: directory with the IDX / CIFAR files")
    v.add_argument("--epochs", type=int)
    v.add_argument("--problems", nargs="+", help="pde: problem names")
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("demo", help="a one-minute Poisson d=10 solve comparing the backbones")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--steps", type=int, default=400)
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--no-plots", action="store_true")
    d.add_argument("--checkpoint-every", type=_period, default=500)
    d.set_defaults(func=cmd_demo)

    ls = sub.add_parser("list", help="list backbones, problems and Laplacian methods")
    ls.set_defaults(func=cmd_list)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.func(args)
    except CLIError as e:
        print(f"pde-kan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, PermissionError, IsADirectoryError) as e:
        print(f"pde-kan {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
