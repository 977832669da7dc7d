"""Report: the table a validation suite returns, with text, CSV, HDF5 and figure outputs.

A report is a list of rows (dicts with the same keys) plus a title and JSON-serialisable metadata. Nothing is
written unless a path is given: :meth:`Report.to_text` returns a string; :meth:`Report.to_csv`,
:meth:`Report.to_hdf5`, :meth:`Report.plot` and :meth:`Report.save` write only to the path they receive.

Example::

    report = Report("feynman", rows=[{"task": "I.6.20a", "backbone": "kan", "params": 675, "rmse": 1e-3}])
    print(report.to_text())
    report.save("runs/feynman")              # report.csv, report.h5, report.png in that directory
    same = Report.from_hdf5("runs/feynman/report.h5")
"""
from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

import numpy as np

from .._io import atomic_write

_BOOL, _INT, _FLOAT, _STR = "bool", "int", "float", "str"


def _kind(values: Sequence[Any]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return _BOOL
    if present and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in present):
        return _INT if len(present) == len(values) else _FLOAT
    if present and all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
                       for v in present):
        return _FLOAT
    return _STR


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if math.isnan(v):
            return "nan"
        if v == 0 or 1e-3 <= abs(v) < 1e5:
            return f"{v:.4g}"
        return f"{v:.3e}"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f"{int(v):,}"
    return str(v)


