"""pde_kan: physics-informed PDE solvers on Kolmogorov–Arnold networks.

The names a user starts with: the verbs :func:`~pde_kan.solvers.solve`, :func:`~pde_kan.solvers.fit`,
:func:`~pde_kan.transfer.transfer`, :func:`~pde_kan.diff.laplacian` and
:func:`~pde_kan.solvers.load_solution`; the configurations :class:`~pde_kan.solvers.TrainConfig` (how to
optimise), :class:`~pde_kan.solvers.SamplingConfig` (where to sample, which derivative engine) and
:class:`~pde_kan.transfer.LoTRAConfig`; the backbones ``KAN``, ``MetaKAN``, ``SlimKAN``, ``MLP``
(:func:`~pde_kan.nn.get_backbone` by name); problems by name (:func:`~pde_kan.problems.get_problem`) or from
a residual (:class:`~pde_kan.problems.PDE`).

Subpackages: ``nn`` (backbones), ``diff`` (derivative engines), ``problems``, ``solvers``, ``transfer``,
``validation``, ``interop``. Names from a layer above ``nn`` are imported on first use, so ``import pde_kan``
pulls in no higher layer, no deepxde and no matplotlib. ``pde_kan.transfer`` is both the subpackage and the
verb: calling the subpackage runs :func:`pde_kan.transfer.transfer`.
"""
import importlib

from .nn import KAN, MLP, MetaKAN, SlimKAN, available_backbones, get_backbone

__version__ = "0.1.0"

# name -> the subpackage that defines it, imported on first access (PEP 562)
_LAZY = {
    "laplacian": "diff",
    "PDE": "problems", "available_problems": "problems", "get_problem": "problems",
    "SamplingConfig": "solvers", "Solution": "solvers", "TrainConfig": "solvers", "fit": "solvers",
    "load_solution": "solvers", "solve": "solvers",
    "LoTRAConfig": "transfer", "inject_lotra": "transfer",
}

__all__ = [
    "KAN", "LoTRAConfig", "MLP", "MetaKAN", "PDE", "SamplingConfig", "SlimKAN", "Solution", "TrainConfig",
    "available_backbones", "available_problems", "fit", "get_backbone", "get_problem", "inject_lotra", "laplacian",
    "load_solution", "solve", "transfer",
]


def __getattr__(name: str):
    if name == "transfer":  # the (callable) subpackage: importing it binds it here
        return importlib.import_module(".transfer", __name__)
    if name == "load_solution":  # importing transfer registers how load_solution rebuilds LoTRA runs
        importlib.import_module(".transfer", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; public names: {', '.join(__all__)}.")


def __dir__():
    return sorted(set(globals()) | set(__all__))
