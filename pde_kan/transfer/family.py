"""Coefficient sets of a PDE family read from a ``.toml`` or ``.csv`` file (the CLI's ``transfer --many``,
:func:`~pde_kan.transfer.train_family`)."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Optional


_INDEXED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)\[(?P<i>\d+)\]$")


def read_family(path, template) -> list[tuple[Optional[str], Any]]:
    """Read a list of coefficient sets and return ``[(key or None, template.with_params(...)), ...]``.

    Two formats (by suffix):

    * ``.toml``: an array of tables ``[[set]]``, each with parameter values (``coeffs = [0.1, ...]``,
      ``c = 0.5``) and an optional ``id``.
    * ``.csv``: a header row of parameter names; a list parameter is spread over indexed columns ``coeffs[0]``,
      ``coeffs[1]``, ...; an optional ``id`` column. Values are numbers.

    Unknown parameter names, missing list entries and non-numbers raise ``ValueError`` naming the file, the
    row and the field.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_family: {str(path)!r} does not exist; pass a .toml or .csv file of "
                                f"coefficient sets.")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"read_family: {str(path)!r} is not valid TOML ({e}).") from None
        rows = data.get("set")
        if not isinstance(rows, list) or not rows or not all(isinstance(r, dict) for r in rows):
            raise ValueError(f"read_family: {str(path)!r} must hold an array of tables [[set]] (one per coefficient "
                             f"set), found keys {sorted(data)}.")
        raw = [dict(r) for r in rows]
    elif suffix == ".csv":
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            raw = [_csv_row(path, i + 2, row) for i, row in enumerate(reader)]
        if not raw:
            raise ValueError(f"read_family: {str(path)!r} has no coefficient sets (a header row and one row per set).")
    else:
        raise ValueError(f"read_family: {str(path)!r} must end in .toml or .csv, got {suffix or 'no suffix'!r}.")
    out = []
    for i, params in enumerate(raw):
        key = params.pop("id", None)
        key = None if key is None else str(key)
        try:
            out.append((key, template.with_params(**params)))
        except (TypeError, ValueError) as e:
            raise ValueError(f"read_family: {str(path)!r}, set {i + 1}: {e}") from None
    return out


def _csv_row(path: Path, line: int, row: dict) -> dict:
    params: dict[str, Any] = {}
    lists: dict[str, dict[int, float]] = {}
    for name, text in row.items():
        if name is None or text is None:
            raise ValueError(f"read_family: {str(path)!r}, line {line}: the row has a different number of fields "
                             f"than the header.")
        name, text = name.strip(), text.strip()
        if name == "id":
            params["id"] = text
            continue
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"read_family: {str(path)!r}, line {line}: {name} must be a number, got {text!r}.") from None
        m = _INDEXED.match(name)
        if m:
            lists.setdefault(m["name"], {})[int(m["i"])] = value
        else:
            params[name] = int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    for name, entries in lists.items():
        n = max(entries) + 1
        missing = [i for i in range(n) if i not in entries]
        if missing:
            raise ValueError(f"read_family: {str(path)!r}: column {name}[{missing[0]}] is missing (indexed columns "
                             f"must run from {name}[0] to {name}[{n - 1}]).")
        params[name] = [entries[i] for i in range(n)]
    return params
