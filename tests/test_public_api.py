"""The public API: what the root exports, and each subpackage's ``__all__`` (sorted, existing, public names only).

Renaming a public name or making one internal: update the tables below (the one place to edit).
"""
import ast
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pde_kan

# --- the tables ---------------------------------------------------------------------------------------------
# the root's __all__: the verbs and nouns a user starts with
ROOT_ALL = {
    "KAN", "LoTRAConfig", "MLP", "MetaKAN", "PDE", "SamplingConfig", "SlimKAN", "Solution", "TrainConfig",
    "available_backbones",
    "available_problems", "fit", "get_backbone", "get_problem", "inject_lotra", "laplacian", "load_solution",
    "solve", "transfer",
}
# subpackage -> names that must stay out of its __all__ (registries with an accessor, validators, I/O helpers,
# jet plumbing); they remain importable from the module that defines them
INTERNALS = {
    "pde_kan.cli": {"DEFAULT_HIDDEN", "RUN_FILES", "apply_override", "check_out", "load_config"},
    "pde_kan.nn": {"ACTIVATIONS", "BACKBONES", "cluster_by_width"},
    "pde_kan.diff": {"AUTOGRAD_METHODS", "ENGINES", "JET_METHODS", "JET_RULES", "STOCHASTIC_METHODS",
                     "apply_transform", "check_method", "check_points"},
    "pde_kan.problems": {"CUBE_SAMPLERS", "Field", "PROBLEMS", "RADIAL_SAMPLERS", "UserFunction", "closed_jet",
                         "function_jet"},
    "pde_kan.solvers": {"atomic_write"},
    "pde_kan.transfer": {"ADAPTER_KINDS", "COMPONENTS", "METHOD_RATES", "RATE_RULES", "TRANSFER_METHODS",
                         "merged_tucker", "weights_hash"},
    "pde_kan.validation": {"DEFAULT_PROBLEMS", "cluster_by_width"},
    "pde_kan.interop": set(),
}
# names a user must find in a subpackage's __all__ (the root's verbs come from these)
REQUIRED = {
    "pde_kan.cli": {"main"},
    "pde_kan.nn": {"KAN", "MLP", "MetaKAN", "SlimKAN", "available_backbones", "get_backbone"},
    "pde_kan.diff": {"available_engines", "get_engine", "laplacian"},
    "pde_kan.problems": {"PDE", "available_problems", "get_problem"},
    "pde_kan.solvers": {"SamplingConfig", "Solution", "TrainConfig", "fit", "load_solution", "solve"},
    "pde_kan.transfer": {"LoTRAConfig", "inject_lotra", "transfer"},
    "pde_kan.validation": {"Report"},
    "pde_kan.interop": {"as_dde_net", "to_deepxde"},
}
# subpackages whose names load on first access (importing their module would import deepxde): names are
# checked in the source of the module they come from instead
LAZY = {"pde_kan.interop"}
# modules `import pde_kan` must not load
HEAVY = ("deepxde", "matplotlib", "sklearn")
# ------------------------------------------------------------------------------------------------------------

SUBPACKAGES = sorted(INTERNALS)


def test_every_subpackage_is_listed():
    root = Path(pde_kan.__file__).parent
    found = {f"pde_kan.{p.name}" for p in root.iterdir() if (p / "__init__.py").is_file() and not p.name.startswith("_")}
    assert found == set(SUBPACKAGES), "add the subpackage to the tables at the top of tests/test_public_api.py"


def test_root_exports_the_verbs_users_start_with():
    assert set(pde_kan.__all__) == ROOT_ALL
    assert pde_kan.__all__ == sorted(pde_kan.__all__) and len(set(pde_kan.__all__)) == len(pde_kan.__all__)
    for name in pde_kan.__all__:
        assert getattr(pde_kan, name) is not None, name
        assert callable(getattr(pde_kan, name)), name
    assert set(pde_kan.__all__) <= set(dir(pde_kan))
    with pytest.raises(AttributeError, match=r"no attribute 'solver'.*public names: KAN"):
        pde_kan.solver  # a typo: the message lists the public names


def test_root_names_are_the_subpackages_objects():
    from pde_kan import diff, problems, solvers
    from pde_kan import transfer as transfer_pkg

    assert pde_kan.solve is solvers.solve and pde_kan.TrainConfig is solvers.TrainConfig
    assert pde_kan.SamplingConfig is solvers.SamplingConfig
    assert pde_kan.get_problem is problems.get_problem and pde_kan.laplacian is diff.laplacian
    assert pde_kan.LoTRAConfig is transfer_pkg.LoTRAConfig


def test_transfer_is_the_subpackage_and_the_verb():
    """``pde_kan.transfer`` names both; one callable module serves both, whatever was imported first."""
    import pde_kan.transfer as pkg
    from pde_kan import transfer

    assert transfer is pkg is sys.modules["pde_kan.transfer"]
    assert inspect.signature(transfer) == inspect.signature(pkg.transfer)
    with pytest.raises(TypeError, match="missing"):  # the verb's own argument check answers
        transfer()


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_all_is_sorted_public_and_complete(name):
    mod = importlib.import_module(name)
    names = list(mod.__all__)
    assert names == sorted(names), f"{name}.__all__ is not sorted"
    assert len(set(names)) == len(names), f"{name}.__all__ repeats a name"
    assert not [n for n in names if n.startswith("_")], f"{name}.__all__ exports private names"
    leaked = INTERNALS[name] & set(names)
    assert not leaked, f"{name}.__all__ exports internals {sorted(leaked)}"
    missing = REQUIRED[name] - set(names)
    assert not missing, f"{name}.__all__ lacks {sorted(missing)}"
    if name in LAZY:
        undefined = [n for n in names if n not in _defined_in(mod, n)]
    else:
        undefined = [n for n in names if not hasattr(mod, n)]
    assert not undefined, f"{name}.__all__ lists names it does not define: {undefined}"


def _defined_in(package, name) -> set:
    """Top-level names defined in the module a lazy package loads ``name`` from (read, not imported)."""
    source = Path(package.__file__).parent / f"{package._LAZY[name]}.py"
    tree = ast.parse(source.read_text())
    defined = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return defined


def test_importing_the_root_loads_no_higher_layer_deepxde_or_matplotlib():
    code = ("import json, sys, pde_kan\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in %r "
            "or m.startswith('pde_kan.') and m.split('.')[1] != 'nn' and not m.split('.')[1].startswith('_'))))"
            % (HEAVY,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"import pde_kan loaded {loaded}"
