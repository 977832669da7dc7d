"""What every subcommand shares: ``--out`` checks, output files, tables, callbacks, logging, argparse types."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from ._config import CLIError

EXIT_USAGE, EXIT_INTERRUPTED = 2, 130
# what a run writes into --out (glob patterns); --overwrite removes exactly these (other files are left alone)
RUN_FILES = ("run.json", "results.h5", "history.csv", "history.png", "slice.png", "checkpoints/last.pt",
             "adapter/adapter.pt", "adapter/adapter_config.json", "bank.h5", "sets.csv", "sets/*/history.csv",
             "sets/*/checkpoints/last.pt")
METRIC_COLUMNS = ["rel_l2", "rel_l1", "max_abs", "trainable_parameters", "seconds", "steps_per_second",
                  "peak_memory_mb"]


# --- --out ----------------------------------------------------------------------------------------------
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
    for pattern in RUN_FILES:
        for path in out.glob(pattern):
            if path.is_file():
                path.unlink()


def start_out(out: Path, cfg: dict, overwrite: bool = False) -> None:
    """After every check: clear the previous run's files (--overwrite), create ``out`` and record the resolved
    settings in ``out/run.json``."""
    from .._io import atomic_write

    if overwrite:
        clear_run_files(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CLIError(f"--out {str(out)!r} cannot be created ({e.strerror}); choose a writable directory.") from None
    atomic_write(out / "run.json", lambda tmp: tmp.write_text(json.dumps(cfg, indent=2)))


def check_flags(args) -> None:
    if getattr(args, "resume", None) is not None and getattr(args, "overwrite", False):
        raise CLIError("--resume and --overwrite contradict each other (continue the run in --out, or replace "
                       "it); pass one of them.")


# --- output ---------------------------------------------------------------------------------------------
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


def write_plots(solution, out: Path) -> list[Path]:
    """history.png, and slice.png for problems of dimension >= 2, into ``out``."""
    from ..solvers import plot_history, plot_slice

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
    from ..solvers import INTERRUPTED

    if solution.stop_reason != INTERRUPTED:
        return None
    total = getattr(solution.config, "total_steps", "?")
    return (f"interrupted at step {solution.metrics.get('steps', '?')} of {total} (Ctrl-C); the results above are "
            f"of that step, and `--resume` continues the run.")


def finish(solution) -> int:
    line = interrupted_line(solution)
    if line is None:
        return 0
    print(line)
    return EXIT_INTERRUPTED


def distributed():
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        from ..solvers.distributed import DistributedContext

        return DistributedContext.from_env()
    return None


def callbacks(out: Path, args, dist, metric: str = "rel_l2"):
    from ..solvers import Checkpoint, HistoryCSV, LogMetrics, ProgressBar

    main = dist is None or dist.is_main
    cbs = []
    if main and not args.no_progress:
        cbs.append(ProgressBar(desc=str(out.name), metric=metric))
    if main:
        cbs += [HistoryCSV(out / "history.csv"), Checkpoint(out / "checkpoints", every=args.checkpoint_every)]
        if logging.getLogger("pde_kan").isEnabledFor(logging.INFO):
            cbs.append(LogMetrics())
    return cbs


def family_keys(family, flag: str) -> list[str]:
    """The set keys of a family file read by ``flag`` (``--many``, ``--family``): the file's ids, else
    ``set<i>``; checked before anything is written, as each names a bank member or a head, and a folder."""
    from ..transfer.bank import KEY_PATTERN

    keys = [key if key is not None else f"set{i}" for i, (key, _) in enumerate(family)]
    for key in keys:
        if not KEY_PATTERN.match(key) or key in (".", ".."):
            raise CLIError(f"{flag}: set id {key!r} cannot name a bank member and its folder; use 1-128 letters, "
                           f"digits and _.:=+- (e.g. set3).")
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise CLIError(f"{flag}: set id {dup[0]!r} appears more than once; give every set its own id.")
    return keys


def read_family_file(path: str, template, flag: str) -> list:
    """``[(key, problem), ...]`` of a ``.toml`` / ``.csv`` family file (``read_family``), errors as CLIError."""
    from ..transfer import read_family

    try:
        family = read_family(path, template)
    except (OSError, ValueError) as e:
        raise CLIError(f"{flag}: {e}") from None
    return list(zip(family_keys(family, flag), (p for _, p in family)))


# --- runs on disk ---------------------------------------------------------------------------------------
def run_dir(source: str) -> tuple[Path, Path]:
    """(results.h5, run.json) of a run given by its --out directory or its results file."""
    src = Path(source)
    results = src / "results.h5" if src.is_dir() else src
    run_json = (src if src.is_dir() else src.parent) / "run.json"
    if not results.is_file():
        raise CLIError(f"--from {source!r}: no results.h5 there; pass the --out directory of a `pde-kan solve` or "
                       f"`pde-kan transfer` run.")
    return results, run_json


def load_run(source: str, problem=None):
    from .. import load_solution  # the root's: it imports pde_kan.transfer first, which registers LoTRA runs

    results, _ = run_dir(source)
    try:
        sol = load_solution(results)
    except (ValueError, TypeError, RuntimeError, FileNotFoundError) as e:
        raise CLIError(f"--from {source!r}: {e}") from None
    if problem is not None:
        sol.problem = problem
    return sol


# --- logging --------------------------------------------------------------------------------------------
def log_to_stderr(verbose: bool):
    """Route the ``pde_kan`` logger to stderr (INFO with -v, else WARNING) for this call; returns the handler."""
    logger = logging.getLogger("pde_kan")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler._pde_kan_level = logger.level  # restored by unlog
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler


def unlog(handler) -> None:
    if handler is not None:
        logger = logging.getLogger("pde_kan")
        logger.removeHandler(handler)
        logger.setLevel(handler._pde_kan_level)


# --- argparse -------------------------------------------------------------------------------------------
class Parser(argparse.ArgumentParser):
    """argparse with its errors as one line (CLIError) instead of usage + message + exit."""

    def error(self, message):
        sub = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        raise CLIError(f"{sub}{message} (see `{self.prog} --help`)")


def period(text: str) -> int:
    """argparse type of --checkpoint-every: an integer >= 1 (checked before anything is written)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1 (steps between checkpoints), got {text!r}")
    return value


def integer(text: str) -> int:
    """argparse type of integer flags: :func:`~pde_kan.cli._config.parse_number`, which must give an int."""
    from ._config import parse_number

    try:
        value = parse_number(text)
    except ValueError:
        value = None
    if not isinstance(value, int):
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")
    return value


def real(text: str) -> float:
    """argparse type of real flags: :func:`~pde_kan.cli._config.parse_number`."""
    from ._config import parse_number

    try:
        return float(parse_number(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None


def add_verbose(p: argparse.ArgumentParser, default=argparse.SUPPRESS) -> None:
    p.add_argument("-v", "--verbose", action="store_true", default=default,
                   help="log every evaluation (step, loss, errors, lr, steps/s) on stderr")


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """The flags of a command that trains into --out (solve, transfer)."""
    p.add_argument("--out", required=True, help="output directory (results.h5, history.csv, checkpoints, plots)")
    p.add_argument("--overwrite", action="store_true", help="replace the results of a previous run in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--checkpoint-every", type=period, default=500, metavar="N", help="checkpoint period (steps)")
    add_verbose(p)
