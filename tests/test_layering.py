"""Layering: nn <- diff <- problems <- solvers <- transfer <- validation; interop and cli on top.

Nothing imports upward, and deepxde (which changes torch's global state on import) is imported only inside
pde_kan.interop. Two checks: each subpackage with all its modules imported in a fresh interpreter, reading
``sys.modules`` (catches import-time chains through ``__init__`` files), and a static pass over every import
statement in the source, including imports inside functions (which a fresh import does not execute).
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pde_kan

pytestmark = pytest.mark.slow  # a fresh interpreter per probe run (about 10 s in all)

ROOT = Path(pde_kan.__file__).resolve().parent
LEVELS = {"nn": 0, "diff": 1, "problems": 2, "solvers": 3, "transfer": 4, "validation": 5, "interop": 6, "cli": 7}
BASE = -1  # the root package and private helpers (pde_kan._checks): usable by every layer
TOP = max(LEVELS.values())

# A fresh interpreter imports torch once (the slow part, identical for every layer) and then forks one child
# per subpackage; each child starts with no pde_kan module and no deepxde in sys.modules, imports its target
# and every module below it, and reports sys.modules. argv: comma-separated preloads, then the targets.
PROBE = r"""
import importlib, json, os, pkgutil, sys

for pre in filter(None, sys.argv[1].split(",")):
    importlib.import_module(pre)
assert not any(m == "pde_kan" or m.startswith("pde_kan.") or m == "deepxde" for m in sys.modules)