class Report:
    """A titled table of results.

    Args:
        title: name of the suite or experiment (``"feynman"``, ``"images/digits"``).
        rows: dicts; missing keys read as None. Column order is first appearance.
        metadata: JSON-serialisable extra information (configs, command lines, reference numbers).
    """

    def __init__(self, title: str, rows: Iterable[Mapping[str, Any]] = (), metadata: Optional[Mapping] = None):
        if not isinstance(title, str) or not title:
            raise ValueError(f"Report: title must be a non-empty string, got {title!r}.")
        self.title = title
        self.rows: list[dict[str, Any]] = []
        self.metadata: dict[str, Any] = dict(metadata or {})
        json.dumps(self.metadata)  # fail now, not when saving
        for r in rows:
            self.add(r)

    # -- building ---------------------------------------------------------------------------------------------
    def add(self, row: Mapping[str, Any]) -> None:
        if not isinstance(row, Mapping):
            raise TypeError(f"Report.add: row must be a mapping of column -> value, got {type(row).__name__}.")
        self.rows.append({str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in row.items()})

    def extend(self, other: "Report") -> None:
        self.rows.extend(dict(r) for r in other.rows)

    @property
    def columns(self) -> list[str]:
        cols: list[str] = []
        for r in self.rows:
            cols.extend(k for k in r if k not in cols)
        return cols

    def column(self, name: str) -> list[Any]:
        if name not in self.columns:
            raise KeyError(f"Report {self.title!r}: no column {name!r}; columns: {', '.join(self.columns)}.")
        return [r.get(name) for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Report):
            return NotImplemented
        return (self.title, self.rows, self.metadata) == (other.title, other.rows, other.metadata)

    def __repr__(self) -> str:
        return f"Report({self.title!r}, {len(self.rows)} rows, columns={self.columns})"

    # -- text ---------------------------------------------------------------------------------------------------
    def to_text(self, columns: Optional[Sequence[str]] = None) -> str:
        """Aligned plain-text table (numbers right-aligned, text left-aligned), title on the first line."""
        cols = list(columns) if columns is not None else self.columns
        cells = [[_fmt(r.get(c)) for c in cols] for r in self.rows]
        numeric = [_kind([r.get(c) for r in self.rows]) in (_INT, _FLOAT) for c in cols]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]

        def line(vals):
            return "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(vals, widths, numeric)).rstrip()

        out = [self.title, line(cols), line(["-" * w for w in widths])]
        out += [line(row) for row in cells]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()

    # -- CSV ----------------------------------------------------------------------------------------------------
    def to_csv(self, path=None) -> str:
        """CSV text (header = columns); also written to ``path`` when one is given. Floats use ``repr`` so a
        read-back is exact."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        cols = self.columns
        w.writerow(cols)
        for r in self.rows:
            w.writerow(["" if r.get(c) is None else (repr(float(r[c])) if isinstance(r[c], float) else r[c])
                        for c in cols])
        text = buf.getvalue()
        if path is not None:
            atomic_write(path, lambda tmp: tmp.write_text(text))
        return text

    @classmethod
    def from_csv(cls, path, title: Optional[str] = None) -> "Report":
        """Read a CSV written by :meth:`to_csv`; integer and float columns are converted back."""
        path = Path(path)
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        cols = list(rows[0]) if rows else []
        parsed: dict[str, list[Any]] = {}
        for c in cols:
            raw = [r[c] for r in rows]
            parsed[c] = _parse_column(raw)
        out = [{c: parsed[c][i] for c in cols if parsed[c][i] is not None} for i in range(len(rows))]
        return cls(title or path.stem, out)

    # -- HDF5 ---------------------------------------------------------------------------------------------------
    def to_hdf5(self, path) -> None:
        """Write to ``path``: one dataset per column under ``/columns`` (ints int64, floats float64 with NaN for
        missing, text UTF-8), attributes ``title``, ``metadata`` (JSON) and ``column_order``."""
        cols = self.columns
        atomic_write(path, lambda tmp: self._write_hdf5(tmp, cols))

    def _write_hdf5(self, path, cols) -> None:
        import h5py

        with h5py.File(path, "w") as f:
            f.attrs["title"] = self.title
            f.attrs["metadata"] = json.dumps(self.metadata)
            f.attrs["column_order"] = json.dumps(cols)
            f.attrs["n_rows"] = len(self.rows)
            grp = f.create_group("columns")
            for c in cols:
                vals = [r.get(c) for r in self.rows]
                kind = _kind(vals)
                missing = np.array([v is None for v in vals], dtype=bool)
                if kind == _BOOL:
                    ds = grp.create_dataset(c, data=np.array([bool(v) for v in vals], dtype=bool))
                elif kind == _INT:
                    ds = grp.create_dataset(c, data=np.array(vals, dtype=np.int64))
                elif kind == _FLOAT:
                    ds = grp.create_dataset(c, data=np.array([np.nan if v is None else float(v) for v in vals],
                                                             dtype=np.float64))
                else:
                    dt = h5py.string_dtype("utf-8")
                    ds = grp.create_dataset(c, data=np.array(["" if v is None else str(v) for v in vals],
                                                             dtype=object), dtype=dt)
                ds.attrs["kind"] = kind
                if missing.any():
                    ds.attrs["missing"] = missing

    @classmethod
    def from_hdf5(cls, path) -> "Report":
        import h5py

        with h5py.File(path, "r") as f:
            title = str(f.attrs["title"])
            metadata = json.loads(f.attrs["metadata"])
            cols = json.loads(f.attrs["column_order"])
            n = int(f.attrs["n_rows"])
            data = {}
            for c in cols:
                ds = f["columns"][c]
                kind = ds.attrs["kind"]
                missing = ds.attrs["missing"] if "missing" in ds.attrs else np.zeros(n, dtype=bool)
                if kind == _BOOL:
                    vals = [bool(v) for v in ds[()]]
                elif kind == _INT:
                    vals = [int(v) for v in ds[()]]
                elif kind == _FLOAT:
                    vals = [float(v) for v in ds[()]]
                else:
                    vals = [v.decode() if isinstance(v, bytes) else str(v) for v in ds[()]]
                data[c] = [None if m else v for v, m in zip(vals, missing)]
        rows = [{c: data[c][i] for c in cols if data[c][i] is not None} for i in range(n)]
        return cls(title, rows, metadata)

    # -- figure -------------------------------------------------------------------------------------------------
    def plot(self, path=None, x: str = "params", y: Optional[str] = None, group: str = "backbone",
             label: Optional[str] = None, logx: bool = True, logy: Optional[bool] = None):
        """Scatter of ``y`` against ``x`` (default: an error or accuracy column against parameter count), one
        series per value of ``group``. Saved to ``path`` when given; returns the matplotlib Figure.

        ``y`` defaults to the first of ``accuracy``, ``test_accuracy``, ``rel_l2``, ``rmse``, ``nrmse`` present.
        ``logy`` defaults to True for error columns and False for accuracies.
        """
        from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry touched

        if y is None:
            for cand in ("accuracy", "test_accuracy", "rel_l2", "nrmse", "rmse"):
                if cand in self.columns:
                    y = cand
                    break
            else:
                raise ValueError(f"Report.plot: no default y column found in {self.columns}; pass y=...")
        xs, ys = self.column(x), self.column(y)
        groups = self.column(group) if group in self.columns else ["all"] * len(self.rows)
        labels = self.column(label) if label and label in self.columns else None
        if logy is None:
            logy = "acc" not in y
        fig = Figure(figsize=(6.0, 4.2))
        ax = fig.add_subplot(1, 1, 1)
        for name in dict.fromkeys(groups):
            pts = [(a, b, labels[i] if labels else None) for i, (a, b, g) in enumerate(zip(xs, ys, groups))
                   if g == name and a is not None and b is not None]
            if not pts:
                continue
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], label=str(name), alpha=0.8)
            if labels:
                for a, b, t in pts:
                    ax.annotate(str(t), (a, b), fontsize=6, alpha=0.6)
        if logx:
            ax.set_xscale("log")
        if logy:
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        ax.set_title(self.title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        if path is not None:
            atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format=Path(path).suffix[1:] or "png"))
        return fig

    def save(self, directory, stem: str = "report", plot: bool = True, **plot_kwargs) -> dict[str, Path]:
        """Write ``<stem>.csv``, ``<stem>.h5``, ``<stem>.txt`` and (``plot``) ``<stem>.png`` into ``directory``
        (created if needed). Returns the paths written."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        paths = {"csv": d / f"{stem}.csv", "hdf5": d / f"{stem}.h5", "text": d / f"{stem}.txt"}
        self.to_csv(paths["csv"])
        self.to_hdf5(paths["hdf5"])
        atomic_write(paths["text"], lambda tmp: tmp.write_text(self.to_text() + "\n"))
        if plot and self.rows:
            paths["figure"] = d / f"{stem}.png"
            self.plot(paths["figure"], **plot_kwargs)
        return paths

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "metadata": self.metadata, "rows": [dict(r) for r in self.rows]}


def _parse_column(raw: list[str]) -> list[Any]:
    present = [v for v in raw if v != ""]

    def all_parse(fn):
        try:
            for v in present:
                fn(v)
            return True
        except ValueError:
            return False

    if present and all(v in ("True", "False") for v in present):
        return [None if v == "" else v == "True" for v in raw]
    if present and all_parse(int):
        return [int(v) if v != "" else None for v in raw]
    if present and all_parse(float):
        return [float(v) if v != "" else None for v in raw]
    return [v if v != "" else None for v in raw]
