"""Common base of every backbone: a sequence of layers with validated input and a JSON config."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from .._checks import check_points, choice, dtype_name, positive_int, resolve_dtype
from .activations import ACTIVATIONS
from .splines import BSplineBasis


def check_widths(widths: Sequence[int], owner: str) -> list[int]:
    if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) < 2:
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


class Backbone(nn.Module):
    """``x: (N, widths[0])`` -> ``(N, widths[-1])`` through ``self.layers`` in order.

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
        """Trainable parameters by group name; each parameter appears once (shared modules deduplicated)."""
        groups: dict[str, list[nn.Parameter]] = {}
        seen: set[int] = set()
        for layer in self.layers:
            sub = layer.source.param_groups() if hasattr(layer, "source") else {
                "default": list(layer.parameters())}
            for name, params in sub.items():
                for p in params:
                    if p.requires_grad and id(p) not in seen:
                        seen.add(id(p))
                        groups.setdefault(name, []).append(p)
        for p in self.parameters():  # anything registered outside the layers
            if p.requires_grad and id(p) not in seen:
                seen.add(id(p))
                groups.setdefault("default", []).append(p)
        return groups

    def n_parameters(self, trainable_only: bool = True) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