def probe(name):
    importers = []

    class DeepXDEWatch:
        # record, for every import of deepxde, the innermost pde_kan module on the stack that asked for it
        def find_spec(self, spec_name, path=None, target=None):
            if spec_name == "deepxde":
                frame, who = sys._getframe(1), None
                while frame is not None and who is None:
                    mod = frame.f_globals.get("__name__", "")
                    if mod == "pde_kan" or mod.startswith("pde_kan."):
                        who = mod
                    frame = frame.f_back
                importers.append(who)
            return None

    sys.meta_path.insert(0, DeepXDEWatch())
    mod = importlib.import_module(name)
    failed = {}
    for info in pkgutil.walk_packages(getattr(mod, "__path__", []), prefix=name + "."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:  # reported by the test with the module's name
            failed[info.name] = f"{type(exc).__name__}: {exc}"
    return {"modules": sorted(m for m in sys.modules if m == "pde_kan" or m.startswith("pde_kan.")),
            "deepxde_loaded": "deepxde" in sys.modules, "deepxde_importers": importers, "failed": failed}


results = {}
for name in sys.argv[2:]:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            out = probe(name)
        except BaseException as exc:
            out = {"error": f"{type(exc).__name__}: {exc}"}
        with os.fdopen(write, "w") as f:
            json.dump(out, f)
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        text = f.read()
    os.waitpid(pid, 0)
    results[name] = json.loads(text) if text else {"error": "probe process died"}
print(json.dumps(results))
"""


def run_probes(targets, preload="torch", cwd=None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, preload, *targets], capture_output=True, text=True,
                         timeout=600, cwd=cwd or ROOT.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    for target, result in results.items():
        assert "error" not in result, f"importing {target} failed: {result['error']}"
    return results


def level_of(module: str) -> int:
    """Layer of a dotted ``pde_kan...`` module name."""
    parts = module.split(".")
    assert parts[0] == "pde_kan", module
    if len(parts) == 1 or parts[1].startswith("_"):
        return BASE
    if parts[1] not in LEVELS:
        raise AssertionError(f"{module}: top-level part {parts[1]!r} has no layer; add it to LEVELS in "
                             f"tests/test_layering.py and to the layering in DESIGN.md")
    return LEVELS[parts[1]]


@pytest.fixture(scope="module")
def probes():
    targets = [f"pde_kan.{name}" for name in LEVELS if (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file()]
    return run_probes(targets)


def test_every_layer_is_probed(probes):
    assert {"pde_kan.nn", "pde_kan.diff"} <= set(probes)
    assert all(t.split(".")[1] in LEVELS for t in probes)


def probe_of(probes, name) -> tuple[str, dict]:
    """``(target, probe result)`` of the layer ``name``; skips a layer that does not exist (yet)."""
    target = f"pde_kan.{name}"
    if target not in probes:
        pytest.skip(f"{target} does not exist yet")
    return target, probes[target]


@pytest.mark.parametrize("name", list(LEVELS))
def test_fresh_import_pulls_in_no_higher_layer(probes, name):
    target, result = probe_of(probes, name)
    assert not result["failed"], f"modules of {target} failed to import: {result['failed']}"
    own = LEVELS[name]
    upward = [m for m in result["modules"] if level_of(m) > own]
    assert not upward, f"importing {target} (layer {own}) imported higher layers: {upward}"
    assert target in result["modules"]


@pytest.mark.parametrize("name", list(LEVELS))
def test_deepxde_only_through_interop(probes, name):
    target, result = probe_of(probes, name)
    outside = [who for who in result["deepxde_importers"] if not (who or "").startswith("pde_kan.interop")]
    assert not outside, f"deepxde imported by {outside} while importing {target}"
    if LEVELS[name] < LEVELS["interop"]:
        assert not result["deepxde_loaded"], f"importing {target} loaded deepxde"


def test_probe_detects_an_upward_import(tmp_path):
    """The probe itself works: a fake package whose low layer imports a high one and deepxde is caught."""
    pkg = tmp_path / "pde_kan"
    (pkg / "nn").mkdir(parents=True)
    (pkg / "solvers").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "solvers" / "__init__.py").write_text("")
    (pkg / "nn" / "__init__.py").write_text("")
    (pkg / "nn" / "bad.py").write_text("from ..solvers import __name__ as _s\nimport deepxde\n")
    (tmp_path / "deepxde").mkdir()  # a stand-in, so the probe's deepxde watch is exercised cheaply
    (tmp_path / "deepxde" / "__init__.py").write_text("")
    result = run_probes(["pde_kan.nn"], preload="", cwd=tmp_path)["pde_kan.nn"]
    assert "pde_kan.solvers" in result["modules"]
    assert [m for m in result["modules"] if level_of(m) > LEVELS["nn"]] == ["pde_kan.solvers"]
    assert result["deepxde_loaded"] and result["deepxde_importers"] == ["pde_kan.nn.bad"]


# --- static pass over the source ---------------------------------------------------------------------------


def _module_name(path: Path) -> tuple[str, str]:
    """``(module, package)`` dotted names of a source file under pde_kan/."""
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def imports_of(path: Path, text=None) -> list[tuple[int, str]]:
    """``(line, absolute module)`` for every import statement in the file (or ``text``), wherever it sits."""
    _, package = _module_name(path)
    found = []
    source = path.read_text() if text is None else text
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module
            if node.module is None:  # from .. import diff -> pde_kan.diff (or a name in the package itself)
                found += [(node.lineno, f"{stem}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, stem))
    return found


def _target_level(module: str):
    parts = module.split(".")
    if parts[0] != "pde_kan":
        return None
    if len(parts) > 1 and parts[1] not in LEVELS and not parts[1].startswith("_"):
        return BASE  # a name defined in pde_kan/__init__.py (e.g. __version__)
    return level_of(".".join(parts[:2]))


SOURCES = sorted(ROOT.rglob("*.py"))


def test_static_imports_respect_the_layers():
    violations = []
    for path in SOURCES:
        module, _ = _module_name(path)
        # the root may re-export any layer (the fresh-import probes above catch what that drags in);
        # private helpers (BASE) may import no layer at all
        own = TOP if module == "pde_kan" else level_of(module)
        for line, target in imports_of(path):
            lvl = _target_level(target)
            if lvl is not None and lvl > own:
                violations.append(f"{path.relative_to(ROOT.parent)}:{line}: {module} imports {target}")
            if target.split(".")[0] == "deepxde" and not module.startswith("pde_kan.interop"):
                violations.append(f"{path.relative_to(ROOT.parent)}:{line}: {module} imports deepxde")
    assert not violations, "\n".join(violations)


def test_static_pass_resolves_relative_imports():
    text = ("from ..diff import laplacian\nfrom . import config\nfrom .. import transfer\n"
            "def f():\n    import deepxde\n    from .trainer import Trainer\n")
    found = [m for _, m in imports_of(ROOT / "solvers" / "example.py", text)]
    assert found == ["pde_kan.diff", "pde_kan.solvers.config", "pde_kan.transfer", "deepxde",
                     "pde_kan.solvers.trainer"]
    assert _target_level("pde_kan.transfer") > LEVELS["solvers"] >= _target_level("pde_kan.diff")
    assert _target_level("pde_kan.__version__") == BASE and _target_level("numpy") is None
