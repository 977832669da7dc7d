"""The ``pde-kan`` command line (the only argparse in the package).

Subcommands: ``solve``, ``transfer``, ``predict``, ``plot``, ``validate``, ``demo``, ``list``. Run settings come
from, in increasing priority: defaults, a TOML file (``--config``), the shortcut flags (``--dim``,
``--backbone``, ...) and ``--set section.key=value`` overrides. Sections: ``[problem]`` (``name`` plus the
problem's arguments), ``[model]`` (``backbone``, ``hidden`` plus the backbone's arguments), ``[train]``
(TrainConfig fields).

Every command first resolves and checks everything it will need (config, problem, model, device, method names,
a derivative evaluation on a few points, and for ``--resume`` that the checkpoint belongs to the same problem,
model and training settings); only then is the first byte written to ``--out``. A user error is one line
``pde-kan: error: ...`` on stderr and exit status 2; Ctrl-C exits 130. Only bugs show a traceback.
"""
from __future__ import annotations

import argparse
import copy
import importlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

DEFAULT_HIDDEN = [64, 64, 64]
EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
# what a run writes into --out; --overwrite removes exactly these (other files are left alone)
RUN_FILES = ("run.json", "results.h5", "history.csv", "history.png", "slice.png", "checkpoints/last.pt",
             "adapter/adapter.pt", "adapter/adapter_config.json", "bank.h5")
DEMO_BACKBONES = {"metakan": dict(hyper_hidden=16), "kan": {}, "slimkan": dict(ranks=(8, 8, 4)), "mlp": {}}


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


# --- configuration ------------------------------------------------------------------------------------
def _toml_loads(text: str) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(text)


def parse_number(text: str):
    """The one rule turning command-line text into a number: an int if ``int()`` reads it, else a float if
    ``float()`` does (``.001``, ``1e-3``, ``2.``); raises ValueError otherwise. Used by every numeric flag and by
    ``--set`` values that are not TOML literals."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_value(text: str) -> Any:
    """A ``--set`` value: a TOML literal (number, bool, array, quoted string), else a number by
    :func:`parse_number` (``.001``), else a bare string. A quoted value stays a string (``'"0.001"'``), and a
    numeric field then refuses it naming the field, exactly as for a quoted number in a TOML file."""
    try:
        return _toml_loads(f"v = {text}")["v"]
    except Exception:
        pass
    try:
        return parse_number(text.strip())
    except ValueError:
        return text


def apply_override(cfg: dict, item: str, flag: str = "--set") -> None:
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise CLIError(f"{flag} expects section.key=value (sections: problem, model, train), got {item!r}; "
                       f"e.g. --set train.lr=1e-3.")
    key, value = item.split("=", 1)
    section, name = key.split(".", 1)
    if section not in ("problem", "model", "train"):
        raise CLIError(f"{flag} {item!r}: unknown section {section!r}; valid sections: 'problem', 'model', 'train'.")
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
    bad = [s for s in ("problem", "model", "train") if not isinstance(cfg.get(s, {}), dict)]
    if bad:
        raise CLIError(f"--config {path!r}: {bad[0]} must be a [{bad[0]}] table, got a value.")
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


def _hidden(value) -> list:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise CLIError(f"model.hidden must be an integer or a list of integers (hidden widths), got {value!r}; "
                       f"e.g. --hidden 64 64.")
    return list(value)


def build_problem(section: dict):
    from .problems import get_problem

    if not isinstance(section.get("name"), str):
        raise CLIError(f"problem.name must be a problem name (see `pde-kan list`), got {section.get('name')!r}.")
    try:
        return get_problem(section["name"], **{k: v for k, v in section.items() if k != "name"})
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None


def build_train(section: dict):
    from .solvers import TrainConfig

    try:
        return TrainConfig.from_dict(section)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None


def build(cfg: dict):
    """Problem, model and TrainConfig from a resolved run config (errors become CLIError)."""
    from .nn import get_backbone

    problem = build_problem(cfg["problem"])
    try:
        mkw = {k: v for k, v in cfg["model"].items() if k not in ("backbone", "hidden")}
        model = get_backbone(cfg["model"]["backbone"], [problem.dim, *_hidden(cfg["model"]["hidden"]), 1], **mkw)
        problem.check_model(model)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    return problem, model, build_train(cfg["train"])


def check_device(train) -> None:
    """The run's device exists here (``--device cuda`` without CUDA, ``cuda:3`` on a one-GPU machine)."""
    from ._checks import resolve_device

    try:
        resolve_device(train.device)
    except ValueError as e:
        raise CLIError(f"--device: {e}") from None


