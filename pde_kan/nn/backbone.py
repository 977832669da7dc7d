"""The backbone interface every model the library trains offers, its base class, and the helpers around it.

:class:`Backbone` is both: the interface (what the trainer, the derivative engines, results and transfer code
rely on, listed in its docstring) and the base of pde_kan's backbones (a sequence of layers with validated input
and a JSON config). :class:`BackboneWrapper` is the mixin for a model that wraps a backbone (the LoTRA model, an
image classifier, DeepXDE's net) and forwards the interface to it. :func:`n_parameters` is the one parameter
counter, :func:`optimizer_groups` the one builder of torch optimiser groups from named parameter groups.
"""
from __future__ import annotations

from collections.abc import Sized
from typing import Any, Iterable, Mapping, Optional, Sequence

import torch
from torch import nn

from .._checks import check_points, choice, dtype_name, positive_int, resolve_dtype
from .activations import ACTIVATIONS
from .layer import CoefficientSource
from .splines import BSplineBasis


def check_widths(widths: Sequence[int], owner: str) -> list[int]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sized) or len(widths) < 2:
        raise ValueError(f"{owner}: widths must list at least two layer widths like [2, 16, 1], got {widths!r}.")
    return [positive_int(f"widths[{i}]", w, owner=owner) for i, w in enumerate(widths)]


def _is_pair(r) -> bool:
    return (isinstance(r, (tuple, list)) and len(r) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in r))


def layer_bases(widths, grid_size, spline_order, grid_range, owner: str) -> tuple[list[BSplineBasis], dict]:
    """One B-spline basis per layer of a spline backbone, and the basis part of its config.

    ``grid_range`` is one ``(low, high)`` pair for every layer, or a list of one pair per layer. A per-layer
    range matters where a layer's inputs live on another scale than ``[-1, 1]``: the coordinates of points in
    the unit ball of R^d are O(d^-1/2), so with the default grid every input of a d = 1000 problem falls into
    one or two grid intervals and the first layer's splines are almost linear there; e.g.
    ``grid_range=[(-0.15, 0.15), (-1, 1), (-1, 1)]`` for ``[1000, 32, 32, 1]``.
    """
    n_layers = len(check_widths(widths, owner)) - 1
    if _is_pair(grid_range):
        ranges = [grid_range] * n_layers
    elif isinstance(grid_range, (tuple, list)) and all(_is_pair(r) for r in grid_range):
        ranges = list(grid_range)
        if len(ranges) != n_layers:
            raise ValueError(f"{owner}: grid_range lists {len(ranges)} (low, high) pairs for {n_layers} layers; "
                             f"give one pair per layer or a single pair for all layers.")
    else:
        raise ValueError(f"{owner}: grid_range must be a pair (low, high) or a list of one pair per layer, got "
                         f"{grid_range!r}.")
    bases = [BSplineBasis(grid_size, spline_order, r) for r in ranges]
    config = dict(bases[0].config)
    if any(b.grid_range != bases[0].grid_range for b in bases):
        config["grid_range"] = [list(b.grid_range) for b in bases]
    return bases, config


def n_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of parameters of ``model`` (each shared parameter once); only those with ``requires_grad`` unless
    ``trainable_only`` is False."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def optimizer_groups(groups: Mapping[str, Iterable[nn.Parameter]], lr: float,
                     group_lr: Optional[Mapping[str, float]] = None) -> list[dict[str, Any]]:
    """torch optimiser groups ``[{"params", "lr", "name"}]`` from named parameter groups (a model's
    :meth:`~Backbone.param_groups`): group ``name`` trains at ``group_lr[name]`` when given, else at ``lr``.
    Empty groups are left out. The callers check ``group_lr``'s names against ``groups`` (with their own
    messages) before calling."""
    group_lr = group_lr or {}
    listed = ((name, list(ps)) for name, ps in groups.items())
    return [{"params": ps, "lr": group_lr.get(name, lr), "name": name} for name, ps in listed if ps]


def _source_groups(module: nn.Module):
    """The :meth:`~pde_kan.nn.CoefficientSource.param_groups` of every outermost coefficient source below
    ``module`` (a source that wraps another, like a LoTRA adapter, speaks for it)."""
    if isinstance(module, CoefficientSource):
        yield module.param_groups()
        return
    for child in module.children():
        yield from _source_groups(child)


def group_parameters(module: nn.Module) -> dict[str, list[nn.Parameter]]:
    """``module``'s trainable parameters by group name, each once (shared modules deduplicated): the groups its
    coefficient sources name (MetaKAN's ``"hypernet"``, ``"embeddings"``, ...) in module order, every other
    parameter in ``"default"``. What :meth:`Backbone.param_groups` returns; models that are not backbones (a conv
    KAN) use it too."""
    groups: dict[str, list[nn.Parameter]] = {}
    seen: set[int] = set()
    named = [g.items() for g in _source_groups(module)] + [[("default", module.parameters())]]
    for items in named:
        for name, params in items:
            for p in params:
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    groups.setdefault(name, []).append(p)
    return groups


