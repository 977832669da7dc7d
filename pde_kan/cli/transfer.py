"""``pde-kan transfer``: adapt a solved run to new problem parameters (one run, or ``--many`` into a bank)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Optional

from ._common import (METRIC_COLUMNS, add_run_flags, callbacks, check_out, finish, format_table, integer, load_run,
                      read_family_file, real, start_out, write_outputs)
from ._config import (RUN_SECTIONS, CLIError, apply_override, build_problem, build_train, check_device, parse_number,
                      preflight, upgrade_run_config)

TRANSFER_SECTIONS = (*RUN_SECTIONS, "lotra")


def lotra_ranks(args) -> dict:
    """``[lotra]`` settings from the shortcuts ``--ranks auto | R | R_OUT R_IN R_BASIS`` and ``--rank-budget``."""
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


def _source_config(args) -> tuple[dict, Optional[dict]]:
    """The run sections of the source's run.json, and its ``family`` section (a `solve --family` base) or None."""
    src = Path(args.source)
    run_json = (src if src.is_dir() else src.parent) / "run.json"
    if not run_json.is_file():
        raise CLIError(f"--from {args.source!r}: no run.json next to the results; pass the --out directory of "
                       f"a `pde-kan solve` run.")
    try:
        cfg = json.loads(run_json.read_text())
    except ValueError as e:
        raise CLIError(f"--from {args.source!r}: run.json is not valid JSON ({e}).") from None
    return upgrade_run_config(cfg), cfg.get("family")


def cmd_transfer(args) -> int:
    from .._checks import lookup
    from ..nn import MixedHeads
    from ..transfer import LoTRAConfig, LoTRAModel, mix_heads, transfer
    from ..transfer.api import TRANSFER_METHODS

    cfg, family_base = _source_config(args)  # family_base: the sets a family base was trained on
    cfg["lotra"] = lotra_ranks(args)
    for item in args.set or []:
        apply_override(cfg, item, sections=TRANSFER_SECTIONS)
    if args.steps is not None:
        cfg["train"]["steps"] = args.steps
    try:
        lookup(TRANSFER_METHODS, "transfer method", args.method)
    except ValueError as e:
        raise CLIError(f"--method: {e}") from None
    lotra_section = cfg.pop("lotra")
    try:
        lotra = LoTRAConfig.from_dict(lotra_section)
    except (ValueError, TypeError) as e:
        raise CLIError(f"--ranks / --rank-budget / --set lotra.*: {e}") from None
    target = build_problem(cfg["problem"])
    family = None
    if args.many is not None:
        if args.method != "lotra":
            raise CLIError(f"--many trains one LoTRA adapter per coefficient set; it needs --method lotra, got "
                           f"--method {args.method}.")
        family = read_family_file(args.many, target, "--many")
    train, sampling = build_train(cfg)
    check_device(train)
    base = load_run(args.source)
    heads = family_base is not None  # a base trained for a family (`solve --family`): one output per set
    try:
        if isinstance(base.model, LoTRAModel):  # transfer of a transfer starts from the merged model
            base.model = base.model.merge_and_unload()
        if base.model is None:
            raise ValueError("its results file holds no model")
        view = MixedHeads(base.model) if heads else base.model  # the single-output model a target is solved by
        target.check_model(view)
        if args.method == "lotra":  # the adapter fits this model (its layer kinds, the ranks) before anything is written
            from ..transfer import inject_lotra

            inject_lotra(copy.deepcopy(view), lotra)
    except (ValueError, TypeError, RuntimeError) as e:
        raise CLIError(f"--from {args.source!r}: {e}") from None
    preflight(target, view, train, sampling, groups=False)  # LoTRA brings its own groups
    out = Path(args.out)
    check_out(out, overwrite=args.overwrite)
    start_out(out, {**cfg, "transfer": {"from": str(args.source), "method": args.method,
                                        "ranks": lotra_section.get("ranks", "auto"), "rank_budget": args.rank_budget,
                                        "many": args.many, "family_base": heads, "lotra": lotra.to_dict()}},
              overwrite=args.overwrite)
    # each method's measured default rate, unless the user set one for this run
    lr = None if any(item.split("=", 1)[0].strip() == "train.lr" for item in args.set or []) else "default"
    if family is not None:  # the bank fits each member's own mix of a family base's heads
        return _transfer_family(base, family, out, lotra, train, sampling, lr, args)
    if heads:  # start from the heads' mix fitted to the target's residual (heads frozen meanwhile)
        base = mix_heads(target, base.model)
    solution = transfer(target, base, method=args.method, config=train, lotra=lotra, lr=lr,
                        callbacks=callbacks(out, args, None), sampling=sampling)
    files = write_outputs(solution, out, plots=not args.no_plots)
    if isinstance(solution.model, LoTRAModel):  # the adapter alone, loadable onto the source run's model
        files.append(solution.model.save_adapter(out / "adapter"))
    print(format_table([{"method": args.method, **solution.metrics}], ["method", *METRIC_COLUMNS]))
    print("wrote " + ", ".join(str(f) for f in files))
    return finish(solution)