def preflight(problem, model, train, groups: bool = True) -> None:
    """Evaluate the training derivatives on 4 points with a copy of the model, so that what only shows at the
    first step (stochastic ``k`` above the dimension, a method the problem cannot use, ...) is reported before
    anything is written; with ``groups``, also the parameter groups ``train.group_lr`` names. Uses its own
    generator; the model is not touched."""
    import torch

    from ._checks import resolve_dtype
    from .solvers.trainer import _groups

    if groups:
        have = _groups(model)
        unknown = sorted(set(train.group_lr) - set(have))
        if unknown:
            raise CLIError(f"train.group_lr names unknown parameter group(s) {unknown}; this model has groups "
                           f"{sorted(have)}.")
    try:
        dtype = resolve_dtype(train.dtype)
        m = copy.deepcopy(model).to(dtype=dtype)
        g = torch.Generator().manual_seed(0)
        x = problem.sample_interior(4, g, dtype=dtype)
        problem.derivatives(m, x, train.laplacian, k=train.k, generator=torch.Generator().manual_seed(0))
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None


# --- --out and --resume -------------------------------------------------------------------------------
def check_out(out: Path, *, may_reuse: bool = False, overwrite: bool = False, flag: str = "--out") -> None:
    """Refuse an --out that cannot be written, or that holds files, unless the command continues (--resume) or
    replaces (--overwrite) them. Writes nothing."""
    if out.exists() and not out.is_dir():
        raise CLIError(f"{flag} {str(out)!r} is a file, not a directory; choose a directory.")
    if out.is_dir():
        entries = sorted(p.name for p in out.iterdir())
        if entries and not (may_reuse or overwrite):
            shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
            raise CLIError(f"{flag} {str(out)!r} is not empty ({shown}); pass --resume to continue the run there, "
                           f"--overwrite to replace its results, or choose a new directory.")
        if not os.access(out, os.W_OK | os.X_OK):
            raise CLIError(f"{flag} {str(out)!r} is not writable; choose a writable directory.")
        return
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise CLIError(f"{flag} {str(out)!r} cannot be created ({str(parent)!r} is a file); choose a writable "
                       f"directory.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CLIError(f"{flag} {str(out)!r} cannot be created ({str(parent)!r} is not writable); choose a "
                       f"writable directory.")


def clear_run_files(out: Path) -> None:
    """--overwrite: remove the files a previous run wrote into ``out`` (and only those)."""
    for name in RUN_FILES:
        if (out / name).is_file():
            (out / name).unlink()


def start_out(out: Path, cfg: dict, overwrite: bool = False) -> None:
    """After every check: clear the previous run's files (--overwrite), create ``out`` and record the resolved
    settings in ``out/run.json``."""
    from .solvers.checkpoint import atomic_write

    if overwrite:
        clear_run_files(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"--out {str(out)!r} cannot be created ({e.strerror}); choose a writable directory.") from None
    atomic_write(out / "run.json", lambda tmp: tmp.write_text(json.dumps(cfg, indent=2)))


class _Unset:
    def __repr__(self):
        return "(not set)"


_UNSET = _Unset()


def _short(value) -> str:
    if value is _UNSET:
        return "(default)"
    if value is None:  # e.g. train.lr: the backbone's recommended rate
        return "(not set)"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 32 else text[:29] + "..."


