"""LoTRA layer wrappers: one class per kind of adapted coefficient source, each owning ``delta()``, ``merge()``,
``unmerge()`` and ``unload()`` (peft's tuners/lora layout).

A wrapper is a :class:`~pde_kan.nn.CoefficientSource`, so the one ``KANLayer`` and the forward jets
(``layer.source.coefficients()``) run on an adapted layer unchanged. The kinds:

=========================  =====================  ==================================  ==============================
wrapper (``kind``)         base source            trains                              merge
=========================  =====================  ==================================  ==============================
:class:`DenseLoTRA`        ``DenseCoefficients``  Tucker delta over                   in place: ``C += ΔC``
(``"dense"``)              (KAN)                  ``(out, in, n_basis [+1 for w])``
:class:`TuckerLoTRA`       ``TuckerCoefficients`` the same delta                      ranks add: factors concatenated,
(``"tucker"``)             (Slim KAN)                                                 core block diagonal
:class:`EmbeddingLoTRA` ¹  ``HyperCoefficients``  Tucker delta over the embeddings    in place: ``E += ΔE``
(``"hyper"``)              (MetaKAN)              ``(out, in, e)``, hypernet frozen
:class:`HypernetTuning` ¹  ``HyperCoefficients``  the layer's hypernet itself,        nothing to merge (trained in
(``"hypernet"``)           (MetaKAN)              embeddings frozen                   place); ``unload`` restores it
=========================  =====================  ==================================  ==============================

The delta's core starts at exactly zero, so an adapted model reproduces its base bit for bit until the first
step, and at step 0 only the core receives a gradient. ``unmerge()`` restores the base tensors bit for bit: the
in-place kinds keep a copy of the tensors they changed while merged (``C + ΔC - ΔC`` is not ``C`` in floating
point), Slim KAN keeps its original source. The two MetaKAN kinds live in :mod:`pde_kan.transfer.metakan_layers`.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from ..nn import CoefficientSource, Tucker, TuckerCoefficients
from .rates import DENSE_EXPONENTS, component_rates


# --- the Tucker delta --------------------------------------------------------------------------------------
def lotra_parameter_count(shape, ranks) -> int:
    """Parameters of one Tucker delta: ``r_o r_i r_b + n_o r_o + n_i r_i + m r_b``."""
    (d1, d2, d3), (r1, r2, r3) = shape, ranks
    return r1 * r2 * r3 + d1 * r1 + d2 * r2 + d3 * r3


def zero_delta(shape, ranks, generator: torch.Generator, dtype, device) -> Tucker:
    """The delta's :class:`~pde_kan.nn.Tucker`: zero core, orthonormal factors drawn in float64 from
    ``generator`` (out, in, basis), then cast to ``dtype``."""
    return Tucker(shape, ranks, init="zero_core", generator=generator, dtype=dtype, device=device,
                  init_dtype=torch.float64, owner="LoTRA")


def _contract(t: Tucker, feats: torch.Tensor) -> torch.Tensor:
    """``feats (N, d2, d3)`` -> ``(N, d1) = sum_{i,m} T[:, i, m] feats[:, i, m]`` without forming ``T``.

    The same contraction as ``Tucker.forward`` summed in LoTRA's own order (basis, in, then the core over both),
    kept so that LoTRA's forward pass and training runs stay bit for bit what they were (``Tucker.forward`` sums
    the core's two modes in the other order, which changes the last bits)."""
    z = torch.einsum("nim,mc->nic", feats, t.u_basis)
    z = torch.einsum("nic,ib->nbc", z, t.u_in)
    z = torch.einsum("nbc,abc->na", z, t.core)
    return z @ t.u_out.T


