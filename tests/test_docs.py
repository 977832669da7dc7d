"""The API reference builds from the docstrings with every Sphinx warning an error (a bad docstring fails CI)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.slow  # about 8 s of CPU (Sphinx imports every subpackage); 18 s on a loaded machine
def test_api_reference_builds_without_warnings(tmp_path):
    if importlib.util.find_spec("sphinx") is None:
        pytest.fail("sphinx is not installed; the test extra brings it: pip install -c constraints.txt -e '.[test]'")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                          str(DOCS / "api"), str(tmp_path / "html")], capture_output=True, text=True, env=env,
                         timeout=600)
    assert out.returncode == 0, f"sphinx failed (rc {out.returncode}):\n{out.stderr[-5000:]}"
    html = (tmp_path / "html" / "solvers.html").read_text()
    assert "TrainConfig" in html and "load_solution" in html  # the pages carry the documented names


def test_readme_links_every_doc_page():
    readme = (DOCS.parent / "README.md").read_text()
    pages = sorted(p.relative_to(DOCS.parent).as_posix() for p in DOCS.glob("*.md"))
    missing = [p for p in pages if f"]({p})" not in readme]
    assert not missing, f"README.md does not link {missing}; add them to its Documentation section"
    assert "](docs/api/" in readme and "make docs" in readme  # the API reference and its build command
