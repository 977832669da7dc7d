"""Every example script runs end to end with a tiny step count (smoke test of the public API)."""
import importlib.util
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


def load(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_examples_exist():
    assert {p.stem for p in EXAMPLES} >= {"poisson_10d", "allen_cahn", "hypercube_soft_bc"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    mod = load(path)
    argv = ["--steps", "3"]
    if "--out" in path.read_text():
        argv += ["--out", str(tmp_path / "out")]
    assert mod.main(argv) is not None
