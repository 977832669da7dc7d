"""``LoTRAModel``: a backbone with LoTRA adapters, and :func:`inject_lotra`, the verb that builds it.

peft's contract: :func:`inject_lotra` (config -> adapted model, base frozen) -> train -> :meth:`LoTRAModel.merge`
/ :meth:`~LoTRAModel.unmerge` / :meth:`~LoTRAModel.merge_and_unload` or :meth:`~LoTRAModel.unload` ->
:meth:`~LoTRAModel.save_adapter` stores the adapter alone, :func:`~pde_kan.transfer.load_adapter` puts it back on
the same base. The model picks each targeted layer's wrapper by its coefficient source (:data:`ADAPTER_KINDS`) and
keeps a map ``{layer name: adapted KANLayer}``; everything per layer (delta, merge, rates, what is saved) is the
wrapper's (:mod:`pde_kan.transfer.layers`).
"""
from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from .._checks import positive_float
from ..nn import BackboneWrapper, DenseCoefficients, HyperCoefficients, KANLayer, TuckerCoefficients
from ..solvers.trainer import FALLBACK_LR
from .config import LoTRAConfig
from .io import save_adapter, weights_hash
from .layers import DenseLoTRA, LoTRALayer, TuckerLoTRA
from .metakan_layers import EmbeddingLoTRA, HypernetTuning
from .targets import choose_ranks, resolve_targets

log = logging.getLogger("pde_kan")


# --- which wrapper for which source ------------------------------------------------------------------------
#: base coefficient-source type -> the LoTRA wrapper for it (MetaKAN: see :data:`METAKAN_WRAPPERS`)
ADAPTER_KINDS: dict[type, type[LoTRALayer]] = {
    DenseCoefficients: DenseLoTRA,
    TuckerCoefficients: TuckerLoTRA,
    HyperCoefficients: EmbeddingLoTRA,
}
#: ``LoTRAConfig.metakan_mode`` -> the wrapper put on MetaKAN (``HyperCoefficients``) layers
METAKAN_WRAPPERS: dict[str, type[LoTRALayer]] = {"embeddings": EmbeddingLoTRA, "hypernet": HypernetTuning}


def wrapper_for(source: nn.Module, metakan_mode: str = "embeddings") -> type[LoTRALayer]:
    """The wrapper class for ``source`` (raises TypeError naming the supported sources)."""
    if isinstance(source, LoTRALayer):
        raise TypeError("inject_lotra: the model already carries LoTRA adapters; call merge_and_unload() "
                        "first or inject into the original base model.")
    for cls in type(source).__mro__:
        if cls in ADAPTER_KINDS:
            return METAKAN_WRAPPERS[metakan_mode] if cls is HyperCoefficients else ADAPTER_KINDS[cls]
    valid = ", ".join(c.__name__ for c in ADAPTER_KINDS)
    raise TypeError(f"inject_lotra: no LoTRA adapter for coefficient source {type(source).__name__}; supported "
                    f"sources: {valid}. Register one in pde_kan.transfer.model.ADAPTER_KINDS.")


