"""``pde-kan solve``: train a PINN on a problem into --out, or continue a run there (``--resume``)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Optional

from ..nn._legacy import upgrade_state_dict
from ._common import (METRIC_COLUMNS, add_run_flags, callbacks, check_flags, check_out, distributed, finish,
                      format_table, integer, read_family_file, real, start_out, write_outputs)
from ._config import (DEFAULT_HIDDEN, CLIError, apply_override, build, build_problem, check_device, load_config,
                      preflight, upgrade_run_config)

# shortcut flag -> (section, key): each mirrors the Python name it sets
SHORTCUTS = {
    "problem": ("problem", "name"), "dim": ("problem", "dim"), "problem_seed": ("problem", "seed"),
    "backbone": ("model", "backbone"), "hidden": ("model", "hidden"),
    "steps": ("train", "steps"), "lr": ("train", "lr"), "seed": ("train", "seed"), "device": ("train", "device"),
    "optimizer": ("train", "optimizer"), "eval_every": ("train", "eval_every"),
    "engine": ("sampling", "engine"), "n_probes": ("sampling", "n_probes"), "n_interior": ("sampling", "n_interior"),
    "n_eval": ("sampling", "n_eval"),
}


def resolve_run_config(args) -> dict:
    """Defaults < ``--config`` TOML < shortcut flags < ``--set`` overrides."""
    cfg = load_config(args.config)
    for flag, (section, key) in SHORTCUTS.items():
        value = getattr(args, flag)
        if value is not None:
            cfg[section][key] = value
    for item in args.set or []:
        apply_override(cfg, item)
    if "name" not in cfg["problem"]:
        raise CLIError("no problem given; pass --problem NAME (see `pde-kan list`) or [problem] name in --config.")
    cfg["model"].setdefault("backbone", "metakan")
    cfg["model"].setdefault("hidden", list(DEFAULT_HIDDEN))
    return cfg


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


def _read_run_json(path: Path):
    if not path.is_file():
        return None
    try:
        old = json.loads(path.read_text())
    except ValueError:
        return None
    return upgrade_run_config(old) if isinstance(old, dict) else None


def _family_difference(old, new) -> str:
    """The first difference between two family runs' sets (lists of problem params), for a resume refusal."""
    if not isinstance(old, list) or not isinstance(new, list) or len(old) != len(new):
        return (f"problem.family: checkpoint {len(old) if isinstance(old, list) else _short(old)} sets, now "
                f"{len(new) if isinstance(new, list) else _short(new)}")
    for i, (a, b) in enumerate(zip(old, new)):
        for key in sorted(set(a) | set(b)):
            if a.get(key, _UNSET) != b.get(key, _UNSET):
                return (f"problem.family set {i + 1} (head {i}) {key}: checkpoint {_short(a.get(key, _UNSET))}, "
                        f"now {_short(b.get(key, _UNSET))}")
    return "problem.family: checkpoint and now differ"