def _transfer_family(base, family, out: Path, lotra, train, sampling, lr, args) -> int:
    """``transfer --many``: one adapter per coefficient set in one bank (``out/bank.h5``); each set's history and
    checkpoint in ``out/sets/<key>/``, the table of the runs in ``out/sets.csv``."""
    from .._io import atomic_write
    from ..transfer import AdapterBank

    bank = AdapterBank(base, out / "bank.h5", lotra=lotra, config=train, lr=None if lr == "default" else train.lr,
                       sampling=sampling)
    rows, stopped = [], None
    for key, problem in family:
        sol = bank.add(problem, key, callbacks=callbacks(out / "sets" / key, args, None))
        rows.append({"set": key, "warm start": sol.attrs["bank"]["warm_start_from"] or "base", **sol.metrics})
        if sol.stop_reason:  # interrupted: the sets done so far are in the bank; stop here
            stopped = sol
            break
    columns = ["set", "warm start", *METRIC_COLUMNS]
    atomic_write(out / "sets.csv", lambda tmp: tmp.write_text(
        "\n".join(",".join(str(r.get(c, "")) for c in columns) for r in [dict(zip(columns, columns)), *rows]) + "\n"))
    print(format_table(rows, columns))
    print(f"wrote {out / 'bank.h5'} ({len(rows)} adapters), {out / 'sets.csv'}, histories in {out / 'sets'}")
    return finish(stopped) if stopped else 0


def add_parser(sub) -> None:
    t = sub.add_parser("transfer", help="adapt a solved run to new problem parameters")
    add_run_flags(t)
    t.add_argument("--from", dest="source", required=True, help="directory of a `pde-kan solve` run")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a setting (repeatable): problem.K=V changes a problem parameter (e.g. "
                        "problem.seed=1); sections: problem, model, train, sampling, lotra (every LoTRAConfig field)")
    t.add_argument("--method", default="lotra", help="lotra | full | last_layer | scratch")
    t.add_argument("--ranks", nargs="+", metavar="R",
                   help="LoTRA ranks (lotra.ranks): auto (default: from --rank-budget), one rank for all modes, or "
                        "R_OUT R_IN R_BASIS")
    t.add_argument("--rank-budget", type=real, metavar="F",
                   help="with --ranks auto (lotra.rank_budget): adapter parameters as a fraction of full "
                        "fine-tuning's (default 0.15)")
    t.add_argument("--many", metavar="FILE", help="a .toml ([[set]] tables) or .csv of coefficient sets: one LoTRA "
                   "adapter per set, stored in --out/bank.h5, each warm-started from the nearest stored set")
    t.add_argument("--steps", type=integer)
    t.set_defaults(func=cmd_transfer)