class LoTRAModel(BackboneWrapper, nn.Module):
    """A backbone with LoTRA adapters: behaves like the backbone (``layers``, ``config``, ``param_groups`` and
    what :class:`~pde_kan.nn.BackboneWrapper` forwards), so :func:`pde_kan.solvers.solve` and the forward jets run
    on it unchanged.

    Build it with :func:`inject_lotra`. The base model is adapted in place (its targeted layers' ``source`` is
    replaced by a wrapper) and frozen; :meth:`merge_and_unload` / :meth:`unload` give it back.

    Attributes:
        base_model: the wrapped backbone.
        lotra_config: the :class:`LoTRAConfig`.
        base_hash: SHA-256 of the base weights at injection (checked by :func:`~pde_kan.transfer.load_adapter`).
        layer_ranks: ``{layer name: delta ranks}`` of the layers with a delta.
    """

    name = "lotra"
    #: ``solve()`` on an injected model without a rate keeps the trainer's fallback (``transfer()`` starts LoTRA at
    #: its own measured ``default_lr("lotra")``)
    recommended_lr = FALLBACK_LR

    def __init__(self, base_model: nn.Module, config: Optional[LoTRAConfig] = None):
        super().__init__()
        config = LoTRAConfig() if config is None else config
        if not isinstance(config, LoTRAConfig):
            raise TypeError(f"inject_lotra: config must be a LoTRAConfig, got {type(config).__name__}.")
        if isinstance(base_model, LoTRAModel):
            raise TypeError("inject_lotra: the model is already a LoTRAModel; call merge_and_unload() first or "
                            "inject into the original base model.")
        layers = resolve_targets(base_model, config.targets)
        self.lotra_config = config
        self.base_hash = weights_hash(base_model)
        self._requires_grad = {n: p.requires_grad for n, p in base_model.named_parameters()}
        self._unloaded = False
        kinds = {n: wrapper_for(layer.source, config.metakan_mode) for n, layer in layers.items()}
        if config.metakan_mode == "hypernet" and any(k.kind != "hypernet" for k in kinds.values()):
            found = sorted({wrapper_for(layer.source).kind for layer in layers.values()})
            raise ValueError(f"LoTRAConfig: metakan_mode='hypernet' needs MetaKAN layers, but {type(base_model).__name__}"
                             f" layers are {found}; use metakan_mode='embeddings' (the default).")
        base_model.requires_grad_(False)
        self.base_model = base_model
        self._layers = layers  # a plain dict: the layers are registered once, under base_model
        shapes = {n: kinds[n].delta_shape(layer.source, config.adapt_base_weight) for n, layer in layers.items()}
        shapes = {n: s for n, s in shapes.items() if s is not None}
        extra = {n: functools.partial(kinds[n].extra_parameter_count, layers[n].source,
                                      adapt_base_weight=config.adapt_base_weight) for n in shapes}
        self.layer_ranks: dict[str, tuple[int, int, int]] = choose_ranks(config, shapes, layers, extra)
        g = torch.Generator().manual_seed(config.seed)
        for name, layer in layers.items():
            ranks = self.layer_ranks.get(name)
            if isinstance(config.ranks, tuple) and ranks is not None and ranks != config.ranks:
                log.info("LoTRA: ranks clipped to %s for %s (delta shape %s)", ranks, name, shapes[name])
            layer.source = kinds[name].wrap(layer.source, config, ranks, g)

    # --- backbone interface (the rest is BackboneWrapper's: in/out_features, dtype, check, n_parameters) -------
    @property
    def backbone(self) -> nn.Module:
        """The wrapped backbone (``base_model``), to which :class:`~pde_kan.nn.BackboneWrapper` forwards."""
        return self.base_model

    @property
    def layers(self) -> nn.ModuleList:
        return self.base_model.layers

    @property
    def widths(self) -> list[int]:
        return list(self.base_model.widths)

    @property
    def config(self) -> dict[str, Any]:
        """JSON description ``{"adapter": "lotra", "base": base config, "lotra": LoTRAConfig fields}``; the
        loader ``pde_kan.transfer`` registers rebuilds it in :func:`pde_kan.solvers.load_solution`."""
        return {"adapter": "lotra", "base": self.base_model.config, "lotra": self.lotra_config.to_dict()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._alive("forward")
        return self.base_model(x)

    # --- adapters ----------------------------------------------------------------------------------------
    def _alive(self, what: str) -> None:
        if self._unloaded:
            raise RuntimeError(f"LoTRAModel.{what}: the adapters were removed by merge_and_unload() or unload(); "
                               f"use the backbone it returned.")

    @property
    def target_names(self) -> list[str]:
        """Names of the adapted layers, in order (``"layers.0"``, ...)."""
        return list(self._layers)

    def adapters(self) -> dict[str, LoTRALayer]:
        """``{layer name: wrapper}`` for every adapted layer."""
        return {n: layer.source for n, layer in self._layers.items()}

    def _layer_name(self, layer) -> str:
        if isinstance(layer, KANLayer):
            for n, own in self._layers.items():
                if own is layer:
                    return n
            raise ValueError("LoTRAModel: this KANLayer is not one of the model's adapted layers.")
        if isinstance(layer, int) and not isinstance(layer, bool):
            layer = f"layers.{layer + len(self.layers) if layer < 0 else layer}"
        if layer not in self._layers:
            raise ValueError(f"LoTRAModel: layer {layer!r} has no adapter; adapted layers: "
                             f"{', '.join(map(repr, self._layers))}.")
        return layer

    def get_delta(self, layer) -> torch.Tensor:
        """The trained delta of one layer (index, ``"layers.i"`` or the KANLayer); see :func:`get_delta`."""
        self._alive("get_delta")
        return get_delta(self._layers[self._layer_name(layer)])

    @property
    def merged(self) -> bool:
        return any(a.merged for a in self.adapters().values()) if not self._unloaded else False

    def _mergeable(self, what: str) -> None:
        self._alive(what)
        for a in self.adapters().values():
            if a.why_not_mergeable:
                raise RuntimeError(f"LoTRAModel.{what}: {a.why_not_mergeable}")

    def merge(self) -> "LoTRAModel":
        """Fold every delta into its base source (KAN: ``C += ΔC``; Slim KAN: the ranks add; MetaKAN:
        ``E += ΔE`` on the embeddings). Raises RuntimeError when already merged or in MetaKAN hypernet mode."""
        self._mergeable("merge")
        if self.merged:
            raise RuntimeError("LoTRAModel.merge: the adapters are already merged; call unmerge() before merging "
                               "again.")
        for a in self.adapters().values():
            a.merge()
        return self

    def unmerge(self) -> "LoTRAModel":
        """Undo :meth:`merge`; the base weights come back bit for bit."""
        self._mergeable("unmerge")
        if not self.merged:
            raise RuntimeError("LoTRAModel.unmerge: the adapters are not merged; call merge() first.")
        for a in self.adapters().values():
            a.unmerge()
        return self

    def merge_and_unload(self) -> nn.Module:
        """Merge, put the base sources back into the layers, restore the base's ``requires_grad`` flags and
        return the plain backbone (KAN, Slim KAN, MetaKAN). For Slim KAN the backbone's ``ranks`` config is
        updated when one triple describes every layer's summed ranks; otherwise a warning is logged (the module
        works, but ``from_config`` cannot rebuild it). In MetaKAN hypernet mode the hypernets were trained in
        place: nothing is merged and the tuned base backbone is returned."""
        return self._unload("merge_and_unload", merge=True)

    def unload(self) -> nn.Module:
        """Remove the adapters without merging and return the base backbone as it was before injection (weights,
        ``requires_grad`` flags; MetaKAN hypernet mode: the hypernets' weights restored)."""
        return self._unload("unload", merge=False)

    def _unload(self, what: str, merge: bool) -> nn.Module:
        self._alive(what)
        for layer in self._layers.values():
            layer.source = layer.source.unload(merge)
        base = self.base_model
        for n, p in base.named_parameters():
            p.requires_grad_(self._requires_grad.get(n, True))
        if merge:
            _update_slimkan_ranks(base)
        self._unloaded = True
        return base

    # --- optimisation ------------------------------------------------------------------------------------
    def layer_rates(self, lr: float) -> dict[str, dict[str, float]]:
        """``{layer name: {component: rate}}`` from the configured rule."""
        return {name: a.rates(lr, self.lotra_config) for name, a in self.adapters().items()}

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by group for :class:`~pde_kan.solvers.Trainer`: ``"lotra_core.i"``,
        ``"lotra_out.i"``, ``"lotra_in.i"``, ``"lotra_basis.i"`` per adapted layer ``i``, or ``"hypernet"`` in
        MetaKAN hypernet mode; :meth:`group_lr` gives their rates (torch optimiser groups with them:
        ``pde_kan.nn.optimizer_groups(model.param_groups(), lr, model.group_lr(lr))``)."""
        self._alive("param_groups")
        groups: dict[str, list[nn.Parameter]] = {}
        seen: set[int] = set()  # a hypernet shared between layers counts once
        for name, a in self.adapters().items():
            for comp, params in a.components().items():
                for p in params:
                    if p.requires_grad and id(p) not in seen:
                        seen.add(id(p))
                        groups.setdefault(a.group_name(comp, name), []).append(p)
        return groups

    def group_lr(self, lr: float) -> dict[str, float]:
        """``{group name: learning rate}`` for ``TrainConfig(group_lr=...)`` at base rate ``lr``: the one place
        the rule's rates are filled in (:func:`~pde_kan.transfer.transfer` uses it)."""
        lr = positive_float("lr", lr, owner="LoTRAModel.group_lr")
        return {self.adapters()[name].group_name(comp, name): rate for name, rates in self.layer_rates(lr).items()
                for comp, rate in rates.items()}

    def trainable_summary(self, lr: Optional[float] = None) -> dict[str, Any]:
        """Per-layer shapes, ranks, parameter counts (and rates at ``lr``), totals and the trainable fraction."""
        rows = []
        rates = self.layer_rates(lr) if lr is not None else {}
        added: set[int] = set()
        for name, a in self.adapters().items():
            row = {"layer": name, "kind": a.kind}
            if a.tucker is not None:  # the delta (and a free base weight's low-rank delta): all added
                own = [p for ps in a.components().values() for p in ps]
                added.update(id(p) for p in own)
                row.update(delta_shape=list(a.tucker.shape), ranks=list(a.tucker.ranks),
                           parameters=sum(p.numel() for p in own))
            else:
                row["parameters"] = sum(p.numel() for ps in a.components().values() for p in ps)
            if name in rates:
                row["rates"] = rates[name]
            rows.append(row)
        trainable = self.n_parameters(trainable_only=True)
        base = sum(p.numel() for p in self.base_model.parameters() if id(p) not in added)
        hypernet = self.lotra_config.metakan_mode == "hypernet"
        return {"method": "lotra-hypernet" if hypernet else "lotra",
                "backbone": getattr(self.base_model, "name", type(self.base_model).__name__), "layers": rows,
                "trainable_parameters": trainable, "base_parameters": base,
                "trainable_fraction": trainable / base if base else math.nan}

    # --- persistence -------------------------------------------------------------------------------------
    def adapter_state(self) -> dict[str, torch.Tensor]:
        """Adapter tensors only: ``{"layers.i.core": ..., "layers.i.u_out": ...}`` (hypernet mode: the targeted
        hypernets' state ``{"layers.i.hypernet.fc1.weight": ...}``)."""
        self._alive("adapter_state")
        if self.merged:
            raise RuntimeError("LoTRAModel: unmerge() before saving the adapter (merged base weights are not part "
                               "of the adapter).")
        return {f"{name}.{k}": v.detach().cpu().clone() for name, a in self.adapters().items()
                for k, v in a.adapter_tensors().items()}

    def load_adapter_state(self, state: dict[str, torch.Tensor]) -> None:
        """Copy ``state`` (as :meth:`adapter_state` returns it) into the adapters; raises ValueError naming the
        missing, unexpected and mis-shaped entries when it does not fit."""
        expected = self.adapter_state()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        bad = sorted(k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape))
        if missing or unexpected or bad:
            raise ValueError(f"LoTRA adapter does not fit this model: missing {missing[:4]}, unexpected "
                             f"{unexpected[:4]}, wrong shape {bad[:4]}; load it onto the base model and config "
                             f"it was saved from.")
        with torch.no_grad():
            for name, a in self.adapters().items():
                for k, p in a.adapter_tensors().items():
                    p.copy_(state[f"{name}.{k}"].to(dtype=p.dtype, device=p.device))

    def save_adapter(self, path) -> Path:
        """Write the adapter alone into directory ``path``: ``adapter.pt`` (the tensors packed into one) and
        ``adapter_config.json`` (LoTRAConfig, base config, base-weights hash, tensors hash), each atomically
        (:func:`pde_kan.transfer.io.save_adapter`). Returns ``path``."""
        return save_adapter(self, path)

    def extra_repr(self) -> str:
        return f"targets={self.target_names}, ranks={self.layer_ranks}, rule={self.lotra_config.lr_rule!r}"