def check_resume(path: Path, problem, model, train, cfg: dict) -> None:
    """Refuse a checkpoint that is missing, corrupt, or from another problem, model or training config, naming
    every differing field (``problem.seed``, ``model.hidden``, ``train.lr``, ...) with both values."""
    from .solvers import load_checkpoint
    from .solvers.config import RESUMABLE
    from .solvers.trainer import resume_mismatches

    try:  # on CPU: a checkpoint written on a GPU is compared here, and the trainer maps it to the run's device
        state = load_checkpoint(path, map_location="cpu")
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(f"--resume: {e}") from None
    saved_problem = state.get("problem")
    run_json = path.parent.parent / "run.json"
    old_cfg = None
    if run_json.is_file():
        try:
            old_cfg = json.loads(run_json.read_text())
        except ValueError:
            old_cfg = None
    if saved_problem is None and isinstance(old_cfg, dict):  # checkpoints of older versions: rebuild from run.json
        try:
            saved_problem = build_problem(old_cfg.get("problem", {})).params()
        except CLIError:
            saved_problem = None
    model_cfg = {k: v for k, v in (model.config or {}).items() if k != "dtype"}  # train.dtype governs it
    saved_model = state.get("model_config")
    saved_model = {k: v for k, v in saved_model.items() if k != "dtype"} if isinstance(saved_model, dict) else None
    differ = resume_mismatches({**state, "model_config": saved_model, "problem": saved_problem}, train,
                               model_cfg, problem.params())
    values = {}
    for name in differ:
        section, key = name.split(".", 1)
        old = {"train": state.get("config") or {}, "model": saved_model or {}, "problem": saved_problem or {}}[section]
        new = {"train": train.to_dict(), "model": model_cfg, "problem": problem.params()}[section]
        values[name] = (old.get(key), new.get(key))
    if differ and isinstance(old_cfg, dict):  # name the settings as the user gave them (problem.seed for coeffs)
        for section in {n.split(".", 1)[0] for n in differ}:
            old_sec, new_sec = old_cfg.get(section) or {}, cfg.get(section) or {}
            for key in sorted(set(old_sec) | set(new_sec)):
                name = f"{section}.{key}"
                if section == "train" and key in RESUMABLE or name in values:
                    continue
                if old_sec.get(key, _UNSET) != new_sec.get(key, _UNSET):
                    values = {name: (old_sec.get(key, _UNSET), new_sec.get(key, _UNSET)), **values}
    if values:
        detail = "; ".join(f"{n}: checkpoint {_short(a)}, now {_short(b)}" for n, (a, b) in values.items())
        raise CLIError(f"--resume {str(path)!r} belongs to a different run ({detail}); resume with that run's "
                       f"settings (only steps / lbfgs_steps / eval_every may change), or start a new run with "
                       f"another --out or --overwrite.")
    step = int(state.get("step", 0))
    if step > train.total_steps:
        raise CLIError(f"--resume {str(path)!r} is at step {step}, beyond this run's {train.total_steps} steps; "
                       f"pass --steps {step} or more.")
    try:
        copy.deepcopy(model).load_state_dict(state["model"])
    except (RuntimeError, KeyError) as e:
        raise CLIError(f"--resume {str(path)!r} does not fit this model: {str(e).splitlines()[0]}") from None


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


def write_plots(solution, out: Path) -> list[Path]:
    """history.png, and slice.png for problems of dimension >= 2, into ``out``."""
    from .solvers import plot_history, plot_slice

    files = [plot_history(solution, out / "history.png")]
    if solution.problem is not None and solution.model is not None and solution.problem.dim >= 2:
        files.append(plot_slice(solution, out / "slice.png"))
    return files


def write_outputs(solution, out: Path, plots: bool = True) -> list[Path]:
    """results.h5, history.csv (by the callback), run.json, and PNG plots in ``out``."""
    files = [solution.save(out / "results.h5")]
    if plots:
        files += write_plots(solution, out)
    return files


def interrupted_line(solution) -> Optional[str]:
    """``"interrupted at step N of M ..."`` when the run was stopped by Ctrl-C, else None."""
    from .solvers import INTERRUPTED

    if solution.stop_reason != INTERRUPTED:
        return None
    total = getattr(solution.config, "total_steps", "?")
    return (f"interrupted at step {solution.metrics.get('steps', '?')} of {total} (Ctrl-C); the results above are "
            f"of that step, and `--resume` continues the run.")


def _distributed():
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from .solvers.distributed import DistributedContext

        return DistributedContext.from_env()
    return None


def _callbacks(out: Path, args, dist, metric: str = "rel_l2"):
    from .solvers import Checkpoint, HistoryCSV, LogMetrics, ProgressBar

    main = dist is None or dist.is_main
    cbs = []
    if main and not args.no_progress:
        cbs.append(ProgressBar(desc=str(out.name), metric=metric))
    if main:
        cbs += [HistoryCSV(out / "history.csv"), Checkpoint(out / "checkpoints", every=args.checkpoint_every)]
        if logging.getLogger("pde_kan").isEnabledFor(logging.INFO):
            cbs.append(LogMetrics())
    return cbs


def _check_flags(args) -> None:
    if getattr(args, "resume", None) is not None and getattr(args, "overwrite", False):
        raise CLIError("--resume and --overwrite contradict each other (continue the run in --out, or replace "
                       "it); pass one of them.")