# --- the wrappers ------------------------------------------------------------------------------------------
class LoTRALayer(CoefficientSource):
    """A frozen base source plus what its adapter trains. Subclasses set :attr:`kind` and implement the forward
    pass, :meth:`delta` and :meth:`_merge` / :meth:`_unmerge` (or set :attr:`why_not_mergeable`).

    Attributes:
        base: the wrapped source (frozen; changed only while merged).
        tucker: the delta's :class:`~pde_kan.nn.Tucker` ``G x1 U_out x2 U_in x3 U_basis`` (None for kinds without
            a delta); the delta is ``alpha`` times it.
        alpha: the delta's fixed scale.
        merged: whether the delta is folded into ``base``.
    """

    kind = ""
    #: width exponents of the "lotra" rates (see pde_kan.transfer.rates)
    exponents = DENSE_EXPONENTS
    #: non-empty: why merge() / unmerge() are refused for this kind
    why_not_mergeable = ""

    def __init__(self, base: CoefficientSource):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = base.in_features, base.out_features, base.n_basis
        self.base = base
        self.tucker: Optional[Tucker] = None
        self.alpha = 1.0
        self.merged = False

    @classmethod
    def delta_shape(cls, base, adapt_base_weight: bool) -> Optional[tuple[int, int, int]]:
        """Shape of the delta this kind puts on ``base`` (None: no delta, no ranks to choose)."""
        return None

    @classmethod
    def extra_parameter_count(cls, base, ranks, adapt_base_weight: bool) -> int:
        """Parameters this kind trains besides the Tucker delta at ``ranks`` (counted by the rank budget)."""
        return 0

    @classmethod
    def wrap(cls, base: CoefficientSource, config, ranks, generator: torch.Generator) -> "LoTRALayer":
        """The wrapper for ``base`` under ``config`` (a :class:`LoTRAConfig`); factors drawn from ``generator``."""
        return cls(base, ranks, config.alpha, config.adapt_base_weight, generator)

    # --- what is trained, under which group names and rates ----------------------------------------------
    def components(self) -> dict[str, list[nn.Parameter]]:
        """``{component: parameters}`` the adapter trains (``core``, ``out``, ``in``, ``basis`` for a delta)."""
        t = self.tucker
        return {"core": [t.core], "out": [t.u_out], "in": [t.u_in], "basis": [t.u_basis]}

    def group_name(self, component: str, layer: str) -> str:
        """Optimiser-group name of one component, e.g. ``"lotra_core.1"`` for layer ``"layers.1"``."""
        return f"lotra_{component}.{layer.removeprefix('layers.')}"

    def rates(self, lr: float, config) -> dict[str, float]:
        """``{component: learning rate}`` under ``config.lr_rule`` (a :class:`LoTRAConfig`) at base rate ``lr``."""
        return component_rates(config.lr_rule, lr, self.out_features, self.in_features, ratios=config.lr_ratios,
                               reference_width=config.reference_width, exponents=self.exponents,
                               ranks=self.tucker.ranks, reference_ranks=config.reference_ranks)

    def adapter_tensors(self) -> dict[str, torch.Tensor]:
        """The tensors saved as this layer's adapter, by name (``core``, ``u_out``, ``u_in``, ``u_basis``)."""
        t = self.tucker
        return {"core": t.core, "u_out": t.u_out, "u_in": t.u_in, "u_basis": t.u_basis}

    def param_groups(self):
        return {"default": [p for ps in self.components().values() for p in ps if p.requires_grad]}

    # --- delta, merge, unmerge, unload -------------------------------------------------------------------
    def delta(self) -> torch.Tensor:
        """The trained delta tensor (its shape is :meth:`delta_shape`)."""
        return self.alpha * self.tucker.to_tensor()

    def merge(self) -> None:
        """Fold the delta into :attr:`base` (the forward pass then reads the base alone)."""
        self._check_merge("merge", merged=False)
        self._merge()
        self.merged = True

    def unmerge(self) -> None:
        """Undo :meth:`merge`, restoring the base tensors bit for bit."""
        self._check_merge("unmerge", merged=True)
        self._unmerge()
        self.merged = False

    def unload(self, merge: bool) -> CoefficientSource:
        """The base source to put back into the layer: with the delta merged into it (``merge``), or as it was
        before the adapter (the delta dropped)."""
        if merge and not self.merged:
            self.merge()
        elif not merge and self.merged:
            self.unmerge()
        return self.base

    def _check_merge(self, what: str, merged: bool) -> None:
        if self.why_not_mergeable:
            raise RuntimeError(f"{type(self).__name__}.{what}: {self.why_not_mergeable}")
        if self.merged != merged:
            state = "already merged; call unmerge() first" if self.merged else "not merged; call merge() first"
            raise RuntimeError(f"{type(self).__name__}.{what}: the adapter is {state}.")

    def _merge(self) -> None:
        raise NotImplementedError

    def _unmerge(self) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, merged={self.merged}"