def _update_slimkan_ranks(base: nn.Module) -> None:
    """After unloading a Slim KAN: one ``ranks`` triple for the backbone config if SlimKAN's per-layer clipping
    ``(min(R_o, out), min(R_i, in), R_b)`` reproduces every layer's ranks."""
    layers = [l for l in getattr(base, "layers", []) if isinstance(getattr(l, "source", None),
                                                                      TuckerCoefficients)]
    if not layers or not hasattr(base, "_config") or "ranks" not in base._config:
        return
    ranks = [tuple(l.source.core.shape) for l in layers]
    triple = (max(r[0] for r in ranks), max(r[1] for r in ranks), max(r[2] for r in ranks))
    ok = all((min(triple[0], l.out_features), min(triple[1], l.in_features), triple[2]) == r
             for l, r in zip(layers, ranks))
    for l, r in zip(layers, ranks):
        l.source.ranks = r
    if ok:
        base._config["ranks"] = list(triple)
    else:
        log.warning("merge_and_unload: the Slim KAN layers now have ranks %s, which no single ranks triple "
                    "describes; the module works but from_config cannot rebuild it (save its state_dict).", ranks)


def inject_lotra(model: nn.Module, config: Optional[LoTRAConfig] = None) -> LoTRAModel:
    """Freeze ``model`` and wrap its targeted layers' coefficient sources with zero-initialised Tucker deltas.

    The model is adapted in place (as peft does); pass ``copy.deepcopy(model)`` to keep the original.

    Args:
        model: a KAN, Slim KAN or MetaKAN backbone.
        config: :class:`LoTRAConfig` (default: ranks chosen from the layer shapes within ``rank_budget``).

    Returns:
        The :class:`LoTRAModel`; its outputs equal ``model``'s bit for bit until the first optimiser step.
    """
    return LoTRAModel(model, config)


def get_delta(layer: KANLayer) -> torch.Tensor:
    """The trained delta of an adapted layer: ``ΔC (out, in, n_basis)``; ``(out, in, n_basis + 1)`` with
    ``adapt_base_weight`` (``Δw`` last); ``ΔE (out, in, embedding_dim)`` for MetaKAN embeddings."""
    src = getattr(layer, "source", None)
    if not isinstance(src, LoTRALayer):
        raise TypeError(f"get_delta: layer must be a KANLayer carrying a LoTRA adapter, got "
                        f"{type(layer).__name__} with source {type(src).__name__}.")
    return src.delta()
