"""Problem registry: ``get_problem(name, **kw)``, ``available_problems()``, ``problem_from_params(params)``.

=========================  ==================================================  ============================
name                       factory                                             keywords
=========================  ==================================================  ============================
``poisson-two-body``       :meth:`Poisson.two_body`                            ``dim``, ``seed`` (0)
``allen-cahn-two-body``    :meth:`AllenCahn.two_body`                          ``dim``, ``seed`` (0)
``poisson-sine-cube``      :meth:`Poisson.sine_cube`                           ``dim`` (5)
``poisson-sine-square``    :meth:`Poisson.sine_square`                         (``dim`` = 2 accepted)
``allen-cahn-time``        :meth:`AllenCahn.time`                              ``spatial_dim`` or ``dim``
                                                                               (= spatial_dim + 1), ``c`` (1)
=========================  ==================================================  ============================

Every factory also accepts the problem's fields (``sampler``, ``boundary_weight``, ``coeffs``, ...). ``dim``
always means the network input dimension, ``problem.dim``.

The :class:`~pde_kan.problems.pde.PDE` families of :mod:`pde_kan.problems.classic` are registered too
(``heat-sine``, ``wave-1d``, ``helmholtz-2d``, ``burgers-1d``, ``anisotropic-advection-diffusion``).

Problems the library does not ship, by the same names everywhere a name is taken (``get_problem``, the CLI's
``--problem``, TOML ``[problem] name``, :func:`problem_from_params` for saved runs):

* ``"package.module:Attribute"`` — a :class:`Problem` subclass (called with the keywords), a factory function
  returning a problem (called with the keywords), or a problem instance (no keywords);
* a name registered by an installed package under the entry-point group ``pde_kan.problems``, e.g. in its
  ``pyproject.toml``: ``[project.entry-points."pde_kan.problems"] my-heat = "mypkg.problems:make_heat"``.

A problem built from a factory records ``{"name": ..., **keywords}`` as its params, and a subclass records its
fields under ``"module:Class"`` (or its registered name), so saved runs rebuild it.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from importlib import metadata
from typing import Any, Callable

from .._checks import lookup
from .allen_cahn import AllenCahn, AllenCahnTime, AllenCahnTwoBody
from .base import Problem, jsonable
from .classic import FACTORIES
from .pde import PDE
from .poisson import Poisson, PoissonSineCube, PoissonSineSquare, PoissonTwoBody


def _sine_square(dim: int = 2, **fields) -> PoissonSineSquare:
    if dim != 2:
        raise ValueError(f"poisson-sine-square: dim must be 2 (the problem lives on [-1, 1]^2), got {dim!r}.")
    return Poisson.sine_square(**fields)


def _allen_cahn_time(spatial_dim: int | None = None, c: float = 1.0, dim: int | None = None,
                     **fields) -> AllenCahnTime:
    if spatial_dim is None and dim is None:
        raise ValueError("allen-cahn-time: pass spatial_dim (the ball's dimension) or dim (the network input "
                         "dimension, spatial_dim + 1).")
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
            raise ValueError(f"allen-cahn-time: dim (network input = spatial_dim + 1) must be an integer >= 2, "
                             f"got {dim!r}.")
        if spatial_dim is not None and spatial_dim != dim - 1:
            raise ValueError(f"allen-cahn-time: dim={dim} and spatial_dim={spatial_dim} disagree; dim is the "
                             f"network input dimension spatial_dim + 1, pass only one of them.")
        spatial_dim = dim - 1
    return AllenCahn.time(spatial_dim, c, **fields)


PROBLEMS: dict[str, Callable[..., Problem]] = {
    PoissonTwoBody.name: Poisson.two_body,
    AllenCahnTwoBody.name: AllenCahn.two_body,
    PoissonSineCube.name: Poisson.sine_cube,
    PoissonSineSquare.name: _sine_square,
    AllenCahnTime.name: _allen_cahn_time,
    **FACTORIES,
}

ENTRY_POINT_GROUP = "pde_kan.problems"



def _registered_classes() -> dict[str, type]:
    """Registered name -> the :class:`Problem` subclass that carries it as its own ``name``: the problems a saved
    run rebuilds field by field (the PDE families of :mod:`.classic` are rebuilt by their factories). Derived
    from :data:`PROBLEMS` and the subclasses defined when the registry is imported, never listed by hand."""
    out: dict[str, type] = {}
    stack = list(Problem.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__dict__.get("name") in PROBLEMS:
            out[cls.name] = cls
    return out


PROBLEM_CLASSES: dict[str, type] = _registered_classes()


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def available_problems() -> list[str]:
    """Registered problem names: shipped ones and those of installed packages' entry points."""
    return sorted(set(PROBLEMS) | set(_entry_points()))


