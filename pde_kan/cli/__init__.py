"""The ``pde-kan`` command line (the only argparse in the package).

Subcommands: ``solve`` (:mod:`.solve`), ``transfer`` (:mod:`.transfer`), ``predict`` and ``plot``
(:mod:`.runs`), ``validate``, ``demo`` and ``list`` (:mod:`.suites`). Run settings come from, in increasing
priority: defaults, a TOML file (``--config``), the shortcut flags (``--dim``, ``--backbone``, ``--engine``, ...)
and ``--set section.key=value`` overrides. Sections mirror the Python objects: ``[problem]`` (``name`` plus the
problem's arguments), ``[model]`` (``backbone``, ``hidden`` plus the backbone's arguments), ``[train]``
(TrainConfig fields), ``[sampling]`` (SamplingConfig fields) and, for ``transfer``, ``[lotra]`` (LoTRAConfig
fields).

Every command first resolves and checks everything it will need (config, problem, model, device, engine names,
a derivative evaluation on a few points, and for ``--resume`` that the checkpoint belongs to the same problem,
model, training and sampling settings); only then is the first byte written to ``--out``. A user error is one
line ``pde-kan: error: ...`` on stderr and exit status 2; Ctrl-C exits 130. Only bugs show a traceback.
"""
from __future__ import annotations

import logging
import sys
from typing import Optional, Sequence

from . import runs, solve, suites, transfer
from ._common import EXIT_INTERRUPTED, EXIT_USAGE, Parser, add_verbose, log_to_stderr, unlog
from ._config import CLIError, parse_number, parse_value

__all__ = ["CLIError", "main", "make_parser", "parse_number", "parse_value"]


def make_parser() -> Parser:
    from .. import __version__

    parser = Parser(prog="pde-kan", description="Physics-informed PDE solvers on KANs.")
    parser.add_argument("--version", action="version", version=f"pde-kan {__version__}")
    add_verbose(parser, default=False)
    sub = parser.add_subparsers(dest="command", required=True)
    solve.add_parser(sub)
    transfer.add_parser(sub)
    runs.add_parsers(sub)
    suites.add_parsers(sub)
    return parser


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status (0, 2 for a user error, 130 after Ctrl-C)."""
    handler = None
    try:
        args = make_parser().parse_args(None if argv is None else [str(a) for a in argv])
        handler = log_to_stderr(args.verbose)
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
        unlog(handler)
