"""LoTRA wrappers of a MetaKAN layer's :class:`~pde_kan.nn.HyperCoefficients` (see :mod:`pde_kan.transfer.layers`
for the wrapper interface and the table of kinds): :class:`EmbeddingLoTRA`, a Tucker delta on the per-edge
embeddings (plus a low-rank delta on a free base weight), and :class:`HypernetTuning`, the hypernet trained in
place.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.func import functional_call

from ..nn import CoefficientSource, HyperCoefficients
from ..nn.tucker import _orthonormal
from .layers import LoTRALayer, zero_delta
from .rates import EMBEDDING_EXPONENTS


class EmbeddingLoTRA(LoTRALayer):
    """MetaKAN: ``[C, w] = H(E0 + ΔE) * scale`` with a Tucker delta ``ΔE`` over ``(out, in, e)``.

    The hypernet and the embeddings ``E0`` are frozen. The delta acts on the stored embeddings, so merging is
    exact: ``E0 += ΔE`` in place (the coefficients are then ``H(E0 + ΔE)`` computed from the stored sum, the same
    floating-point operation as before the merge). With ``adapt_base_weight`` a ``"free"`` base weight gets a
    rank-``r`` delta ``ΔW = alpha * B_out B_in^T`` (``r = min(r_out, r_in)``; ``B_out`` zero at injection,
    ``B_in`` orthonormal; components ``"base_out"`` / ``"base_in"`` at the ``"core"`` / ``"in"`` rates), merged
    as ``W += ΔW``. A generated ``w`` changes with the embeddings already; a ``"lowrank"`` one is not adapted (its
    merge would change the base's rank).
    """

    kind = "hyper"
    exponents = EMBEDDING_EXPONENTS  # hypernet-damped, sign-varying path to C (see pde_kan.transfer.rates)

    def __init__(self, base: HyperCoefficients, ranks, alpha: float, adapt_base_weight: bool,
                 generator: torch.Generator):
        super().__init__(base)
        self.tucker = zero_delta(self.delta_shape(base, adapt_base_weight), ranks, generator, base.embeddings.dtype,
                                 base.embeddings.device)
        self.alpha = float(alpha)
        self._saved: list[torch.Tensor] = []
        self.base_out: Optional[nn.Parameter] = None
        self.base_in: Optional[nn.Parameter] = None
        if adapt_base_weight and base.base_mode == "free":
            r = min(self.tucker.ranks[0], self.tucker.ranks[1])
            like = base.base_weight
            self.base_out = nn.Parameter(torch.zeros(base.out_features, r, dtype=like.dtype, device=like.device))
            q, _ = _orthonormal(base.in_features, r, generator, torch.float64)
            self.base_in = nn.Parameter(q.to(dtype=like.dtype, device=like.device))

    @classmethod
    def delta_shape(cls, base, adapt_base_weight: bool) -> tuple[int, int, int]:
        return (base.out_features, base.in_features, base.embedding_dim)

    def _call_base(self, method: str, *args):
        """Run the base source's own ``method`` with its embeddings replaced by ``E0 + ΔE`` (so its chunked,
        recomputing code path is kept and ``E0 + 0`` reproduces the base bit for bit)."""
        emb = self.base.embeddings + self.delta()
        return functional_call(_SourceCall(self.base, method), {"src.embeddings": emb}, args)

    @classmethod
    def extra_parameter_count(cls, base, ranks, adapt_base_weight: bool) -> int:
        if adapt_base_weight and base.base_mode == "free":
            return (base.out_features + base.in_features) * min(ranks[0], ranks[1])
        return 0

    def base_delta(self) -> Optional[torch.Tensor]:
        """``ΔW (out, in)`` of a free base weight, or None when it is not adapted."""
        return None if self.base_out is None else self.alpha * (self.base_out @ self.base_in.T)

    def components(self) -> dict[str, list[nn.Parameter]]:
        comps = super().components()
        if self.base_out is not None:
            comps.update(base_out=[self.base_out], base_in=[self.base_in])
        return comps

    def rates(self, lr: float, config) -> dict[str, float]:
        rates = super().rates(lr, config)
        if self.base_out is not None:  # the zero-started factor like the core, the orthonormal one like U_in
            rates.update(base_out=rates["core"], base_in=rates["in"])
        return rates

    def adapter_tensors(self) -> dict[str, torch.Tensor]:
        tensors = super().adapter_tensors()
        if self.base_out is not None:
            tensors.update(base_out=self.base_out, base_in=self.base_in)
        return tensors

    def coefficients(self):
        if self.merged:
            return self.base.coefficients()
        c, w = self._call_base("coefficients")
        return (c, w) if self.base_out is None else (c, w + self.base_delta())

    def contract(self, features):
        if self.merged:
            return self.base.contract(features)
        y = self._call_base("contract", features)
        if self.base_out is None:
            return y
        # + silu(x) ΔW^T, through the rank-r factors (exactly y while B_out is zero)
        return y + self.alpha * ((features[..., 0] @ self.base_in) @ self.base_out.T)

    def _merge(self) -> None:
        with torch.no_grad():
            self._saved = [self.base.embeddings.clone()]
            self.base.embeddings.add_(self.delta())
            if self.base_out is not None:
                self._saved.append(self.base.base_weight.clone())
                self.base.base_weight.add_(self.base_delta())

    def _unmerge(self) -> None:
        with torch.no_grad():
            if self.base_out is not None:
                self.base.base_weight.copy_(self._saved.pop())
            self.base.embeddings.copy_(self._saved.pop())


class HypernetTuning(LoTRALayer):
    """MetaKAN, ``LoTRAConfig(metakan_mode="hypernet")``: no delta; the layer's hypernet is trained in place and
    the embeddings stay frozen (cheapest in parameters). The forward pass is the base source's own.

    There is nothing to merge: :meth:`unload` with ``merge=True`` returns the tuned base; with ``merge=False`` it
    restores the hypernet's weights from injection time.
    """

    kind = "hypernet"
    why_not_mergeable = ("MetaKAN hypernet mode trains the hypernets in place; there is no separate delta to merge "
                         "or unmerge (merge_and_unload() returns the tuned base model).")

    def __init__(self, base: HyperCoefficients):
        super().__init__(base)
        base.hypernet.requires_grad_(True)
        self._initial = {k: v.detach().clone() for k, v in base.hypernet.state_dict().items()}

    @classmethod
    def wrap(cls, base, config, ranks, generator) -> "HypernetTuning":
        return cls(base)

    def components(self) -> dict[str, list[nn.Parameter]]:
        return {"hypernet": list(self.base.hypernet.parameters())}

    def group_name(self, component: str, layer: str) -> str:
        return "hypernet"  # one group: a hypernet may be shared between layers

    def rates(self, lr: float, config) -> dict[str, float]:
        return {"hypernet": lr}

    def adapter_tensors(self) -> dict[str, torch.Tensor]:
        return {f"hypernet.{k}": v for k, v in self.base.hypernet.state_dict(keep_vars=True).items()}

    def param_groups(self):
        return {"hypernet": [p for p in self.base.hypernet.parameters() if p.requires_grad]}

    def delta(self) -> torch.Tensor:
        raise RuntimeError("HypernetTuning.delta: MetaKAN hypernet mode trains the hypernets in place and has no "
                           "delta tensor; use metakan_mode='embeddings' for a Tucker delta.")

    def unload(self, merge: bool) -> CoefficientSource:
        if not merge:
            with torch.no_grad():
                for k, v in self.base.hypernet.state_dict(keep_vars=True).items():
                    v.copy_(self._initial[k])
        return self.base

    # the base source's own methods, so every path (chunked, column-wise) is the base's, bit for bit
    def coefficients(self):
        return self.base.coefficients()

    def packed(self):
        return self.base.packed()

    def packed_columns(self, index):
        return self.base.packed_columns(index)

    def contract(self, features):
        return self.base.contract(features)


class _SourceCall(nn.Module):
    """``forward(*args) = getattr(src, method)(*args)``: lets :func:`torch.func.functional_call` swap ``src``'s
    parameters for one call of any of its methods."""

    def __init__(self, src: nn.Module, method: str):
        super().__init__()
        self.src, self.method = src, method

    def forward(self, *args):
        return getattr(self.src, self.method)(*args)