def resolve(name: str) -> Any:
    """The object a custom problem name stands for: ``"package.module:Attribute"`` or an entry-point name."""
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            obj = importlib.import_module(module)
        except ImportError as e:
            raise ValueError(f"problem {name!r}: cannot import module {module!r} ({type(e).__name__}: {e}); the "
                             f"name must read 'package.module:Attribute' with the package installed or on "
                             f"PYTHONPATH.") from None
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"problem {name!r}: module {module!r} has no attribute {attr!r}; check the name "
                                 f"after the colon.") from None
            obj = getattr(obj, part)
        return obj
    eps = _entry_points()
    if name in eps:
        try:
            return eps[name].load()
        except Exception as e:  # a broken plugin is the plugin's error, reported with its name
            raise ValueError(f"problem {name!r}: its entry point {eps[name].value!r} (group {ENTRY_POINT_GROUP!r}) "
                             f"failed to load ({type(e).__name__}: {e}).") from None
    lookup({**PROBLEMS, **eps}, "problem", name)  # raises: unknown name, listing the valid ones
    raise AssertionError("unreachable")


def _call_checked(name: str, fn: Callable, kw: dict, valid: list[str], strict: bool = False) -> Any:
    """``fn(**kw)`` with errors naming ``valid``; keywords outside ``valid`` are refused unless ``fn`` takes
    ``**kwargs`` and ``strict`` is off (a registered factory's ``**fields`` are exactly ``valid``: strict)."""
    unknown = [k for k in kw if k not in valid]
    if unknown and (strict or not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(fn).parameters.values())):
        raise ValueError(f"{name}: unknown keyword {unknown[0]!r}; valid keywords: {', '.join(map(repr, valid))}.")
    try:
        inspect.signature(fn).bind(**kw)
    except TypeError as err:
        raise ValueError(f"{name}: {err}; valid keywords: {', '.join(map(repr, valid))}.") from None
    return fn(**kw)


def _with_origin(problem: Any, name: str, kw: dict) -> Problem:
    if not isinstance(problem, Problem):
        raise TypeError(f"problem {name!r} must build a pde_kan.problems.Problem, got {type(problem).__name__}.")
    if isinstance(problem, PDE) and problem.origin is None:  # a PDE from a factory: record how to rebuild it
        object.__setattr__(problem, "origin", {"name": name, **jsonable(kw)})
        object.__setattr__(problem, "name", name)
    return problem


def get_problem(name: str, **kw: Any) -> Problem:
    """Build a problem by name, e.g. ``get_problem("poisson-two-body", dim=10, seed=0)``.

    ``name`` is a registered name (:func:`available_problems`), ``"package.module:Attribute"`` or an entry-point
    name (module docstring).

    Raises:
        ValueError: unknown name (lists the valid names), unknown or missing keywords (lists the valid ones),
            a custom name that cannot be imported.
    """
    if not isinstance(name, str):
        raise TypeError(f"problem name must be a string, got {name!r}.")
    if name in PROBLEMS:
        factory = PROBLEMS[name]
        keywords = [p for p in inspect.signature(factory).parameters if p not in ("fields",)]
        cls = PROBLEM_CLASSES.get(name)
        field_names = [f.name for f in dataclasses.fields(cls) if f.init] if cls else ["sampler", "boundary_weight"]
        return _call_checked(name, factory, kw, list(dict.fromkeys(keywords + field_names)), strict=True)
    obj = resolve(name)
    if isinstance(obj, Problem):
        return obj.with_params(**kw) if kw else obj
    if isinstance(obj, type) and issubclass(obj, Problem):
        valid = [f.name for f in dataclasses.fields(obj) if f.init]
        return _call_checked(name, obj, kw, valid)
    if callable(obj):
        valid = [p for p, v in inspect.signature(obj).parameters.items() if v.kind is not v.VAR_KEYWORD]
        return _with_origin(_call_checked(name, obj, kw, valid), name, kw)
    raise TypeError(f"problem {name!r} names a {type(obj).__name__}; it must be a Problem subclass, a factory "
                    f"function returning a problem, or a problem instance.")


def problem_from_params(params: dict[str, Any]) -> Problem:
    """Rebuild a problem from :meth:`Problem.params` (``name`` plus every field, or a factory's keywords)."""
    if "name" not in params:
        raise ValueError(f"problem_from_params: params must contain 'name' (from Problem.params()), got keys "
                         f"{sorted(params)}.")
    name = params["name"]
    fields = {k: v for k, v in params.items() if k != "name"}
    if name == "pde":
        raise ValueError("problem_from_params: this PDE was built in a script (its functions are not stored); "
                         "define it in a module and name it 'package.module:factory' (or register an entry point) "
                         "to rebuild it, or pass the problem object itself.")
    if name in PROBLEMS and name not in PROBLEM_CLASSES:
        return get_problem(name, **fields)
    if name in PROBLEM_CLASSES:
        cls = PROBLEM_CLASSES[name]
    else:
        obj = resolve(name)
        if not (isinstance(obj, type) and issubclass(obj, Problem)):
            return get_problem(name, **fields)
        cls = obj
    valid = [f.name for f in dataclasses.fields(cls) if f.init]
    unknown = [k for k in fields if k not in valid]
    if unknown:
        raise ValueError(f"problem_from_params: unknown field {unknown[0]!r} for {name!r}; valid fields: "
                         f"{', '.join(map(repr, valid))}.")
    return cls(**fields)