class Backbone(nn.Module):
    """The model interface, and the base of every pde_kan backbone: ``x: (N, widths[0])`` -> ``(N, widths[-1])``
    through ``self.layers`` in order.

    What the trainer, the derivative engines, results and transfer code use of a model — and all they use:

    ==================  =============================================================================================
    ``name``            registry name, recorded in results (``"kan"``, ``"metakan"``, ...)
    ``recommended_lr``  base learning rate of a run whose ``TrainConfig.lr`` is None
    ``in_features``     input width ``d``: points are ``(N, d)``
    ``out_features``    output width
    ``dtype``           the parameters' dtype (follows ``model.to(dtype)``)
    ``config``          JSON-serialisable constructor arguments: ``backbone_from_config(config)`` rebuilds it
    ``check(x)``        ``x`` validated as ``(N, in_features)`` of ``dtype`` (the error names argument and fix)
    ``forward(x)``      ``(N, in_features)`` -> ``(N, out_features)``
    ``param_groups()``  ``{group name: [trainable parameters]}``, each parameter once
    ``group_lr(lr)``    ``{group name: rate}`` the model recommends at base rate ``lr`` (``{}``: ``lr`` for all)
    ``n_parameters()``  :func:`n_parameters` of the model
    ``layers``          (forward jets only) the sequence of ``KANLayer`` / ``nn.Linear`` / activation modules
    ==================  =============================================================================================

    A model that wraps a backbone forwards this interface to it with :class:`BackboneWrapper`.

    Subclasses call :meth:`_setup` and fill ``self.layers``; ``config`` holds the JSON-serialisable
    constructor arguments so that ``type(m).from_config(m.config)`` rebuilds an identical architecture.
    """

    name: str = "backbone"
    #: Base learning rate a run without an explicit ``TrainConfig.lr`` uses: the best of 3e-3 / 1e-2 / 3e-2 for
    #: PINN training with Adam (exponential decay to 1 %) on the two-body problems, benchmarks/metakan.py
    #: (docs/metakan.md has the table). Other tasks (images, function fitting) have their own presets.
    recommended_lr: float = 1e-3
    #: Check every forward's input for NaN / inf (one host sync per call). Off by default: the public entry
    #: points (``solve``, ``fit``, ``laplacian``, ``Solution.predict``) check their inputs once; set it on a
    #: model (``model.check_finite = True``) to have each call checked while debugging.
    check_finite: bool = False

    def _setup(self, widths, dtype, config: dict[str, Any]) -> None:
        owner = type(self).__name__
        self.widths = check_widths(widths, owner)
        if "spline_order" in config and config["spline_order"] < 1:
            raise ValueError(
                f"{owner}: spline_order must be an integer >= 1, got {config['spline_order']}; order-0 splines are "
                f"piecewise constant, so no derivative (in x, or through later layers) passes the spline branch. "
                f"Use spline_order=3 (cubic) for PDEs.")
        if "base_activation" in config:
            choice("base_activation", config["base_activation"], ACTIVATIONS, owner=owner)
        self._init_dtype = resolve_dtype(dtype)
        self._config = {"widths": list(self.widths), **config}

    @property
    def dtype(self) -> torch.dtype:
        """The parameters' dtype (follows ``model.to(dtype)``)."""
        p = next(self.parameters(), None)
        return self._init_dtype if p is None else p.dtype

    @property
    def in_features(self) -> int:
        return self.widths[0]

    @property
    def out_features(self) -> int:
        return self.widths[-1]

    @property
    def config(self) -> dict[str, Any]:
        return {"backbone": self.name, **self._config, "dtype": dtype_name(self.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any], device=None) -> "Backbone":
        kw = {k: v for k, v in config.items() if k != "backbone"}
        return cls(**kw, device=device)

    def check(self, x: torch.Tensor) -> torch.Tensor:
        """Validate ``x: (N, in_features)`` of the model's dtype (argument named, value and fix in the error);
        its values too when :attr:`check_finite` is set."""
        return check_points(type(self).__name__, x, self.in_features, self.dtype, finite=self.check_finite)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.check(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by group name, each once: :func:`group_parameters`."""
        return group_parameters(self)

    def group_lr(self, lr: float) -> dict[str, float]:
        """Per-group learning rates the model recommends at base rate ``lr``: none (every group trains at ``lr``)."""
        return {}

    def n_parameters(self, trainable_only: bool = True) -> int:
        """:func:`n_parameters` of this model."""
        return n_parameters(self, trainable_only)


def _forwarded(attr: str) -> property:
    """A read-only property that returns ``self.backbone.<attr>``."""
    return property(lambda self: getattr(self.backbone, attr), doc=f"The wrapped backbone's ``{attr}``.")


class BackboneWrapper:
    """Mixin for a model that wraps a :class:`Backbone` in ``self.backbone`` and forwards the backbone interface
    to it: ``name``, ``recommended_lr``, ``in_features``, ``out_features``, ``dtype``, ``check``,
    ``param_groups``, ``group_lr`` and ``n_parameters`` (which counts the wrapper's own parameters too). A wrapper
    overrides what it changes (its ``config`` always: the wrapper is what a config must rebuild) and keeps
    ``forward``. Put it first among the bases: ``class ImageClassifier(BackboneWrapper, nn.Module)``.
    """

    backbone: Backbone

    name = _forwarded("name")
    recommended_lr = _forwarded("recommended_lr")
    in_features = _forwarded("in_features")
    out_features = _forwarded("out_features")
    dtype = _forwarded("dtype")

    def check(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone.check(x)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        return self.backbone.param_groups()

    def group_lr(self, lr: float) -> dict[str, float]:
        return self.backbone.group_lr(lr)

    def n_parameters(self, trainable_only: bool = True) -> int:
        return n_parameters(self, trainable_only)
