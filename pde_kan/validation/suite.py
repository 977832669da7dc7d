"""The one shape of the validation suites, and the one place backbone keywords are chosen.

Every suite is a class built with what it runs over (equations, a data set, problems) and its data settings, and
run with the same call::

    report = suite.run(backbones, config=None, callbacks=None)

* ``backbones``: backbone names (the Feynman suite also takes ``{name: factory}``);
* ``config``: a :class:`~pde_kan.solvers.TrainConfig`, or None for the suite's reference optimiser;
* ``callbacks``: ``callbacks(task, backbone) -> sequence of callbacks`` for each run (:data:`Callbacks`).

Each returns a :class:`~pde_kan.validation.Report` with one row per (task, backbone) carrying at least
:data:`ROW_KEYS`: ``task`` (equation, data set or problem name), ``backbone``, ``params`` (trainable parameters)
and ``seconds``. A ``run_<suite>(..., out=None, progress=False, callbacks=None)`` function wraps each suite with
its reference settings (the ``pde-kan validate`` command calls these).

Backbone keywords: a suite states its model settings once, as one flat mapping (``grid_size``, ``ranks``,
``hyper_hidden``, ``activation``, ...); :func:`backbone_kwargs` hands each backbone the keywords its
constructor takes, and every keyword not stated keeps the constructor's own default (no table restates them).
"""
from __future__ import annotations

import abc
import inspect
from typing import Any, Callable, Mapping, Optional, Sequence

from ..nn import get_backbone
from ..nn.registry import BACKBONES
from .report import Report

#: ``callbacks(task, backbone) -> callbacks`` for each run of a suite
Callbacks = Callable[[str, str], Sequence[Any]]
#: keys every row of every suite carries
ROW_KEYS = ("task", "backbone", "params", "seconds")


class Suite(abc.ABC):
    """Base of the validation suites: ``run(backbones, config=None, callbacks=None) -> Report``."""

    #: the metric a progress bar shows (``run_<suite>(progress=True)``)
    progress_metric: str = "loss"

    @abc.abstractmethod
    def run(self, backbones: Any, config=None, callbacks: Optional[Callbacks] = None) -> Report:
        """Train every (task, backbone) pair; one row per pair with at least :data:`ROW_KEYS`."""

    def callbacks_with_progress(self, callbacks: Optional[Callbacks], progress: bool) -> Callbacks:
        """``callbacks`` plus, with ``progress``, a tqdm bar per run showing :attr:`progress_metric`."""
        metric = self.progress_metric

        def cbs(task: str, backbone: str) -> list:
            out = run_callbacks(callbacks, task, backbone)
            if progress:
                from ..solvers import ProgressBar

                out.append(ProgressBar(desc=f"{task} {backbone}", metric=metric, leave=False))
            return out

        return cbs


def run_callbacks(callbacks: Optional[Callbacks], task: str, backbone: str) -> list:
    """The callbacks of one run: ``list(callbacks(task, backbone))``, or ``[]`` without ``callbacks``."""
    return list(callbacks(task, backbone)) if callbacks is not None else []


def backbone_names(backbones: Any) -> list[str]:
    """``backbones`` as a list of names (one name given as a string is one backbone)."""
    return [backbones] if isinstance(backbones, str) else list(backbones)


def backbone_kwargs(name: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``settings`` that backbone ``name``'s constructor takes as keywords.

    ``settings`` is one flat mapping for all backbones (e.g. ``{"grid_size": 5, "ranks": (3, 3, 4),
    "activation": "tanh", "seed": 0}``): KAN takes the spline keywords, Slim KAN also ``ranks``, the MLP
    ``activation``, and so on. Keywords a constructor does not take are left out; those not given keep the
    constructor's defaults. A keyword that no backbone takes (a typo) is an error, not silently dropped.
    """
    cls = BACKBONES.get(name)
    if cls is None:
        raise ValueError(f"backbone_kwargs: unknown backbone {name!r}; valid names: "
                         f"{', '.join(map(repr, BACKBONES))}.")
    known = {k for c in BACKBONES.values() for k in inspect.signature(c).parameters} - {"widths"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"backbone_kwargs: settings {unknown} are keywords of no backbone constructor; valid "
                         f"keywords: {', '.join(sorted(known))}.")
    params = inspect.signature(cls).parameters
    return {k: v for k, v in settings.items() if k in params and k != "widths"}


def build_backbone(name: str, widths: Sequence[int], settings: Mapping[str, Any]):
    """``get_backbone(name, widths, **backbone_kwargs(name, settings))``."""
    return get_backbone(name, list(widths), **backbone_kwargs(name, settings))


__all__ = ["Callbacks", "ROW_KEYS", "Suite", "backbone_kwargs", "backbone_names", "build_backbone", "run_callbacks"]
