"""LoTRA adapters: a coefficient-source wrapper ``C = C0 (frozen) + ΔC`` with a Tucker delta, and the model around it.

peft's contract: :func:`inject_lotra` (config -> adapted model, base frozen) -> train -> :meth:`LoTRAModel.merge` /
:meth:`~LoTRAModel.unmerge` / :meth:`~LoTRAModel.merge_and_unload` -> :meth:`~LoTRAModel.save_adapter` stores the
adapter alone (tensors + config + a hash of the base weights), :func:`load_adapter` puts it back on the same base.

The wrapper is a :class:`~pde_kan.nn.CoefficientSource`, so the one ``KANLayer`` and the forward jets
(``layer.source.coefficients()``) run on an adapted layer unchanged. What it wraps:

===========================  ==================================  ================================  ===================
base source (backbone)       delta over                          merge                             rate exponents
===========================  ==================================  ================================  ===================
``DenseCoefficients`` (KAN)  ``(out, in, n_basis [+1 for w])``   in place: ``C += ΔC``             DENSE_EXPONENTS
``TuckerCoefficients``       ``(out, in, n_basis [+1 for w])``   ranks add: factors concatenated,  DENSE_EXPONENTS
(Slim KAN)                                                       core block diagonal
``HyperCoefficients``        the embeddings ``(out, in, e)``     in place: ``E += ΔE``             EMBEDDING_EXPONENTS
(MetaKAN)
===========================  ==================================  ================================  ===================

MetaKAN bases have a second, cheaper option, ``LoTRAConfig(metakan_mode="hypernet")``: no delta at all, the
targeted layers' hypernets are trained and the embeddings stay frozen.

The core starts at exactly zero, so the adapted model reproduces the base bit for bit until the first step, and
at step 0 only the core receives a gradient.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import torch
from torch import nn
from torch.func import functional_call

from .._checks import positive_float
from ..nn import CoefficientSource, DenseCoefficients, HyperCoefficients, KANLayer, TuckerCoefficients, n_parameters
from ..nn.tucker import tucker_to_tensor
from .._io import atomic_write
from .config import LoTRAConfig
from .rates import DENSE_EXPONENTS, EMBEDDING_EXPONENTS, component_rates

log = logging.getLogger("pde_kan")

ADAPTER_FORMAT = "pde_kan.lotra_adapter"
ADAPTER_VERSION = 2  # 2: the tensors flattened into one (small adapters were mostly per-tensor file overhead)
CONFIG_FILE = "adapter_config.json"
TENSORS_FILE = "adapter.pt"


# --- the Tucker delta --------------------------------------------------------------------------------------
def orthonormal_factor(d: int, r: int, generator: torch.Generator, dtype, device) -> torch.Tensor:
    """``(d, r)`` with orthonormal columns (QR of a Gaussian drawn from ``generator``, signs fixed)."""
    q, rr = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=torch.float64))
    signs = torch.sign(torch.diagonal(rr))
    q = q * torch.where(signs == 0, torch.ones_like(signs), signs)
    return q.contiguous().to(dtype=dtype, device=device)


def lotra_parameter_count(shape, ranks) -> int:
    """Parameters of one Tucker delta: ``r_o r_i r_b + n_o r_o + n_i r_i + m r_b``."""
    (d1, d2, d3), (r1, r2, r3) = shape, ranks
    return r1 * r2 * r3 + d1 * r1 + d2 * r2 + d3 * r3


class TuckerDelta(nn.Module):
    """``ΔT = alpha * G x1 U_out x2 U_in x3 U_basis`` of shape ``(d1, d2, d3)``; ``G = 0`` at construction.

    Parameters: ``core (r1, r2, r3)``, ``u_out (d1, r1)``, ``u_in (d2, r2)``, ``u_basis (d3, r3)`` (orthonormal
    columns at construction); count :func:`lotra_parameter_count`.
    """

    def __init__(self, shape, ranks, alpha: float, generator: torch.Generator, dtype, device):
        super().__init__()
        self.shape, self.ranks, self.alpha = tuple(shape), tuple(ranks), float(alpha)
        self.core = nn.Parameter(torch.zeros(self.ranks, dtype=dtype, device=device))
        self.u_out, self.u_in, self.u_basis = (nn.Parameter(orthonormal_factor(d, r, generator, dtype, device))
                                               for d, r in zip(self.shape, self.ranks))

    def components(self) -> dict[str, nn.Parameter]:
        return {"core": self.core, "out": self.u_out, "in": self.u_in, "basis": self.u_basis}

    def tensor(self) -> torch.Tensor:
        """``(d1, d2, d3)``."""
        return self.alpha * tucker_to_tensor(self.core, [self.u_out, self.u_in, self.u_basis])

    def contract(self, feats: torch.Tensor) -> torch.Tensor:
        """``feats (N, d2, d3)`` -> ``(N, d1) = sum_{i,m} ΔT[:, i, m] feats[:, i, m]`` without forming ``ΔT``."""
        z = torch.einsum("nim,mc->nic", feats, self.u_basis)
        z = torch.einsum("nic,ib->nbc", z, self.u_in)
        z = torch.einsum("nbc,abc->na", z, self.core)
        return self.alpha * (z @ self.u_out.T)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, ranks={self.ranks}, alpha={self.alpha}"


# --- coefficient-source wrappers ---------------------------------------------------------------------------
class LoTRACoefficients(CoefficientSource):
    """KAN / Slim KAN: ``C = C0 + ΔC``, ``w = w0 (+ Δw)`` with a :class:`TuckerDelta` over ``(out, in, m)``.

    ``m = n_basis``, or ``n_basis + 1`` with ``adapt_base_weight`` (``Δw`` is the last slice). The base source is
    frozen and untouched until :meth:`LoTRAModel.merge`.
    """

    exponents = DENSE_EXPONENTS  # width exponents of the "lotra" rates (see pde_kan.transfer.rates)

    def __init__(self, base: CoefficientSource, ranks, alpha: float, adapt_base_weight: bool,
                 generator: torch.Generator):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = base.in_features, base.out_features, base.n_basis
        self.base = base
        self.adapt_base_weight = adapt_base_weight
        ref = next(base.parameters())
        self.delta = TuckerDelta(self.delta_shape(base, adapt_base_weight), ranks, alpha, generator, ref.dtype,
                                 ref.device)
        self.merged = False

    @staticmethod
    def delta_shape(base, adapt_base_weight: bool) -> tuple[int, int, int]:
        return (base.out_features, base.in_features, base.n_basis + int(adapt_base_weight))

    def coefficients(self):
        c, w = self.base.coefficients()
        if self.merged:
            return c, w
        d = self.delta.tensor()
        if self.adapt_base_weight:
            return c + d[..., :-1], w + d[..., -1]
        return c + d, w

    def contract(self, features):
        y = self.base.contract(features)
        if self.merged:
            return y
        feats = features[..., 1:]
        if self.adapt_base_weight:
            feats = torch.cat([feats, features[..., :1]], dim=-1)
        return y + self.delta.contract(feats)

    def param_groups(self):
        return {"default": [p for p in self.delta.parameters() if p.requires_grad]}


class LoTRAEmbeddingCoefficients(CoefficientSource):
    """MetaKAN: ``[C, w] = H(E0 + ΔE) * scale`` with a :class:`TuckerDelta` ``ΔE`` over ``(out, in, e)``.

    The hypernet and the embeddings ``E0`` are frozen. The delta acts on the stored embeddings, so merging is
    exact: :meth:`LoTRAModel.merge` adds ``ΔE`` to ``E0`` in place (the coefficients are then ``H(E0 + ΔE)``
    computed from the stored sum, the same floating-point operation as before the merge).
    """

    exponents = EMBEDDING_EXPONENTS  # hypernet-damped, sign-varying path to C (see pde_kan.transfer.rates)

    def __init__(self, base: HyperCoefficients, ranks, alpha: float, adapt_base_weight: bool,
                 generator: torch.Generator):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = base.in_features, base.out_features, base.n_basis
        self.base = base
        self.delta = TuckerDelta(self.delta_shape(base, adapt_base_weight), ranks, alpha, generator,
                                 base.embeddings.dtype, base.embeddings.device)
        self.merged = False

    @staticmethod
    def delta_shape(base, adapt_base_weight: bool) -> tuple[int, int, int]:
        return (base.out_features, base.in_features, base.embedding_dim)

    def _call_base(self, method: str, *args):
        """Run the base source's own ``method`` with its embeddings replaced by ``E0 + ΔE`` (so its chunked,
        recomputing code path is kept and ``E0 + 0`` reproduces the base bit for bit)."""
        emb = self.base.embeddings + self.delta.tensor()
        return functional_call(_SourceCall(self.base, method), {"src.embeddings": emb}, args)

    def coefficients(self):
        if self.merged:
            return self.base.coefficients()
        return self._call_base("coefficients")

    def contract(self, features):
        if self.merged:
            return self.base.contract(features)
        return self._call_base("contract", features)

    def param_groups(self):
        return {"default": [p for p in self.delta.parameters() if p.requires_grad]}


class _SourceCall(nn.Module):
    """``forward(*args) = getattr(src, method)(*args)``: lets :func:`torch.func.functional_call` swap ``src``'s
    parameters for one call of any of its methods."""

    def __init__(self, src: nn.Module, method: str):
        super().__init__()
        self.src, self.method = src, method

    def forward(self, *args):
        return getattr(self.src, self.method)(*args)


Adapter = Union[LoTRACoefficients, LoTRAEmbeddingCoefficients]


# --- merging (registry by base source type) ---------------------------------------------------------------
def _merge_dense(a: LoTRACoefficients) -> None:
    with torch.no_grad():
        d = a.delta.tensor()
        if a.adapt_base_weight:
            a.base.spline_weight.add_(d[..., :-1])
            a.base.base_weight.add_(d[..., -1])
        else:
            a.base.spline_weight.add_(d)


def _unmerge_dense(a: LoTRACoefficients) -> None:
    with torch.no_grad():
        d = a.delta.tensor()
        if a.adapt_base_weight:
            a.base.spline_weight.sub_(d[..., :-1])
            a.base.base_weight.sub_(d[..., -1])
        else:
            a.base.spline_weight.sub_(d)


def _merge_embeddings(a: LoTRAEmbeddingCoefficients) -> None:
    with torch.no_grad():
        a.base.embeddings.add_(a.delta.tensor())


def _unmerge_embeddings(a: LoTRAEmbeddingCoefficients) -> None:
    with torch.no_grad():
        a.base.embeddings.sub_(a.delta.tensor())


def _mode_product(core: torch.Tensor, r: torch.Tensor, mode: int) -> torch.Tensor:
    """``core x_mode r`` for ``r: (d, r_mode)``."""
    spec = ("abc,ia->ibc", "abc,ib->aic", "abc,ic->abi")[mode]
    return torch.einsum(spec, core, r)


def merged_tucker(base: TuckerCoefficients, delta: TuckerDelta, adapt_base_weight: bool) -> TuckerCoefficients:
    """An exact Tucker source for ``C0 + ΔC``: factors concatenated, core block-diagonal ``diag(G0, alpha G)``.

    Ranks add; where a sum exceeds its dimension the concatenated factor ``U = QR`` is replaced by ``Q`` and the
    core multiplied by ``R`` along that mode (still exact).
    """
    with torch.no_grad():
        m = base.n_basis
        u_b = delta.u_basis[:m] if adapt_base_weight else delta.u_basis
        factors = [torch.cat([base.u_out, delta.u_out], 1), torch.cat([base.u_in, delta.u_in], 1),
                   torch.cat([base.u_basis, u_b], 1)]
        r0, r1 = base.core.shape, delta.core.shape
        core = base.core.new_zeros(tuple(a + b for a, b in zip(r0, r1)))
        core[:r0[0], :r0[1], :r0[2]] = base.core
        core[r0[0]:, r0[1]:, r0[2]:] = delta.alpha * delta.core
        for mode in range(3):
            u = factors[mode]
            if u.shape[1] > u.shape[0]:
                q, r = torch.linalg.qr(u)
                factors[mode], core = q, _mode_product(core, r, mode)
        merged = TuckerCoefficients(base.in_features, base.out_features, m, ranks=tuple(core.shape),
                                    generator=torch.Generator().manual_seed(0), dtype=base.core.dtype,
                                    device=base.core.device)
        merged.core.copy_(core)
        for p, u in zip(merged.factors(), factors):
            p.copy_(u)
        w = base.base_weight + (delta.tensor()[..., -1] if adapt_base_weight else 0)
        merged.base_weight.copy_(w)
    merged.requires_grad_(False)
    return merged


def _merge_tucker(a: LoTRACoefficients) -> None:
    original = a.base
    a.base = merged_tucker(original, a.delta, a.adapt_base_weight)
    a._unmerged = [original]  # a plain list: the original is kept but not registered as a submodule


def _unmerge_tucker(a: LoTRACoefficients) -> None:
    a.base = a._unmerged.pop()


@dataclass(frozen=True)
class AdapterKind:
    """How one base source type is adapted and merged (``merge`` None: not mergeable)."""

    name: str
    wrapper: type
    merge: Optional[Callable[[Adapter], None]]
    unmerge: Optional[Callable[[Adapter], None]]
    why_not: str = ""


ADAPTER_KINDS: dict[type, AdapterKind] = {
    DenseCoefficients: AdapterKind("dense", LoTRACoefficients, _merge_dense, _unmerge_dense),
    TuckerCoefficients: AdapterKind("tucker", LoTRACoefficients, _merge_tucker, _unmerge_tucker),
    HyperCoefficients: AdapterKind("hyper", LoTRAEmbeddingCoefficients, _merge_embeddings, _unmerge_embeddings),
}


def adapter_kind(source: nn.Module) -> AdapterKind:
    for cls in type(source).__mro__:
        if cls in ADAPTER_KINDS:
            return ADAPTER_KINDS[cls]
    if isinstance(source, (LoTRACoefficients, LoTRAEmbeddingCoefficients)):
        raise TypeError("inject_lotra: the model already carries LoTRA adapters; call merge_and_unload() "
                        "first or inject into the original base model.")
    valid = ", ".join(c.__name__ for c in ADAPTER_KINDS)
    raise TypeError(f"inject_lotra: no LoTRA adapter for coefficient source {type(source).__name__}; supported "
                    f"sources: {valid}. Register one in pde_kan.transfer.adapter.ADAPTER_KINDS.")


# --- helpers -----------------------------------------------------------------------------------------------
def weights_hash(model: nn.Module) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``model.state_dict()`` (device independent)."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        v = v.detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def kan_layer_names(model: nn.Module) -> dict[str, int]:
    """``{"layers.i": i}`` for every KANLayer in ``model.layers``."""
    if not hasattr(model, "layers"):
        raise TypeError(f"inject_lotra: model must be a pde_kan backbone with a `layers` sequence, got "
                        f"{type(model).__name__}.")
    return {f"layers.{i}": i for i, layer in enumerate(model.layers) if isinstance(layer, KANLayer)}


def resolve_targets(model: nn.Module, targets) -> list[str]:
    """Layer names selected by ``targets`` (``"all"``, indices, fnmatch patterns on ``layers.i``), in order."""
    names = kan_layer_names(model)
    owner = type(model).__name__
    if not names:
        raise TypeError(f"inject_lotra: {owner} has no KAN layers to adapt (LoTRA adapts KAN, Slim KAN and MetaKAN "
                        f"coefficient tensors).")
    n_layers = len(model.layers)
    chosen: set[str] = set()
    for t in targets:
        if isinstance(t, str) and t.strip().lstrip("-").isdigit():
            t = int(t)
        if isinstance(t, int):
            i = t + n_layers if t < 0 else t
            hit = [f"layers.{i}"] if f"layers.{i}" in names else []
        elif t == "all":
            hit = list(names)
        else:
            hit = [n for n in names if fnmatch.fnmatchcase(n, t)]
        if not hit:
            raise ValueError(f"LoTRAConfig: unknown target {t!r}: it matches no KAN layer of {owner}; valid layer "
                             f"names: {', '.join(map(repr, names))} (or 'all', patterns like 'layers.*', indices "
                             f"like -1).")
        chosen.update(hit)
    return [n for n in names if n in chosen]


def ranks_at(rho: float, shape) -> tuple[int, int, int]:
    """``(ceil(rho n_o), ceil(rho n_i), ceil(rho^{1/2} m))`` clipped to ``[1, dim]`` for a delta of ``shape``.

    The third mode (``n_basis [+1]``, or MetaKAN's embedding size) is short and its factor costs ``m r_b``
    parameters only, so it keeps a larger share of its dimension (``rho^{1/2}``) than the two width modes.
    """
    fracs = (rho, rho, math.sqrt(rho))
    return tuple(min(d, max(1, math.ceil(f * d - 1e-9))) for f, d in zip(fracs, shape))


def auto_ranks(shapes, budget: float, full: Optional[int] = None) -> list[tuple[int, int, int]]:
    """Ranks for ``LoTRAConfig(ranks="auto")``: one fraction ``rho`` for every layer, the largest for which the
    deltas' parameters (:func:`lotra_parameter_count`) stay within ``budget`` times ``full``, the parameters full
    fine-tuning trains in the adapted layers. Rank 1 everywhere when even that exceeds it.

    Args:
        shapes: the delta shapes ``(n_o, n_i, m)`` of the adapted layers.
        budget: fraction in (0, 1].
        full: full fine-tuning's parameter count of those layers (default: the entries of the delta shapes,
            which is that count for KAN; Slim KAN and MetaKAN layers hold fewer parameters than entries).
    """
    shapes = [tuple(s) for s in shapes]
    full = sum(a * b * c for a, b, c in shapes) if full is None else full

    def cost(rho):
        return sum(lotra_parameter_count(s, ranks_at(rho, s)) for s in shapes)

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
    """Ranks of one layer's delta: the triple (clipped unless ``strict_ranks``) or the fraction of each dim
    (``"auto"`` is resolved over all layers at once by :func:`auto_ranks`)."""
    if isinstance(config.ranks, float):
        return tuple(max(1, round(config.ranks * d)) for d in shape)
    out = []
    for name, r, d in zip(("r_out", "r_in", "r_basis"), config.ranks, shape):
        if r > d:
            if config.strict_ranks:
                raise ValueError(f"LoTRAConfig: ranks {name}={r} exceeds the dimension {d} of layer {layer!r} "
                                 f"(delta shape {tuple(shape)}); lower the rank to at most {d} or set "
                                 f"strict_ranks=False to clip ranks to each layer's dimensions.")
            r = d
        out.append(r)
    return tuple(out)


def _unique(params, seen: set[int]):
    for p in params:
        if id(p) not in seen:
            seen.add(id(p))
            yield p


# --- the adapted model -------------------------------------------------------------------------------------
class LoTRAModel(nn.Module):
    """A backbone with LoTRA adapters: behaves like the backbone (``layers``, ``check``, ``in_features``,
    ``config``, ``param_groups``), so :func:`pde_kan.solvers.solve` and the forward jets run on it unchanged.

    Build it with :func:`inject_lotra`. The base model is adapted in place (its targeted layers'
    ``coefficients`` are replaced by wrappers) and frozen; :meth:`merge_and_unload` gives it back.

    Attributes:
        base_model: the wrapped backbone.
        lotra_config: the :class:`LoTRAConfig`.
        base_hash: SHA-256 of the base weights at injection (checked by :func:`load_adapter`).
    """

    name = "lotra"

    def __init__(self, base_model: nn.Module, config: Optional[LoTRAConfig] = None):
        super().__init__()
        config = LoTRAConfig() if config is None else config
        if not isinstance(config, LoTRAConfig):
            raise TypeError(f"inject_lotra: config must be a LoTRAConfig, got {type(config).__name__}.")
        if isinstance(base_model, LoTRAModel):
            raise TypeError("inject_lotra: the model is already a LoTRAModel; call merge_and_unload() first or "
                            "inject into the original base model.")
        targets = resolve_targets(base_model, config.targets)
        self.lotra_config = config
        self.base_hash = weights_hash(base_model)
        self._requires_grad = {n: p.requires_grad for n, p in base_model.named_parameters()}
        self._unloaded = False
        self._merged = False
        kinds = {n: adapter_kind(base_model.layers[i].source) for n, i in
                 ((n, int(n.split(".")[1])) for n in targets)}
        self.hypernet_mode = config.metakan_mode == "hypernet" and all(k.name == "hyper" for k in kinds.values())
        if config.metakan_mode == "hypernet" and not self.hypernet_mode:
            raise ValueError(f"LoTRAConfig: metakan_mode='hypernet' needs MetaKAN layers, but {type(base_model).__name__}"
                             f" layers are {sorted({k.name for k in kinds.values()})}; use "
                             f"metakan_mode='embeddings' (the default).")
        base_model.requires_grad_(False)
        self.base_model = base_model
        self.target_names = targets
        self.layer_ranks: dict[str, tuple[int, int, int]] = {}
        g = torch.Generator().manual_seed(config.seed)
        shapes = {name: kinds[name].wrapper.delta_shape(base_model.layers[int(name.split(".")[1])].source,
                                                        config.adapt_base_weight) for name in targets}
        seen: set[int] = set()  # a hypernet shared between layers counts once
        if config.ranks == "auto" and not self.hypernet_mode:
            full = sum(p.numel() for n in targets
                       for p in _unique(base_model.layers[int(n.split(".")[1])].parameters(), seen))
            chosen = dict(zip(targets, auto_ranks([shapes[n] for n in targets], config.rank_budget, full)))
        else:
            chosen = {}
        for name in targets:
            layer = base_model.layers[int(name.split(".")[1])]
            kind = kinds[name]
            if self.hypernet_mode:
                layer.source.hypernet.requires_grad_(True)
                continue
            shape = shapes[name]
            ranks = chosen[name] if name in chosen else layer_ranks(config, shape, name)
            if isinstance(config.ranks, tuple) and ranks != config.ranks:
                log.info("LoTRA: ranks clipped to %s for %s (delta shape %s)", ranks, name, shape)
            self.layer_ranks[name] = ranks
            layer.source = kind.wrapper(layer.source, ranks, config.alpha, config.adapt_base_weight, g)

    # --- backbone interface ------------------------------------------------------------------------------
    @property
    def layers(self) -> nn.ModuleList:
        return self.base_model.layers

    @property
    def in_features(self) -> int:
        return self.base_model.in_features

    @property
    def out_features(self) -> int:
        return self.base_model.out_features

    @property
    def widths(self) -> list[int]:
        return list(self.base_model.widths)

    @property
    def dtype(self) -> torch.dtype:
        return self.base_model.dtype

    @property
    def config(self) -> dict[str, Any]:
        """JSON description ``{"adapter": "lotra", "base": base config, "lotra": LoTRAConfig fields}``.

        It has no ``"backbone"`` key on purpose: :func:`pde_kan.solvers.load_solution` then keeps the file's
        state without rebuilding; :func:`pde_kan.transfer.load_transfer_solution` rebuilds the adapted model.
        """
        return {"adapter": "lotra", "base": self.base_model.config, "lotra": self.lotra_config.to_dict()}

    def check(self, x: torch.Tensor) -> torch.Tensor:
        return self.base_model.check(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._alive("forward")
        return self.base_model(x)

    def n_parameters(self, trainable_only: bool = True) -> int:
        return n_parameters(self, trainable_only)

    # --- adapters ----------------------------------------------------------------------------------------
    def _alive(self, what: str) -> None:
        if self._unloaded:
            raise RuntimeError(f"LoTRAModel.{what}: the adapters were removed by merge_and_unload(); use the "
                               f"backbone it returned.")

    def adapters(self) -> dict[str, Adapter]:
        """``{layer name: wrapper}`` for every adapted layer (empty in MetaKAN hypernet mode)."""
        if self.hypernet_mode:
            return {}
        return {n: self.layers[int(n.split(".")[1])].source for n in self.target_names}

    def _layer_name(self, layer) -> str:
        if isinstance(layer, KANLayer):
            for n in self.target_names:
                if self.layers[int(n.split(".")[1])] is layer:
                    return n
            raise ValueError("LoTRAModel: this KANLayer is not one of the model's adapted layers.")
        if isinstance(layer, int) and not isinstance(layer, bool):
            layer = f"layers.{layer + len(self.layers) if layer < 0 else layer}"
        if layer not in self.target_names:
            raise ValueError(f"LoTRAModel: layer {layer!r} has no adapter; adapted layers: "
                             f"{', '.join(map(repr, self.target_names))}.")
        return layer

    def get_delta(self, layer) -> torch.Tensor:
        """The trained delta of one layer (index, ``"layers.i"`` or the KANLayer); see :func:`get_delta`."""
        self._alive("get_delta")
        name = self._layer_name(layer)
        if self.hypernet_mode:
            raise RuntimeError("LoTRAModel.get_delta: MetaKAN hypernet mode trains the hypernets in place and "
                               "has no delta tensor; use metakan_mode='embeddings' for a Tucker delta.")
        return get_delta(self.layers[int(name.split(".")[1])])

    @property
    def merged(self) -> bool:
        return self._merged

    def _mergeable(self, what: str) -> None:
        self._alive(what)
        if self.hypernet_mode and what != "merge_and_unload":
            raise RuntimeError(f"LoTRAModel.{what}: MetaKAN hypernet mode trains the hypernets in place; there is "
                               f"no separate delta to merge or unmerge (the tuned model is model.base_model).")
        for name, a in self.adapters().items():
            kind = adapter_kind(a.base)
            if kind.merge is None:
                raise RuntimeError(f"LoTRAModel.{what}: layer {name!r} of {type(self.base_model).__name__} cannot "
                                   f"be merged exactly: {kind.why_not}. Keep the adapter in place (save_adapter "
                                   f"/ load_adapter) to use the tuned model.")

    def merge(self) -> "LoTRAModel":
        """Fold every delta into its base source (KAN: ``C += ΔC``; Slim KAN: the ranks add; MetaKAN:
        ``E += ΔE`` on the embeddings). Raises RuntimeError when already merged or in MetaKAN hypernet mode."""
        self._mergeable("merge")
        if self._merged:
            raise RuntimeError("LoTRAModel.merge: the adapters are already merged; call unmerge() before merging "
                               "again.")
        for a in self.adapters().values():
            adapter_kind(a.base).merge(a)
            a.merged = True
        self._merged = True
        return self

    def unmerge(self) -> "LoTRAModel":
        """Undo :meth:`merge` (KAN, MetaKAN: subtract the delta again; Slim KAN: restore the original source)."""
        self._mergeable("unmerge")
        if not self._merged:
            raise RuntimeError("LoTRAModel.unmerge: the adapters are not merged; call merge() first.")
        for a in self.adapters().values():
            a.merged = False
            adapter_kind(a.base).unmerge(a)
        self._merged = False
        return self

    def merge_and_unload(self) -> nn.Module:
        """Merge, put the base sources back into the layers, restore the base's ``requires_grad`` flags and
        return the plain backbone (KAN, Slim KAN, MetaKAN). For Slim KAN the backbone's ``ranks`` config is
        updated when one triple describes every layer's summed ranks; otherwise a warning is logged (the module
        works, but ``from_config`` cannot rebuild it). In MetaKAN hypernet mode the hypernets were trained in
        place: nothing is merged and the base backbone is returned with its flags restored."""
        self._mergeable("merge_and_unload")
        if not self._merged and not self.hypernet_mode:
            self.merge()
        for name, a in self.adapters().items():
            self.layers[int(name.split(".")[1])].source = a.base
        base = self.base_model
        for n, p in base.named_parameters():
            p.requires_grad_(self._requires_grad.get(n, True))
        _update_slimkan_ranks(base)
        self._unloaded = True
        return base

    # --- optimisation ------------------------------------------------------------------------------------
    def layer_rates(self, lr: float) -> dict[str, dict[str, float]]:
        """``{layer name: {component: rate}}`` from the configured rule."""
        c = self.lotra_config
        out = {}
        for name, a in self.adapters().items():
            out[name] = component_rates(c.lr_rule, lr, a.out_features, a.in_features, ratios=c.lr_ratios,
                                        reference_width=c.reference_width, exponents=a.exponents,
                                        ranks=a.delta.ranks, reference_ranks=c.reference_ranks)
        return out

    @staticmethod
    def group_name(component: str, layer: str) -> str:
        """Parameter-group name of one component of one layer, e.g. ``"lotra_core.1"`` for ``layers.1``."""
        return f"lotra_{component}.{layer.split('.')[1]}"

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters by group: ``{name: [params]}`` (names ``"lotra_core.i"``, ``"lotra_out.i"``,
        ``"lotra_in.i"``, ``"lotra_basis.i"`` per adapted layer ``i``, or ``"hypernet"`` in MetaKAN hypernet mode);
        pair it with ``TrainConfig(group_lr=model.group_lr(lr))``, or build torch optimiser groups with the rule's
        rates by ``pde_kan.nn.optimizer_groups(model.param_groups(), lr, model.group_lr(lr))``.
        """
        self._alive("param_groups")
        groups: dict[str, list[nn.Parameter]] = {}
        if self.hypernet_mode:
            seen: set[int] = set()
            for p in self.base_model.parameters():
                if p.requires_grad and id(p) not in seen:
                    seen.add(id(p))
                    groups.setdefault("hypernet", []).append(p)
        else:
            for name, a in self.adapters().items():
                for comp, p in a.delta.components().items():
                    if p.requires_grad:
                        groups[self.group_name(comp, name)] = [p]
        return groups

    def group_lr(self, lr: float) -> dict[str, float]:
        """``{group name: learning rate}`` for ``TrainConfig(group_lr=...)`` at base rate ``lr``."""
        lr = positive_float("lr", lr, owner="LoTRAModel.group_lr")
        if self.hypernet_mode:
            return {"hypernet": lr}
        return {self.group_name(comp, name): rate for name, rates in self.layer_rates(lr).items()
                for comp, rate in rates.items()}

    def trainable_summary(self, lr: Optional[float] = None) -> dict[str, Any]:
        """Per-layer shapes, ranks, parameter counts (and rates at ``lr``), totals and the trainable fraction."""
        rows = []
        rates = self.layer_rates(lr) if lr is not None else {}
        for name, a in self.adapters().items():
            row = {"layer": name, "kind": adapter_kind(a.base).name,
                   "delta_shape": list(a.delta.shape), "ranks": list(a.delta.ranks),
                   "parameters": lotra_parameter_count(a.delta.shape, a.delta.ranks)}
            if name in rates:
                row["rates"] = rates[name]
            rows.append(row)
        trainable = self.n_parameters(trainable_only=True)
        base = sum(p.numel() for n, p in self.base_model.named_parameters() if ".delta." not in n)
        return {"method": "lotra-hypernet" if self.hypernet_mode else "lotra",
                "backbone": getattr(self.base_model, "name", type(self.base_model).__name__), "layers": rows,
                "trainable_parameters": trainable, "base_parameters": base,
                "trainable_fraction": trainable / base if base else math.nan}

    # --- persistence -------------------------------------------------------------------------------------
    def adapter_state(self) -> dict[str, torch.Tensor]:
        """Adapter tensors only: ``{"layers.i.core": ..., "layers.i.u_out": ...}`` (hypernet mode: the targeted
        hypernets' state ``{"layers.i.hypernet.fc1.weight": ...}``)."""
        self._alive("adapter_state")
        if self._merged:
            raise RuntimeError("LoTRAModel: unmerge() before saving the adapter (merged base weights are not part "
                               "of the adapter).")
        out = {}
        if self.hypernet_mode:
            for name in self.target_names:
                hn = self.layers[int(name.split(".")[1])].source.hypernet
                for k, v in hn.state_dict().items():
                    out[f"{name}.hypernet.{k}"] = v.detach().cpu().clone()
            return out
        for name, a in self.adapters().items():
            for k, v in a.delta.state_dict().items():
                out[f"{name}.{k}"] = v.detach().cpu().clone()
        return out

    def load_adapter_state(self, state: dict[str, torch.Tensor]) -> None:
        expected = self.adapter_state()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        bad = sorted(k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape))
        if missing or unexpected or bad:
            raise ValueError(f"LoTRA adapter does not fit this model: missing {missing[:4]}, unexpected "
                             f"{unexpected[:4]}, wrong shape {bad[:4]}; load it onto the base model and config "
                             f"it was saved from.")
        with torch.no_grad():
            for name in self.target_names:
                layer = self.layers[int(name.split(".")[1])]
                module = layer.source.hypernet if self.hypernet_mode else layer.source.delta
                prefix = f"{name}.hypernet." if self.hypernet_mode else f"{name}."
                for k, p in module.state_dict(keep_vars=True).items():
                    p.copy_(state[prefix + k].to(dtype=p.dtype, device=p.device))

    def save_adapter(self, path) -> Path:
        """Write the adapter alone into directory ``path``: ``adapter.pt`` (the tensors packed into one,
        :func:`pack_tensors`) and ``adapter_config.json``
        (LoTRAConfig, base config, base-weights hash, tensors hash), each atomically. Returns ``path``."""
        path = Path(path)
        state = self.adapter_state()
        tensors = path / TENSORS_FILE
        packed = pack_tensors(state)
        atomic_write(tensors, lambda tmp: torch.save(packed, tmp))
        meta = {"format": ADAPTER_FORMAT, "format_version": ADAPTER_VERSION, "lotra": self.lotra_config.to_dict(),
                "base_config": self.base_model.config, "base_hash": self.base_hash,
                "tensors_sha256": hashlib.sha256(tensors.read_bytes()).hexdigest(),
                "layers": {n: list(r) for n, r in self.layer_ranks.items()}}
        atomic_write(path / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
        return path

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


# --- module-level verbs ------------------------------------------------------------------------------------
def inject_lotra(model: nn.Module, config: Optional[LoTRAConfig] = None) -> LoTRAModel:
    """Freeze ``model`` and wrap its targeted layers' coefficient sources with zero-initialised Tucker deltas.

    The model is adapted in place (as peft does); pass ``copy.deepcopy(model)`` to keep the original.

    Args:
        model: a KAN, Slim KAN or MetaKAN backbone.
        config: :class:`LoTRAConfig` (default ranks (4, 4, 3) on every layer, clipped to each layer).

    Returns:
        The :class:`LoTRAModel`; its outputs equal ``model``'s bit for bit until the first optimiser step.
    """
    return LoTRAModel(model, config)


def get_delta(layer: KANLayer) -> torch.Tensor:
    """The trained delta of an adapted layer: ``ΔC (out, in, n_basis)``; ``(out, in, n_basis + 1)`` with
    ``adapt_base_weight`` (``Δw`` last); ``ΔE (out, in, embedding_dim)`` for MetaKAN embeddings."""
    src = getattr(layer, "source", None)
    if not isinstance(src, (LoTRACoefficients, LoTRAEmbeddingCoefficients)):
        raise TypeError(f"get_delta: layer must be a KANLayer carrying a LoTRA adapter, got "
                        f"{type(layer).__name__} with source {type(src).__name__}.")
    return src.delta.tensor()


def read_adapter(path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(meta, tensors)`` of an adapter directory; missing, foreign or altered files raise naming the path."""
    path = Path(path)
    cfg, tensors = path / CONFIG_FILE, path / TENSORS_FILE
    for f in (cfg, tensors):
        if not f.is_file():
            raise FileNotFoundError(f"LoTRA adapter {str(path)!r}: {f.name} is missing; pass a directory written by "
                                    f"LoTRAModel.save_adapter.")
    try:
        meta = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"LoTRA adapter {str(path)!r}: {CONFIG_FILE} is not valid JSON ({e}).") from None
    if not isinstance(meta, dict) or meta.get("format") != ADAPTER_FORMAT:
        raise ValueError(f"LoTRA adapter {str(path)!r}: {CONFIG_FILE} is not a pde_kan LoTRA adapter (format "
                         f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected {ADAPTER_FORMAT!r}).")
    if hashlib.sha256(tensors.read_bytes()).hexdigest() != meta.get("tensors_sha256"):
        raise ValueError(f"LoTRA adapter {str(path)!r}: {TENSORS_FILE} does not match the hash in {CONFIG_FILE} "
                         f"(altered or from another save); save the adapter again.")
    state = torch.load(tensors, map_location="cpu", weights_only=True)
    return meta, unpack_tensors(state) if meta.get("format_version", 1) >= 2 else state


def pack_tensors(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``{"layout": [[name, shape], ...], "flat": 1-D tensor}``: one tensor in the file instead of one per entry
    (``torch.save`` spends about half a kilobyte per tensor, which dominates an adapter of a small model)."""
    layout = [[name, list(t.shape)] for name, t in state.items()]
    dtypes = {t.dtype for t in state.values()}
    if len(dtypes) > 1:
        raise ValueError(f"pack_tensors: adapter tensors must share one dtype, got {sorted(map(str, dtypes))}.")
    flat = torch.cat([t.reshape(-1) for t in state.values()]) if state else torch.zeros(0)
    return {"layout": layout, "flat": flat}


def unpack_tensors(packed: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`pack_tensors`."""
    out, offset = {}, 0
    for name, shape in packed["layout"]:
        size = math.prod(shape)
        out[name] = packed["flat"][offset:offset + size].reshape(shape).clone()
        offset += size
    return out


def load_adapter(model: nn.Module, path) -> LoTRAModel:
    """Put a saved adapter back on its base model.

    Args:
        model: the base backbone the adapter was trained on (it is adapted in place), or a :class:`LoTRAModel`
            injected on it with the same config.
        path: directory written by :meth:`LoTRAModel.save_adapter`.

    Raises:
        ValueError: the base weights differ from the ones the adapter was trained on (hash mismatch), or the
            adapter does not fit the model.
    """
    meta, state = read_adapter(path)
    if isinstance(model, LoTRAModel):
        found, adapted = model.base_hash, model
    else:
        found, adapted = weights_hash(model), None
    if found != meta["base_hash"]:
        raise ValueError(f"load_adapter: the adapter in {str(path)!r} was trained on different base weights (base "
                         f"hash {meta['base_hash'][:12]}..., this model {found[:12]}...); load it onto the base "
                         f"model it was saved from (same checkpoint, dtype and architecture).")
    if adapted is None:
        adapted = inject_lotra(model, LoTRAConfig.from_dict(meta["lotra"]))
    adapted.load_adapter_state(state)
    return adapted