def check_resume(path: Path, problem, model, train, sampling, cfg: dict, params: Optional[dict] = None) -> None:
    """Refuse a checkpoint that is missing, corrupt, or from another problem, model, training or sampling
    config, naming every differing field (``problem.seed``, ``model.hidden``, ``train.lr``,
    ``sampling.n_interior``, ``problem.family``, ...) with both values. ``params``: what the run records of its
    problem(s) when that is not ``problem.params()`` (a family run: ``{"family": [each set's params]}``)."""
    params = problem.params() if params is None else params
    from ..solvers import load_checkpoint
    from ..solvers.config import RESUMABLE
    from ..solvers.trainer import resume_mismatches, saved_sampling, setting_defaults

    try:  # on CPU: a checkpoint written on a GPU is compared here, and the trainer maps it to the run's device
        state = load_checkpoint(path, map_location="cpu")
    except (ValueError, FileNotFoundError) as e:
        raise CLIError(f"--resume: {e}") from None
    saved_problem = state.get("problem")
    old_cfg = _read_run_json(path.parent.parent / "run.json")
    if saved_problem is None and old_cfg is not None:  # checkpoints of older versions: rebuild from run.json
        try:
            saved_problem = build_problem(old_cfg.get("problem", {})).params()
        except CLIError:
            saved_problem = None
    model_cfg = {k: v for k, v in (model.config or {}).items() if k != "dtype"}  # train.dtype governs it
    saved_model = state.get("model_config")
    saved_model = {k: v for k, v in saved_model.items() if k != "dtype"} if isinstance(saved_model, dict) else None
    differ = resume_mismatches({**state, "model_config": saved_model, "problem": saved_problem}, train,
                               model_cfg, params, sampling=sampling,
                               defaults={"model": setting_defaults(model), "problem": setting_defaults(problem)})
    olds = {"train": state.get("config") or {}, "sampling": saved_sampling(state), "model": saved_model or {},
            "problem": saved_problem or {}}
    news = {"train": train.to_dict(), "sampling": sampling.to_dict(), "model": model_cfg, "problem": params}
    values = {}
    for name in differ:
        section, key = name.split(".", 1)
        values[name] = (olds[section].get(key), news[section].get(key))
    if differ and old_cfg is not None:  # name the settings as the user gave them (problem.seed for coeffs)
        for section in {n.split(".", 1)[0] for n in differ}:
            old_sec, new_sec = old_cfg.get(section) or {}, cfg.get(section) or {}
            for key in sorted(set(old_sec) | set(new_sec)):
                name = f"{section}.{key}"
                if section == "train" and key in RESUMABLE or name in values:
                    continue
                if old_sec.get(key, _UNSET) != new_sec.get(key, _UNSET):
                    values = {name: (old_sec.get(key, _UNSET), new_sec.get(key, _UNSET)), **values}
    if values:
        detail = "; ".join(_family_difference(a, b) if n == "problem.family" else
                           f"{n}: checkpoint {_short(a)}, now {_short(b)}" for n, (a, b) in values.items())
        raise CLIError(f"--resume {str(path)!r} belongs to a different run ({detail}); resume with that run's "
                       f"settings (only steps / lbfgs_steps / eval_every may change), or start a new run with "
                       f"another --out or --overwrite.")
    step = int(state.get("step", 0))
    if step > train.total_steps:
        raise CLIError(f"--resume {str(path)!r} is at step {step}, beyond this run's {train.total_steps} steps; "
                       f"pass --steps {step} or more.")
    try:
        copy.deepcopy(model).load_state_dict(upgrade_state_dict(state["model"], model.state_dict().keys()))
    except (RuntimeError, KeyError) as e:
        raise CLIError(f"--resume {str(path)!r} does not fit this model: {str(e).splitlines()[0]}") from None


def _resume_path(args, out: Path) -> Optional[str]:
    """``--resume`` as a checkpoint path: the given one, or (bare flag) OUT's last one if there is one."""
    if args.resume == "auto":
        last = out / "checkpoints" / "last.pt"
        return str(last) if last.is_file() else None
    return args.resume


def cmd_solve(args) -> int:
    from ..solvers import solve

    check_flags(args)
    cfg = resolve_run_config(args)
    if args.family is not None:
        return _solve_family(args, cfg)
    problem, model, train, sampling = build(cfg)
    check_device(train)
    out = Path(args.out)
    dist = distributed()
    resume = _resume_path(args, out)
    if resume is not None:
        check_resume(Path(resume), problem, model, train, sampling, cfg)
    preflight(problem, model, train, sampling)
    main = dist is None or dist.is_main
    if main:  # other ranks never write, and would see rank 0's files appear
        check_out(out, may_reuse=args.resume is not None, overwrite=args.overwrite)
        start_out(out, cfg, overwrite=args.overwrite)
    solution = solve(problem, model, train, sampling, callbacks=callbacks(out, args, dist), resume=resume,
                     distributed=dist)
    if not main:
        return 0
    files = write_outputs(solution, out, plots=not args.no_plots)
    print(format_table([{"backbone": cfg["model"]["backbone"], **solution.metrics}], ["backbone", *METRIC_COLUMNS]))
    print("wrote " + ", ".join(str(f) for f in files))
    return finish(solution)