# --- subcommands --------------------------------------------------------------------------------------
def cmd_solve(args) -> int:
    from .solvers import solve

    _check_flags(args)
    cfg = resolve_run_config(args)
    problem, model, train = build(cfg)
    check_device(train)
    out = Path(args.out)
    dist = _distributed()
    resume = args.resume
    if resume == "auto":
        last = out / "checkpoints" / "last.pt"
        resume = str(last) if last.is_file() else None
    if resume is not None:
        check_resume(Path(resume), problem, model, train, cfg)
    preflight(problem, model, train)
    main = dist is None or dist.is_main
    if main:  # other ranks never write, and would see rank 0's files appear
        check_out(out, may_reuse=args.resume is not None, overwrite=args.overwrite)
        start_out(out, cfg, overwrite=args.overwrite)
    solution = solve(problem, model, train, callbacks=_callbacks(out, args, dist), resume=resume, distributed=dist)
    if not main:
        return 0
    files = write_outputs(solution, out, plots=not args.no_plots)
    print(format_table([{"backbone": cfg["model"]["backbone"], **solution.metrics}], ["backbone", *METRIC_COLUMNS]))
    print("wrote " + ", ".join(str(f) for f in files))
    return _finish(solution)


def _finish(solution) -> int:
    line = interrupted_line(solution)
    if line is None:
        return 0
    print(line)
    return EXIT_INTERRUPTED


def _run_dir(source: str) -> tuple[Path, Path]:
    """(results.h5, run.json) of a run given by its --out directory or its results file."""
    src = Path(source)
    results = src / "results.h5" if src.is_dir() else src
    run_json = (src if src.is_dir() else src.parent) / "run.json"
    if not results.is_file():
        raise CLIError(f"--from {source!r}: no results.h5 there; pass the --out directory of a `pde-kan solve` or "
                       f"`pde-kan transfer` run.")
    return results, run_json


def _load_run(source: str, problem=None):
    from .solvers import load_solution

    importlib.import_module("pde_kan.transfer")  # registers the loader of LoTRA runs with load_solution

    results, _ = _run_dir(source)
    try:
        sol = load_solution(results)
    except (ValueError, TypeError, RuntimeError, FileNotFoundError) as e:
        raise CLIError(f"--from {source!r}: {e}") from None
    if problem is not None:
        sol.problem = problem
    return sol


def cmd_transfer(args) -> int:
    from ._checks import lookup
    from .transfer import LoTRAConfig, LoTRAModel, transfer
    from .transfer.api import TRANSFER_METHODS

    src = Path(args.source)
    run_json = (src if src.is_dir() else src.parent) / "run.json"
    if not run_json.is_file():
        raise CLIError(f"--from {args.source!r}: no run.json next to the results; pass the --out directory of "
                       f"a `pde-kan solve` run.")
    try:
        cfg = json.loads(run_json.read_text())
    except ValueError as e:
        raise CLIError(f"--from {args.source!r}: run.json is not valid JSON ({e}).") from None
    cfg = {s: dict(cfg.get(s) or {}) for s in ("problem", "model", "train")}
    for item in args.problem_set or []:
        if "=" not in item:
            raise CLIError(f"--problem-set expects KEY=VALUE (a problem parameter), got {item!r}; e.g. "
                           f"--problem-set seed=1.")
        apply_override(cfg, "problem." + item, flag="--problem-set")
    for item in args.set or []:
        apply_override(cfg, item)
    if args.steps is not None:
        cfg["train"]["steps"] = args.steps
    try:
        lookup(TRANSFER_METHODS, "transfer method", args.method)
    except ValueError as e:
        raise CLIError(f"--method: {e}") from None
    rank_kw = lotra_ranks(args)
    try:
        lotra = LoTRAConfig(**rank_kw)
    except (ValueError, TypeError) as e:
        raise CLIError(f"--ranks / --rank-budget: {e}") from None
    target = build_problem(cfg["problem"])
    family = None
    if args.many is not None:
        if args.method != "lotra":
            raise CLIError(f"--many trains one LoTRA adapter per coefficient set; it needs --method lotra, got "
                           f"--method {args.method}.")
        from .transfer import read_family

        try:
            family = read_family(args.many, target)
        except (OSError, ValueError) as e:
            raise CLIError(f"--many: {e}") from None
    train = build_train(cfg["train"])
    check_device(train)
    base = _load_run(args.source)
    try:
        if isinstance(base.model, LoTRAModel):  # transfer of a transfer starts from the merged model
            base.model = base.model.merge_and_unload()
        if base.model is None:
            raise ValueError("its results file holds no model")
        target.check_model(base.model)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CLIError(f"--from {args.source!r}: {e}") from None
    preflight(target, base.model, train, groups=False)  # LoTRA brings its own groups
    out = Path(args.out)
    check_out(out, overwrite=args.overwrite)
    start_out(out, {**cfg, "transfer": {"from": str(args.source), "method": args.method,
                                        "ranks": rank_kw.get("ranks", "auto"), "rank_budget": args.rank_budget,
                                        "many": args.many}},
              overwrite=args.overwrite)
    # each method's measured default rate, unless the user set one for this run
    lr = None if any(item.split("=", 1)[0].strip() == "train.lr" for item in args.set or []) else "default"
    if family is not None:
        return _transfer_family(base, family, out, lotra, train, lr, args)
    solution = transfer(target, base, method=args.method, config=train, lotra=lotra, lr=lr,
                        callbacks=_callbacks(out, args, None))
    files = write_outputs(solution, out, plots=not args.no_plots)
    if isinstance(solution.model, LoTRAModel):  # the adapter alone, loadable onto the source run's model
        files.append(solution.model.save_adapter(out / "adapter"))
    print(format_table([{"method": args.method, **solution.metrics}], ["method", *METRIC_COLUMNS]))
    print("wrote " + ", ".join(str(f) for f in files))
    return _finish(solution)


