"""LoTRAConfig: the frozen description of a LoTRA adapter (which layers, which ranks, which learning rates)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

from .._checks import check_fields, choice, positive_float, positive_int
from ..nn.tucker import rank_spec
from .rates import COMPONENTS, RATE_RULES, REFERENCE_RANKS

METAKAN_MODES = ("embeddings", "hypernet")
Ranks = Union[tuple[int, int, int], float, str]
RANKS_HELP = ("'auto' (chosen from each layer's shape and rank_budget), one integer r (rank r in every mode, "
              "clipped to each layer), three integers (r_out, r_in, r_basis) or a fraction in (0, 1] of each "
              "dimension given as a float (1.0 = full rank)")


def _check_ranks(ranks: Any) -> Ranks:
    """``"auto"``, or what :func:`pde_kan.nn.tucker.rank_spec` accepts (a fraction or a triple; an integer r is
    ``(r, r, r)``)."""
    own = "LoTRAConfig"
    if isinstance(ranks, str):
        if ranks != "auto":
            raise ValueError(f"{own}: ranks must be {RANKS_HELP}; got {ranks!r}.")
        return ranks
    if isinstance(ranks, bool):
        raise TypeError(f"{own}: ranks must be {RANKS_HELP}; got {ranks!r}.")
    if isinstance(ranks, bytes) or not isinstance(ranks, (int, float)) and (not hasattr(ranks, "__len__")
                                                                             or len(ranks) != 3):
        raise ValueError(f"{own}: ranks must be {RANKS_HELP}; got {ranks!r}.")
    return rank_spec(ranks, owner=own)


def _check_targets(targets: Any) -> tuple:
    own = "LoTRAConfig"
    if isinstance(targets, (str, int)) and not isinstance(targets, bool):
        targets = (targets,)
    if not hasattr(targets, "__iter__"):
        raise TypeError(f"{own}: targets must be layer indices or name patterns like ('layers.*',) or (0, -1), "
                        f"got {targets!r}.")
    targets = tuple(targets)
    if not targets:
        raise ValueError(f"{own}: targets is empty; pass 'all' or patterns/indices of the layers to adapt.")
    for t in targets:
        if isinstance(t, bool) or not isinstance(t, (str, int)):
            raise TypeError(f"{own}: each target must be a layer index (int) or a name pattern (str), got {t!r}.")
    return targets


@dataclass(frozen=True)
class LoTRAConfig:
    """How a backbone is adapted: ``C = C0 (frozen) + alpha * G x1 U_out x2 U_in x3 U_basis`` per targeted layer.

    Attributes:
        ranks: ``"auto"`` (default): per layer ``(ceil(rho n_o), ceil(rho n_i), ceil(rho^{1/2} m))`` with one
            ``rho`` for the whole model, the largest whose adapters hold at most ``rank_budget`` times the
            parameters of the adapted layers (full fine-tuning's count there; see
            :func:`pde_kan.transfer.targets.auto_ranks`). Or one integer ``r`` (rank ``r`` in every mode), a
            triple ``(r_out, r_in, r_basis)``, or a float fraction in (0, 1] of each dimension (``1.0`` = full
            rank; the integer ``1`` is rank 1). For MetaKAN (``metakan_mode="embeddings"``) the third mode is
            the embedding dimension instead of the basis.
        rank_budget: with ``ranks="auto"``: the adapters' parameters as a fraction of full fine-tuning's
            (default 0.15: (8, 8, 5) on the 32 x 32 layers of a [10, 32, 32, 1] KAN).
        targets: which KAN layers get an adapter: ``"all"``, indices into ``model.layers`` (``-1`` = last) or
            :mod:`fnmatch` patterns on the layer names ``"layers.0"``, ``"layers.1"``, ... A target matching no
            layer raises.
        alpha: fixed scale of the delta.
        adapt_base_weight: also adapt the base-branch weights ``w (out, in)`` (default True: full fine-tuning
            depends on changing them): the delta then runs over ``(out, in, n_basis + 1)`` with ``w``'s change
            as the last slice of the third mode (costs ``r_basis`` extra parameters per layer). MetaKAN ignores
            it: with its default ``base_weight="generated"`` the hypernet emits ``w`` too, so the embedding delta
            changes it; with ``"free"`` / ``"lowrank"`` base weights ``w`` is not adapted (known limitation).
        lr_rule: ``"lotra"`` (per-component rates scale-free in width and in rank, see
            :mod:`pde_kan.transfer.rates`), ``"lotra_width"`` (width law only, the rule before the rank law) or
            ``"uniform"`` (one rate for core and factors).
        lr_ratios: multipliers of the ``"lotra"`` rates per component ``"core"``, ``"out"``, ``"in"``,
            ``"basis"`` (missing ones are 1).
        reference_width: the width at which every ``"lotra"`` rate equals ``lr * ratio``.
        reference_ranks: the ranks at which the rank law's factor is 1 (``"lotra"`` rule).
        strict_ranks: raise when a rank exceeds a layer's dimension instead of clipping it to that dimension
            (clipping lets one triple serve layers of different widths, e.g. the output layer of width 1).
        metakan_mode: MetaKAN bases only: ``"embeddings"`` (a Tucker delta on the per-edge embeddings
            ``(out, in, embedding_dim)``, hypernets frozen) or ``"hypernet"`` (train the targeted layers'
            hypernets only, embeddings frozen: no delta tensor, cheapest in parameters).
        seed: seeds the factor initialisation (a private ``torch.Generator``).
    """

    ranks: Ranks = "auto"
    rank_budget: float = 0.15
    targets: tuple = ("all",)
    alpha: float = 1.0
    adapt_base_weight: bool = True
    lr_rule: str = "lotra"
    lr_ratios: Mapping[str, float] = field(default_factory=dict)
    reference_width: int = 16
    reference_ranks: tuple = REFERENCE_RANKS
    strict_ranks: bool = False
    metakan_mode: str = "embeddings"
    seed: int = 0

    def __post_init__(self):
        own = "LoTRAConfig"
        object.__setattr__(self, "ranks", _check_ranks(self.ranks))
        budget = positive_float("rank_budget", self.rank_budget, owner=own)
        if budget > 1:
            raise ValueError(f"{own}: rank_budget is a fraction of full fine-tuning's parameters and must lie in "
                             f"(0, 1], got {self.rank_budget!r}.")
        object.__setattr__(self, "rank_budget", budget)
        object.__setattr__(self, "targets", _check_targets(self.targets))
        object.__setattr__(self, "alpha", positive_float("alpha", self.alpha, owner=own))
        for name in ("adapt_base_weight", "strict_ranks"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{own}: {name} must be True or False, got {getattr(self, name)!r}.")
        choice("lr_rule", self.lr_rule, RATE_RULES, owner=own)
        if not isinstance(self.lr_ratios, Mapping):
            raise TypeError(f"{own}: lr_ratios must be a mapping like {{'core': 2.0}}, got {self.lr_ratios!r}.")
        ratios = {c: 1.0 for c in COMPONENTS}
        for k, v in self.lr_ratios.items():
            choice("lr_ratios component", k, COMPONENTS, owner=own)
            ratios[k] = positive_float(f"lr_ratios[{k!r}]", v, owner=own)
        object.__setattr__(self, "lr_ratios", ratios)
        object.__setattr__(self, "reference_width", positive_int("reference_width", self.reference_width, owner=own))
        ref = self.reference_ranks
        if isinstance(ref, (str, bytes)) or not hasattr(ref, "__len__") or len(ref) != 3:
            raise ValueError(f"{own}: reference_ranks must be three integers (r_out, r_in, r_basis), got {ref!r}.")
        object.__setattr__(self, "reference_ranks", tuple(positive_int("reference_ranks", r, owner=own)
                                                          for r in ref))
        choice("metakan_mode", self.metakan_mode, METAKAN_MODES, owner=own)
        object.__setattr__(self, "seed", positive_int("seed", self.seed, minimum=0, owner=own))

    def replace(self, **changes: Any) -> "LoTRAConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields (tuples as lists)."""
        d = dataclasses.asdict(self)
        d["ranks"] = list(self.ranks) if isinstance(self.ranks, tuple) else self.ranks
        d["targets"] = list(self.targets)
        d["reference_ranks"] = list(self.reference_ranks)
        d["lr_ratios"] = dict(self.lr_ratios)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "LoTRAConfig":
        check_fields(cls, data)
        data = dict(data)
        if isinstance(data.get("ranks"), list):
            data["ranks"] = tuple(data["ranks"])
        if isinstance(data.get("reference_ranks"), list):
            data["reference_ranks"] = tuple(data["reference_ranks"])
        if isinstance(data.get("targets"), list):
            data["targets"] = tuple(data["targets"])
        return cls(**data)
