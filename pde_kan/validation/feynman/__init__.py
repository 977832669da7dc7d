"""Feynman symbolic-regression equations (AI Feynman, Udrescu & Tegmark 2020) and the function-fitting suite.

Modules: :mod:`.equations` (the :class:`Equation` type, lookup, sampled data sets), :mod:`._table` (the
equation table itself), :mod:`.suite` (:class:`FunctionFittingSuite`, :func:`run_feynman`).

The registry holds the 100 equations of the Feynman Lectures table and the 20 "bonus" equations of the AI
Feynman benchmark (``FeynmanEquations.csv`` / ``BonusEquations.csv``), each with its published formula, its
variables in the published order and their published uniform sampling ranges (mostly U(1, 5)). Names follow
the Feynman Lectures numbering (``"I.6.20a"``, ``"I.15.10"``); the truncated names of the published csv files
(``"I.6.2a"``, ``"I.15.1"``, ``"test_1"``) and the names pykan's ``feynman.py`` uses where they differ
(``"I.8.4"``, ``"I.18.16"``, ``"I.10.9"``) are accepted as aliases, as is pykan's integer index (1..120).
A two-variable toy ``"test"`` (pykan's, on [-1, 1]^2) has index 0.

Every formula is written here in torch from the published expression; singular points that lie inside a
published range are handled analytically (``sin(a)^2 / a^2`` is written with ``sinc``, ``exp(z) - 1`` with
``expm1``), so every equation gives finite values over its whole sampling box.

Example::

    from pde_kan.validation.feynman import get_equation, dataset
    eq = get_equation("I.6.20b")
    x_tr, y_tr, x_te, y_te = dataset("I.6.20b", n_train=1000, n_test=1000, seed=0)   # x: (N, 3), y: (N, 1)
"""
from __future__ import annotations

from . import _table  # fills the equation registry of .equations
from .equations import (GROUPS, Equation, FeynmanData, available_equations, dataset, get_equation,
                        normalize_inputs)
from .suite import FEYNMAN_BACKBONES, FunctionFittingSuite, feynman_config, reference_backbones, run_feynman

del _table

__all__ = [
    "FEYNMAN_BACKBONES", "Equation", "FeynmanData", "FunctionFittingSuite", "GROUPS", "available_equations",
    "dataset", "feynman_config", "get_equation", "normalize_inputs", "reference_backbones", "run_feynman",
]