def lotra_ranks(args) -> dict:
    """``LoTRAConfig`` rank arguments from ``--ranks auto | R | R_OUT R_IN R_BASIS`` and ``--rank-budget``."""
    kw = {} if args.rank_budget is None else {"rank_budget": args.rank_budget}
    if not args.ranks:
        return kw
    if args.ranks == ["auto"]:
        return {**kw, "ranks": "auto"}
    try:
        ranks = [parse_number(r) for r in args.ranks]
    except ValueError:
        ranks = args.ranks
    if len(ranks) not in (1, 3) or not all(isinstance(r, int) for r in ranks):
        raise CLIError(f"--ranks takes 'auto', one integer or three integers (R_OUT R_IN R_BASIS), got "
                       f"{' '.join(args.ranks)!r}.")
    return {**kw, "ranks": ranks[0] if len(ranks) == 1 else tuple(ranks)}


def _transfer_family(base, family, out: Path, lotra, train, lr, args) -> int:
    """``transfer --many``: one adapter per coefficient set in one bank (``out/bank.h5``), a table of the runs."""
    from .transfer import train_family

    _, sols = train_family(base, family, path=out / "bank.h5", lotra=lotra, config=train,
                              lr=None if lr == "default" else train.lr, callbacks=_callbacks(out, args, None))
    rows = [{"set": sol.attrs["bank"]["key"], "warm start": sol.attrs["bank"]["warm_start_from"] or "base",
             **sol.metrics} for sol in sols]
    print(format_table(rows, ["set", "warm start", *METRIC_COLUMNS]))
    print(f"wrote {out / 'bank.h5'} ({len(sols)} adapters)")
    stopped = [s for s in sols if s.stop_reason]
    return _finish(stopped[0]) if stopped else 0


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


def cmd_predict(args) -> int:
    """u at the points of --points, with the run's model and the problem's ansatz, into an HDF5 file."""
    import h5py
    import numpy as np

    out = Path(args.out)
    if out.suffix not in (".h5", ".hdf5"):
        raise CLIError(f"--out {args.out!r}: predictions are written as HDF5; name the file *.h5.")
    sol = _load_run(args.source)
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
    from .solvers.checkpoint import atomic_write

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
        line += (f" (rel_l2 against the exact solution {np.linalg.norm(e) / max(np.linalg.norm(arrays['exact']), 1e-300):.4g}"
                 f", max |error| {np.abs(e).max():.4g})")
    print(line)
    return 0


def cmd_plot(args) -> int:
    """history.png and slice.png of a finished run (into --out, by default the run's directory)."""
    results, _ = _run_dir(args.source)
    out = Path(args.out) if args.out else results.parent
    sol = _load_run(args.source)
    check_out(out, may_reuse=True)  # only PNGs are written; they are derived from the run and are redrawn
    files = write_plots(sol, out) if sol.problem is not None else []
    if not files:
        raise CLIError(f"--from {args.source!r}: the run's problem is not registered; plot it from Python with "
                       f"load_solution(path, problem=...).")
    print("wrote " + ", ".join(str(f) for f in files))
    return 0