class DenseLoTRA(LoTRALayer):
    """KAN: ``C = C0 + ΔC``, ``w = w0 (+ Δw)`` with a Tucker delta (:func:`zero_delta`) over ``(out, in, m)``.

    ``m = n_basis``, or ``n_basis + 1`` with ``adapt_base_weight`` (``Δw`` is the last slice). Merging adds the
    delta to ``spline_weight`` (and ``base_weight``) in place, keeping a copy of both for :meth:`unmerge`.
    """

    kind = "dense"

    def __init__(self, base: CoefficientSource, ranks, alpha: float, adapt_base_weight: bool,
                 generator: torch.Generator):
        super().__init__(base)
        self.adapt_base_weight = adapt_base_weight
        ref = next(base.parameters())
        self.tucker = zero_delta(self.delta_shape(base, adapt_base_weight), ranks, generator, ref.dtype, ref.device)
        self.alpha = float(alpha)
        self._saved: list[torch.Tensor] = []

    @classmethod
    def delta_shape(cls, base, adapt_base_weight: bool) -> tuple[int, int, int]:
        return (base.out_features, base.in_features, base.n_basis + int(adapt_base_weight))

    def coefficients(self):
        c, w = self.base.coefficients()
        if self.merged:
            return c, w
        d = self.delta()
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
        return y + self.alpha * _contract(self.tucker, feats)

    def _targets(self) -> list[tuple[torch.Tensor, slice]]:
        """The base tensors the delta adds to, with the slice of the delta's last mode that goes to each."""
        if self.adapt_base_weight:
            return [(self.base.spline_weight, slice(None, -1)), (self.base.base_weight, -1)]
        return [(self.base.spline_weight, slice(None))]

    def _merge(self) -> None:
        with torch.no_grad():
            d = self.delta()
            self._saved = [t.clone() for t, _ in self._targets()]
            for t, part in self._targets():
                t.add_(d[..., part])

    def _unmerge(self) -> None:
        with torch.no_grad():
            for (t, _), saved in zip(self._targets(), self._saved):
                t.copy_(saved)
        self._saved = []


class TuckerLoTRA(DenseLoTRA):
    """Slim KAN: the same delta as :class:`DenseLoTRA`; merging replaces the base source by an exact Tucker
    source of ``C0 + ΔC`` whose ranks are the sums (:func:`merged_tucker`) and keeps the original for
    :meth:`unmerge`."""

    kind = "tucker"

    def _merge(self) -> None:
        original = self.base
        self.base = merged_tucker(original, self.tucker, self.alpha, self.adapt_base_weight)
        self._saved_source = [original]  # a plain list: kept, but not registered as a submodule

    def _unmerge(self) -> None:
        self.base = self._saved_source.pop()


def _mode_product(core: torch.Tensor, r: torch.Tensor, mode: int) -> torch.Tensor:
    """``core x_mode r`` for ``r: (d, r_mode)``."""
    spec = ("abc,ia->ibc", "abc,ib->aic", "abc,ic->abi")[mode]
    return torch.einsum(spec, core, r)


def merged_tucker(base: TuckerCoefficients, delta: Tucker, alpha: float,
                  adapt_base_weight: bool) -> TuckerCoefficients:
    """An exact Tucker source for ``C0 + alpha ΔC``: factors concatenated, core block-diagonal
    ``diag(G0, alpha G)``.

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
        core[r0[0]:, r0[1]:, r0[2]:] = alpha * delta.core
        for mode in range(3):
            u = factors[mode]
            if u.shape[1] > u.shape[0]:
                q, r = torch.linalg.qr(u)
                factors[mode], core = q, _mode_product(core, r, mode)
        merged = TuckerCoefficients(base.in_features, base.out_features, m, ranks=tuple(core.shape),
                                    generator=torch.Generator().manual_seed(0), dtype=base.core.dtype,
                                    device=base.core.device, contraction=base.contraction)
        merged.core.copy_(core)
        for p, u in zip(merged.factors(), factors):
            p.copy_(u)
        w = base.base_weight + (alpha * delta.to_tensor()[..., -1] if adapt_base_weight else 0)
        merged.base_weight.copy_(w)
    merged.requires_grad_(False)
    return merged
