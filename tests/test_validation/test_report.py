"""Report: aligned text, exact CSV and HDF5 round trips (ints, floats, bools, text, missing cells), figures,
and no file written without a path."""
import math

import pytest

from pde_kan.validation.report import Report

ROWS = [
    {"task": "I.6.20a", "backbone": "kan", "params": 540, "rmse": 1.2345678901234567e-05, "ok": True},
    {"task": "I.6.20a", "backbone": "metakan", "params": 245, "rmse": 0.1 + 0.2, "ok": False},
    {"task": "Goldstein 3.16", "backbone": "mlp", "params": 521, "rmse": math.inf, "note": "naïve, quoted \"x\""},
]


def make():
    return Report("feynman", ROWS, metadata={"steps": 200, "reference": {"kan": "40.70M"}})


def test_text_table_is_aligned():
    text = make().to_text()
    lines = text.splitlines()
    assert lines[0] == "feynman"
    assert lines[1].split() == ["task", "backbone", "params", "rmse", "ok", "note"]
    header, rule = lines[1], lines[2]
    assert set(rule.replace(" ", "")) == {"-"} and len(rule.split()) == 6
    # text is left-aligned: every backbone cell starts under the header's "backbone"
    start = header.index("backbone")
    assert all(line[start:].startswith(r["backbone"]) for line, r in zip(lines[3:], ROWS))
    # numbers are right-aligned: the last digit of every params cell sits in the same column
    col_end = header.index("params") + len("params")
    assert all(line[col_end - 1].isdigit() for line in lines[3:])
    assert "1.235e-05" in text and "0.3" in text and "inf" in text


def test_csv_round_trip_is_exact(tmp_path):
    report = make()
    text = report.to_csv(tmp_path / "r.csv")
    assert text.splitlines()[0] == "task,backbone,params,rmse,ok,note"
    back = Report.from_csv(tmp_path / "r.csv", title="feynman")
    assert back.rows == report.rows
    assert isinstance(back.rows[0]["params"], int) and back.rows[1]["rmse"] == 0.1 + 0.2


def test_hdf5_round_trip_is_exact(tmp_path):
    report = make()
    report.to_hdf5(tmp_path / "r.h5")
    back = Report.from_hdf5(tmp_path / "r.h5")
    assert back == report
    assert back.rows[2]["note"] == "naïve, quoted \"x\"" and "note" not in back.rows[0]
    assert back.metadata["reference"] == {"kan": "40.70M"}


def test_figure_and_save_write_only_where_asked(tmp_path):
    report = make()
    fig = report.plot(None, x="params", y="rmse")
    assert fig.axes[0].get_xlabel() == "params" and list(tmp_path.iterdir()) == []
    report.plot(tmp_path / "fig.png")
    assert (tmp_path / "fig.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    paths = report.save(tmp_path / "out", y="rmse")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.csv", "report.h5", "report.png",
                                                                    "report.txt"]
    assert set(paths) == {"csv", "hdf5", "text", "figure"}
    assert Report.from_hdf5(paths["hdf5"]) == report


def test_bad_rows_and_titles_are_rejected():
    with pytest.raises(ValueError, match="title must be a non-empty string"):
        Report("")
    with pytest.raises(TypeError, match="row must be a mapping"):
        Report("x", [["a", 1]])
    with pytest.raises(KeyError, match="no column 'acc'"):
        make().column("acc")
    with pytest.raises(ValueError, match="no default y column"):
        Report("x", [{"a": 1}]).plot()