def cmd_validate(args) -> int:
    from . import validation

    runner = getattr(validation, f"run_{args.suite}", None)
    if runner is None:
        raise CLIError(f"validation suite {args.suite!r} is not available in this installation.")
    if args.out is not None:  # the suite's own argument checks come first, inside the runner, before it writes
        check_out(Path(args.out), overwrite=args.overwrite)
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


def _demo_run(name: str, kw: dict, hidden: list, config_dict: dict, out: str, progress: bool, plots: bool,
              checkpoint_every: int, verbose: bool) -> dict:
    """One demo backbone, run in a fresh process so that its peak memory is its own (a process's peak RSS
    never goes down, and freed memory stays mapped). Returns metrics and history columns."""
    from .nn import get_backbone
    from .problems import get_problem
    from .solvers import TrainConfig, solve
    from .solvers.trainer import proc_status_mb

    handler = _log_to_stderr(verbose)
    try:
        problem = get_problem("poisson-two-body", dim=10, seed=0)
        config = TrainConfig.from_dict(config_dict)
        model = get_backbone(name, [problem.dim, *hidden, 1], **kw)
        start_out(Path(out), {"problem": problem.params(), "model": model.config, "train": config.to_dict()})
        args = argparse.Namespace(no_progress=not progress, checkpoint_every=checkpoint_every)
        start_mb = proc_status_mb("VmRSS")  # this process after its imports: interpreter, torch, the model
        sol = solve(problem, model, config, callbacks=_callbacks(Path(out), args, None))
        if start_mb is not None:
            sol.metrics["memory_above_start_mb"] = sol.metrics["peak_memory_mb"] - start_mb
        write_outputs(sol, Path(out), plots=plots)
        return {"metrics": sol.metrics, "history": {k: v.tolist() for k, v in sol.history_table().items()},
                "stop_reason": sol.stop_reason}
    finally:
        _unlog(handler)


def cmd_demo(args) -> int:
    """Poisson two-body d=10 with each backbone for a short run; a metrics table and files in --out."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np

    from .solvers import TrainConfig, plot_comparison
    from .solvers.plots import backbone_label

    _check_flags(args)
    out = Path(args.out)
    hidden = [32, 32]
    try:
        config = TrainConfig(steps=args.steps, lr=1e-2, schedule="exponential", lr_final_factor=0.05,
                             n_interior=100, eval_every=max(args.steps // 20, 1), n_eval=5000, device="cpu")
    except (ValueError, TypeError) as e:
        raise CLIError(f"--steps: {e}") from None
    check_out(out, overwrite=args.overwrite)
    if args.overwrite and (out / "comparison.png").is_file():
        (out / "comparison.png").unlink()
    rows, histories = [], {}
    start = time.perf_counter()
    verbose = logging.getLogger("pde_kan").isEnabledFor(logging.INFO)
    with _sigint_flag() as interrupted:  # Ctrl-C reaches the child too; it stops after its step and reports
        for name, kw in DEMO_BACKBONES.items():
            if args.overwrite:
                check_out(out / name, overwrite=True)
                clear_run_files(out / name)
            try:
                with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                    res = pool.submit(_demo_run, name, kw, hidden, config.to_dict(), str(out / name),
                                      not args.no_progress, not args.no_plots, args.checkpoint_every,
                                      verbose).result()
            except BaseException:  # the child was interrupted before its training loop started
                if interrupted:
                    break
                raise
            rows.append({"backbone": name, **res["metrics"]})
            histories[backbone_label({"backbone": name})] = {k: np.asarray(v) for k, v in res["history"].items()}
            if res["stop_reason"] or interrupted:
                break
    total = time.perf_counter() - start
    files = []
    if not args.no_plots:
        files.append(plot_comparison(histories, out / "comparison.png",
                                     title=f"Poisson two-body, d=10, hidden {hidden}: backbones compared"))
    print(f"\nPoisson two-body, d=10, hidden {hidden}, {args.steps} steps, 100 fresh points/step, exact jet "
          f"Laplacian ({total:.0f} s total; each backbone in its own process: peak_memory_mb is that process's "
          f"peak RSS, memory_above_start_mb its peak above the RSS after imports and model construction)")
    memory = ["memory_above_start_mb"] if all("memory_above_start_mb" in r for r in rows) else []
    print(format_table(rows, ["backbone", *METRIC_COLUMNS, *memory]))
    print(f"results, histories, checkpoints and plots in {out}/<backbone>/" +
          (f", the backbones compared in {files[0]}" if files else ""))
    if len(rows) < len(DEMO_BACKBONES) or any(r.get("steps", args.steps) < args.steps for r in rows):
        last = rows[-1] if rows else {"backbone": list(DEMO_BACKBONES)[0], "steps": 0}
        print(f"interrupted at step {last.get('steps', '?')} of {args.steps} ({last['backbone']}, Ctrl-C); "
              f"{len(rows)} of {len(DEMO_BACKBONES)} backbones ran")
        return EXIT_INTERRUPTED
    return 0


class _sigint_flag:
    """While active, the first Ctrl-C only sets a flag (returned list becomes non-empty) so the demo can report
    what ran; a second one aborts as usual. Main thread only (elsewhere it does nothing)."""

    def __enter__(self) -> list:
        import signal
        import threading

        self.flag: list = []
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            def handler(signum, frame):
                signal.signal(signal.SIGINT, self.previous)
                self.flag.append(True)

            self.previous = signal.signal(signal.SIGINT, handler)
        return self.flag

    def __exit__(self, *exc) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def cmd_list(args) -> int:
    from .diff import METHODS
    from .nn import available_backbones
    from .problems import available_problems

    print("backbones:  " + ", ".join(available_backbones()))
    print("problems:   " + ", ".join(available_problems()))
    print("laplacian:  " + ", ".join(METHODS))
    return 0


# --- parser -------------------------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (CLIError) instead of usage + message + exit."""

    def error(self, message):
        sub = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        raise CLIError(f"{sub}{message} (see `{self.prog} --help`)")