def _solve_family(args, cfg: dict) -> int:
    """``solve --family FILE``: a base for a family of coefficient sets, one output (head) per set of FILE, all
    trained at once (:func:`~pde_kan.transfer.pretrain_family`); ``pde-kan transfer --from`` it starts a new set
    from a fitted mix of the heads."""
    from ..nn import MixedHeads
    from ..transfer import pretrain_family

    if distributed() is not None:
        raise CLIError("--family runs in one process; start it without torchrun.")
    template = build_problem(cfg["problem"])
    family = read_family_file(args.family, template, "--family")
    if len(family) < 2:
        raise CLIError(f"--family {args.family!r} holds {len(family)} coefficient set; a family base needs at least 2 "
                       f"(one head each); for one set run `pde-kan solve` without --family.")
    keys, problems = [k for k, _ in family], [p for _, p in family]
    _, model, train, sampling = build(cfg, outputs=len(problems))
    check_device(train)
    view = MixedHeads(model)  # every head is a single-output solver of its set
    for key, problem in family:
        try:
            problem.check_model(view)
        except (ValueError, TypeError) as e:
            raise CLIError(f"--family set {key!r}: {e}") from None
    out = Path(args.out)
    resume = _resume_path(args, out)
    if resume is not None:
        check_resume(Path(resume), template, model, train, sampling, cfg,
                     params={"family": [p.params() for p in problems]})
    preflight(problems[0], MixedHeads(model, mix=[1.0] + [0.0] * (len(problems) - 1)), train, sampling)
    check_out(out, may_reuse=args.resume is not None, overwrite=args.overwrite)
    start_out(out, {**cfg, "family": {"file": str(args.family), "sets": keys}}, overwrite=args.overwrite)
    solution = pretrain_family(problems, model, train, sampling, callbacks=callbacks(out, args, None), resume=resume)
    solution.attrs["family_sets"] = keys
    files = write_outputs(solution, out, plots=not args.no_plots)
    m = solution.metrics  # per head where measured per head (rel_l2_<h>), then the run's row (means over heads)
    rows = [{"set": key, **{c: m[f"{c}_{h}"] for c in METRIC_COLUMNS if f"{c}_{h}" in m}} for h, key in enumerate(keys)]
    rows.append({"set": "all (mean)", **{c: m[c] for c in METRIC_COLUMNS if c in m}})
    print(format_table(rows, ["set", *[c for c in METRIC_COLUMNS if c in m]]))
    print(f"wrote {', '.join(str(f) for f in files)}; start a new set from this base with `pde-kan transfer --from "
          f"{out} --set problem.KEY=VALUE` (a fitted mix of the {len(keys)} heads, then LoTRA)")
    return finish(solution)


def add_parser(sub) -> None:
    s = sub.add_parser("solve", help="train a PINN on a problem")
    add_run_flags(s)
    s.add_argument("--config", help="TOML file with [problem], [model], [train], [sampling]")
    s.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override a setting (repeatable); sections: problem, model, train, sampling")
    s.add_argument("--problem", help="problem name (see `pde-kan list`)")
    s.add_argument("--dim", type=integer, help="problem dimension")
    s.add_argument("--problem-seed", type=integer, help="seed of the problem's coefficients")
    s.add_argument("--backbone", help="kan | metakan | slimkan | mlp (default metakan)")
    s.add_argument("--hidden", type=integer, nargs="+", help="hidden widths (default 64 64 64)")
    s.add_argument("--steps", type=integer)
    s.add_argument("--lr", type=real)
    s.add_argument("--optimizer", help="adam | lbfgs | adam+lbfgs")
    s.add_argument("--engine", help="derivative engine: jet | sdgd | hutchinson | autograd | sdgd_autograd")
    s.add_argument("--n-probes", type=integer, dest="n_probes", help="probe directions of the stochastic engines")
    s.add_argument("--n-interior", type=integer, dest="n_interior")
    s.add_argument("--eval-every", type=integer, dest="eval_every")
    s.add_argument("--n-eval", type=integer, dest="n_eval")
    s.add_argument("--seed", type=integer, help="training seed")
    s.add_argument("--device", help="auto | cpu | cuda | cuda:N")
    s.add_argument("--resume", nargs="?", const="auto", help="continue from a checkpoint (default: OUT's last)")
    s.add_argument("--family", metavar="FILE",
                   help="a .toml ([[set]] tables) or .csv of coefficient sets of the problem: train one base with "
                        "one output per set, all at once, for `pde-kan transfer --from OUT` to new sets")
    s.set_defaults(func=cmd_solve)
