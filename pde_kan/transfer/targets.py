"""Which layers a LoTRA adapter targets and which ranks each delta gets (``LoTRAConfig.targets`` / ``ranks``)."""
from __future__ import annotations

import fnmatch
import math
from typing import Callable, Optional, Sequence

from torch import nn

from ..nn import KANLayer
from ..nn.tucker import resolve_ranks
from .config import LoTRAConfig
from .layers import lotra_parameter_count


def kan_layers(model: nn.Module) -> dict[str, KANLayer]:
    """``{"layers.i": layer}`` for every KANLayer in ``model.layers``, in order."""
    if not hasattr(model, "layers"):
        raise TypeError(f"inject_lotra: model must be a pde_kan backbone with a `layers` sequence, got "
                        f"{type(model).__name__}.")
    return {f"layers.{i}": layer for i, layer in enumerate(model.layers) if isinstance(layer, KANLayer)}


def resolve_targets(model: nn.Module, targets) -> dict[str, KANLayer]:
    """The layers selected by ``targets`` (``"all"``, indices, fnmatch patterns on ``layers.i``), in order."""
    layers = kan_layers(model)
    owner = type(model).__name__
    if not layers:
        raise TypeError(f"inject_lotra: {owner} has no KAN layers to adapt (LoTRA adapts KAN, Slim KAN and MetaKAN "
                        f"coefficient tensors).")
    n_layers = len(model.layers)
    chosen: set[str] = set()
    for t in targets:
        if isinstance(t, str) and t.strip().lstrip("-").isdigit():
            t = int(t)
        if isinstance(t, int):
            name = f"layers.{t + n_layers if t < 0 else t}"
            hit = [name] if name in layers else []
        elif t == "all":
            hit = list(layers)
        else:
            hit = [n for n in layers if fnmatch.fnmatchcase(n, t)]
        if not hit:
            raise ValueError(f"LoTRAConfig: unknown target {t!r}: it matches no KAN layer of {owner}; valid layer "
                             f"names: {', '.join(map(repr, layers))} (or 'all', patterns like 'layers.*', indices "
                             f"like -1).")
        chosen.update(hit)
    return {n: layer for n, layer in layers.items() if n in chosen}


def ranks_at(rho: float, shape) -> tuple[int, int, int]:
    """``(ceil(rho n_o), ceil(rho n_i), ceil(rho^{1/2} m))``, at least 1, clipped to each dimension, for a delta of
    ``shape``.

    The third mode (``n_basis [+1]``, or MetaKAN's embedding size) is short and its factor costs ``m r_b``
    parameters only, so it keeps a larger share of its dimension (``rho^{1/2}``) than the two width modes.
    """
    fracs = (rho, rho, math.sqrt(rho))
    return resolve_ranks(tuple(max(1, math.ceil(f * d - 1e-9)) for f, d in zip(fracs, shape)), shape, clip=True)


def auto_ranks(shapes, budget: float, full: Optional[int] = None,
               extra: Optional[Sequence[Callable[[tuple[int, int, int]], int]]] = None) -> list[tuple[int, int, int]]:
    """Ranks for ``LoTRAConfig(ranks="auto")``: one fraction ``rho`` for every layer, the largest for which the
    deltas' parameters (:func:`lotra_parameter_count`) stay within ``budget`` times ``full``, the parameters full
    fine-tuning trains in the adapted layers. Rank 1 everywhere when even that exceeds it.

    Args:
        shapes: the delta shapes ``(n_o, n_i, m)`` of the adapted layers.
        budget: fraction in (0, 1].
        full: full fine-tuning's parameter count of those layers (default: the entries of the delta shapes,
            which is that count for KAN; Slim KAN and MetaKAN layers hold fewer parameters than entries).
        extra: per layer, the parameters its adapter trains besides the delta at given ranks (a MetaKAN free
            base weight's low-rank delta); none by default.
    """
    shapes = [tuple(s) for s in shapes]
    full = sum(a * b * c for a, b, c in shapes) if full is None else full
    extra = [lambda ranks: 0] * len(shapes) if extra is None else list(extra)

    def cost(rho):
        return sum(lotra_parameter_count(s, ranks_at(rho, s)) + more(ranks_at(rho, s))
                   for s, more in zip(shapes, extra))

    grid = [k / 1024 for k in range(1, 1025)]
    lo, hi = 0, len(grid) - 1  # cost is nondecreasing in rho: binary search the last grid point within budget
    if cost(grid[0]) > budget * full:
        return [ranks_at(grid[0], s) for s in shapes]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(grid[mid]) <= budget * full:
            lo = mid
        else:
            hi = mid - 1
    return [ranks_at(grid[lo], s) for s in shapes]


def layer_ranks(config: LoTRAConfig, shape, layer: str) -> tuple[int, int, int]:
    """Ranks of one layer's delta: the triple (clipped to the layer unless ``strict_ranks``) or the fraction of
    each dimension (``"auto"`` is resolved over all layers at once by :func:`auto_ranks`)."""
    return resolve_ranks(config.ranks, shape, clip=not config.strict_ranks, owner="LoTRAConfig",
                         where=f" of layer {layer!r}",
                         fix="lower the rank or set strict_ranks=False to clip ranks to each layer's dimensions")


def choose_ranks(config: LoTRAConfig, shapes: dict[str, tuple[int, int, int]],
                 layers: dict[str, nn.Module], extra: Optional[dict[str, Callable]] = None
                 ) -> dict[str, tuple[int, int, int]]:
    """``{layer name: ranks}`` for the deltas of ``shapes`` under ``config.ranks``; ``"auto"`` measures its budget
    against the parameters of ``layers`` (each shared parameter counted once), counting ``extra[name](ranks)``
    more parameters for a layer whose adapter trains more than its delta."""
    if config.ranks != "auto":
        return {name: layer_ranks(config, shape, name) for name, shape in shapes.items()}
    seen: set[int] = set()
    full = 0
    for name in shapes:
        for p in layers[name].parameters():
            if id(p) not in seen:
                seen.add(id(p))
                full += p.numel()
    more = None if extra is None else [extra[name] for name in shapes]
    return dict(zip(shapes, auto_ranks(list(shapes.values()), config.rank_budget, full, more)))