def _period(text: str) -> int:
    """argparse type of --checkpoint-every: an integer >= 1 (checked before anything is written)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (steps between checkpoints), got {text!r}")
    return value


def _int(text: str) -> int:
    """argparse type of integer flags: :func:`parse_number`, which must give an int."""
    try:
        value = parse_number(text)
    except ValueError:
        value = None
    if not isinstance(value, int):
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")
    return value


def _float(text: str) -> float:
    """argparse type of real flags: :func:`parse_number`."""
    try:
        return float(parse_number(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def _verbose(p: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    p.add_argument("-v", "--verbose", action="store_true", default=default,
                   help="log every evaluation (step, loss, errors, lr, steps/s) on stderr")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output directory (results.h5, history.csv, checkpoints, plots)")
    p.add_argument("--overwrite", action="store_true", help="replace the results of a previous run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--checkpoint-every", type=_period, default=500, metavar="N", help="checkpoint period (steps)")
    _verbose(p)


def make_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog="pde-kan", description="Physics-informed PDE solvers on KANs.")
    parser.add_argument("--version", action="version", version=f"pde-kan {__version__}")
    _verbose(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("solve", help="train a PINN on a problem")
    _common(s)
    s.add_argument("--config", help="TOML file with [problem], [model], [train]")
    s.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a setting (repeatable)")
    s.add_argument("--problem", help="problem name (see `pde-kan list`)")
    s.add_argument("--dim", type=_int, help="problem dimension")
    s.add_argument("--problem-seed", type=_int, help="seed of the problem's coefficients")
    s.add_argument("--backbone", help="kan | metakan | slimkan | mlp (default metakan)")
    s.add_argument("--hidden", type=_int, nargs="+", help="hidden widths (default 64 64 64)")
    s.add_argument("--steps", type=_int)
    s.add_argument("--lr", type=_float)
    s.add_argument("--optimizer", help="adam | lbfgs | adam+lbfgs")
    s.add_argument("--laplacian", help="jet | sdgd | hutchinson | autograd | sdgd_autograd")
    s.add_argument("--k", type=_int, help="probe directions for stochastic Laplacians")
    s.add_argument("--n-interior", type=_int, dest="n_interior")
    s.add_argument("--eval-every", type=_int, dest="eval_every")
    s.add_argument("--n-eval", type=_int, dest="n_eval")
    s.add_argument("--seed", type=_int, help="training seed")
    s.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    s.add_argument("--resume", nargs="?", const="auto", help="continue from a checkpoint (default: OUT's last)")
    s.set_defaults(func=cmd_solve)

    t = sub.add_parser("transfer", help="adapt a solved run to new problem parameters")
    _common(t)
    t.add_argument("--from", dest="source", required=True, help="directory of a `pde-kan solve` run")
    t.add_argument("--problem-set", action="append", metavar="KEY=VALUE", help="change a problem parameter")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE", help="override a setting")
    t.add_argument("--method", default="lotra", help="lotra | full | last_layer | scratch")
    t.add_argument("--ranks", nargs="+", metavar="R",
                   help="LoTRA ranks: auto (default: from --rank-budget), one rank for all modes, or R_OUT R_IN R_BASIS")
    t.add_argument("--rank-budget", type=_float, metavar="F",
                   help="with --ranks auto: adapter parameters as a fraction of full fine-tuning's (default 0.15)")
    t.add_argument("--many", metavar="FILE", help="a .toml ([[set]] tables) or .csv of coefficient sets: one LoTRA "
                   "adapter per set, stored in --out/bank.h5, each warm-started from the nearest stored set")
    t.add_argument("--steps", type=_int)
    t.set_defaults(func=cmd_transfer)

    pr = sub.add_parser("predict", help="the solution u of a run at given points")
    pr.add_argument("--from", dest="source", required=True, help="directory (or results.h5) of a run")
    pr.add_argument("--points", required=True, help=".npy or .csv file, one point per row")
    pr.add_argument("--out", required=True, help="HDF5 file to write (x, prediction, exact, error)")
    pr.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    _verbose(pr)
    pr.set_defaults(func=cmd_predict)

    pl = sub.add_parser("plot", help="redraw the plots of a run (history.png, slice.png)")
    pl.add_argument("--from", dest="source", required=True, help="directory (or results.h5) of a run")
    pl.add_argument("--out", help="directory for the PNGs (default: the run's directory)")
    _verbose(pl)
    pl.set_defaults(func=cmd_plot)

    v = sub.add_parser("validate", help="run a validation suite")
    v.add_argument("suite", choices=["feynman", "images", "pde"])
    v.add_argument("--out", help="directory for the report (table, CSV, HDF5, figure)")
    v.add_argument("--no-progress", action="store_true")
    v.add_argument("--overwrite", action="store_true", help="write the report into a non-empty --out")
    v.add_argument("--backbones", nargs="+")
    v.add_argument("--equations", nargs="+", help="feynman: equation names (default all)")
    v.add_argument("--steps", type=_int)
    v.add_argument("--dataset", help="images: digits | mnist | fashion-mnist | kmnist | cifar10")
    v.add_argument("--data-dir", help="images: directory with the IDX / CIFAR files")
    v.add_argument("--epochs", type=_int)
    v.add_argument("--problems", nargs="+", help="pde: problem names")
    _verbose(v)
    v.set_defaults(func=cmd_validate)

    d = sub.add_parser("demo", help="a one-minute Poisson d=10 solve comparing the backbones")
    d.add_argument("--out", default="runs/demo")
    d.add_argument("--steps", type=_int, default=400)
    d.add_argument("--overwrite", action="store_true", help="replace the results of a previous demo in --out")
    d.add_argument("--no-progress", action="store_true")
    d.add_argument("--no-plots", action="store_true")
    d.add_argument("--checkpoint-every", type=_period, default=500)
    _verbose(d)
    d.set_defaults(func=cmd_demo)

    ls = sub.add_parser("list", help="list backbones, problems and Laplacian methods")
    _verbose(ls)
    ls.set_defaults(func=cmd_list)
    return parser


def _log_to_stderr(verbose: bool):
    """Route the ``pde_kan`` logger to stderr (INFO with -v, else WARNING) for this call; returns the handler."""
    logger = logging.getLogger("pde_kan")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._pde_kan_level = logger.level  # restored by _unlog
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler


def _unlog(handler) -> None:
    if handler is not None:
        logger = logging.getLogger("pde_kan")
        logger.removeHandler(handler)
        logger.setLevel(handler._pde_kan_level)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (0, 2 for a user error, 130 after Ctrl-C)."""
    handler = None
    try:
        args = make_parser().parse_args(None if argv is None else [str(a) for a in argv])
        handler = _log_to_stderr(args.verbose)
        if args.verbose and not getattr(args, "no_progress", True):  # log lines above the bar, not through it
            from tqdm.contrib.logging import logging_redirect_tqdm

            with logging_redirect_tqdm(loggers=[logging.getLogger("pde_kan")]):
                return args.func(args)
        return args.func(args)
    except CLIError as e:
        print(f"pde-kan: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        print(f"pde-kan: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("pde-kan: interrupted (Ctrl-C); files already written are complete (atomic writes)", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        _unlog(handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
