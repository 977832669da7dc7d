"""Run settings of the command line: TOML sections, ``--set section.key=value``, and building the objects.

Sections (the Python names): ``[problem]`` (``name`` plus the problem's arguments), ``[model]`` (``backbone``,
``hidden`` plus the backbone's arguments), ``[train]`` (:class:`~pde_kan.solvers.TrainConfig` fields),
``[sampling]`` (:class:`~pde_kan.solvers.SamplingConfig` fields) and, for ``transfer``, ``[lotra]``
(:class:`~pde_kan.transfer.LoTRAConfig` fields).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Optional

DEFAULT_HIDDEN = [64, 64, 64]
RUN_SECTIONS = ("problem", "model", "train", "sampling")


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


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


def _names(sections) -> str:
    return ", ".join(map(repr, sections))


def apply_override(cfg: dict, item: str, sections=RUN_SECTIONS, flag: str = "--set") -> None:
    """``section.key=value`` into ``cfg[section][key]``; ``sections`` are the ones this command reads."""
    if "=" not in item or "." not in item.split("=", 1)[0]:
        raise CLIError(f"{flag} expects section.key=value (sections: {', '.join(sections)}), got {item!r}; "
                       f"e.g. --set train.lr=1e-3.")
    key, value = item.split("=", 1)
    section, name = key.split(".", 1)
    if section not in sections:
        raise CLIError(f"{flag} {item!r}: unknown section {section!r}; valid sections: {_names(sections)}.")
    cfg.setdefault(section, {})[name] = parse_value(value)


def load_config(path: Optional[str]) -> dict:
    if path is None:
        return {s: {} for s in RUN_SECTIONS}
    p = Path(path)
    if not p.is_file():
        raise CLIError(f"--config {path!r} does not exist; pass a TOML file with [problem], [model], [train], "
                       f"[sampling].")
    try:
        cfg = _toml_loads(p.read_text())
    except Exception as e:
        raise CLIError(f"--config {path!r} is not valid TOML: {e}.") from None
    unknown = sorted(set(cfg) - set(RUN_SECTIONS))
    if unknown:
        raise CLIError(f"--config {path!r}: unknown section(s) {unknown}; valid sections: "
                       f"{', '.join(RUN_SECTIONS)}.")
    bad = [s for s in RUN_SECTIONS if not isinstance(cfg.get(s, {}), dict)]
    if bad:
        raise CLIError(f"--config {path!r}: {bad[0]} must be a [{bad[0]}] table, got a value.")
    return {s: dict(cfg.get(s, {})) for s in RUN_SECTIONS}


def upgrade_run_config(cfg: dict) -> dict:
    """The run sections of a run.json; one written before ``[sampling]`` existed has the sampling fields in
    ``[train]`` (``laplacian`` / ``k`` by their old names): they move to ``[sampling]``."""
    from ..solvers.config import split_legacy

    out = {s: dict(cfg.get(s) or {}) for s in RUN_SECTIONS}
    train, moved = split_legacy(out["train"])
    out["train"], out["sampling"] = train, {**moved, **out["sampling"]}
    return out


def _hidden(value) -> list:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, (list, tuple)):
        raise CLIError(f"model.hidden must be an integer or a list of integers (hidden widths), got {value!r}; "
                       f"e.g. --hidden 64 64.")
    return list(value)


def build_problem(section: dict):
    from ..problems import get_problem

    if not isinstance(section.get("name"), str):
        raise CLIError(f"problem.name must be a problem name (see `pde-kan list`), got {section.get('name')!r}.")
    try:
        return get_problem(section["name"], **{k: v for k, v in section.items() if k != "name"})
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None


def build_config(cls, section: dict):
    """``cls.from_dict(section)`` (TrainConfig, SamplingConfig, LoTRAConfig) with errors as CLIError."""
    try:
        return cls.from_dict(section)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None


def build_train(cfg: dict):
    """The (TrainConfig, SamplingConfig) of a resolved run config."""
    from ..solvers import SamplingConfig, TrainConfig

    return build_config(TrainConfig, cfg["train"]), build_config(SamplingConfig, cfg.get("sampling") or {})


def build(cfg: dict, outputs: int = 1):
    """Problem, model, TrainConfig and SamplingConfig from a resolved run config (errors become CLIError).
    ``outputs > 1``: the model of a family base, one output per coefficient set (checked per head by the
    family task)."""
    from ..nn import get_backbone

    problem = build_problem(cfg["problem"])
    try:
        mkw = {k: v for k, v in cfg["model"].items() if k not in ("backbone", "hidden")}
        model = get_backbone(cfg["model"]["backbone"], [problem.dim, *_hidden(cfg["model"]["hidden"]), outputs],
                             **mkw)
        if outputs == 1:
            problem.check_model(model)
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
    return (problem, model, *build_train(cfg))


def check_device(train) -> None:
    """The run's device exists here (``--device cuda`` without CUDA, ``cuda:3`` on a one-GPU machine)."""
    from .._checks import resolve_device

    try:
        resolve_device(train.device)
    except ValueError as e:
        raise CLIError(f"--device: {e}") from None


def preflight(problem, model, train, sampling, groups: bool = True) -> None:
    """Evaluate the training derivatives on 4 points with a copy of the model, so that what only shows at the
    first step (stochastic ``n_probes`` above the dimension, an engine the problem cannot use, ...) is reported
    before anything is written; with ``groups``, also the parameter groups ``train.group_lr`` names. Uses its
    own generator; the model is not touched."""
    import torch

    from .._checks import resolve_dtype
    from ..solvers.trainer import _groups

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
        problem.derivatives(m, x, sampling.engine, n_probes=sampling.n_probes,
                            generator=torch.Generator().manual_seed(0))
    except (ValueError, TypeError) as e:
        raise CLIError(str(e)) from None
