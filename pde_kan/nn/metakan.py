"""MetaKAN backbone (arXiv 2506.07549): a hypernetwork generates every edge's coefficients."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._checks import choice, positive_int
from .backbone import Backbone, layer_bases
from ._metakan_autograd import Workspace
from .hyper import BASE_WEIGHTS, DEFAULT_CHUNK_SIZE, HyperCoefficients, HyperNet
from .layer import KANLayer


class MetaKAN(Backbone):
    """KAN whose edge functions come from a hypernet ``H: R^e -> R^n_out`` applied to per-edge embeddings.

    ``x: (N, widths[0]) -> (N, widths[-1])``. Parameters, with ``E = sum_l in_l out_l`` edges, ``n_out =
    n_basis + 1`` (base weight generated) or ``n_basis`` (otherwise) and ``P_H = (e + 1) h + (h + 1) n_out`` per
    hypernet: ``E * e + P_H`` (shared hypernet) or ``E * e + L * P_H`` (one per layer, the default), plus
    ``E`` (``base_weight="free"``) or ``sum_l (in_l + out_l) r`` (``"lowrank"``).

    Parameter groups ``"hypernet"``, ``"embeddings"`` (and ``"base"`` unless the base weight is generated), so a
    trainer can give them their own learning rates (the reference uses 1e-4 and 1e-3).

    Args:
        embedding_dim: size e of each edge's embedding (1 in the reference).
        hyper_hidden: hypernet hidden width h.
        share_hypernet: one hypernet for all layers instead of one per layer.
        base_weight: ``"generated"`` (the paper: the hypernet emits the base-branch weight too), ``"free"`` (a
            dense per-edge parameter) or ``"lowrank"`` (rank ``base_rank``); see
            :class:`~pde_kan.nn.HyperCoefficients`. docs/metakan.md has the measured trade-offs.
        hyper_activation: ``"relu"`` (the paper) or ``"identity"`` (an affine hypernet).
        init: ``"pde_kan"`` (variance-matched, output scaled by ``init_scale / sqrt(in)``) or ``"reference"``
            (the reference code's Xavier-normal embeddings and hypernet, no output scale).
        chunk_size: edges whose coefficients are generated at once (whole output rows, at least one); None
            generates a layer at once. Only matters with ``recompute``.
        recompute: generate coefficients chunk by chunk, use each chunk at once and regenerate it in backward
            (activation checkpointing): peak memory holds one chunk of hypernet activations instead of every
            edge's, for a second hypernet forward pass per step.

    Other arguments as :class:`~pde_kan.nn.KAN`.
    """

    name = "metakan"
    recommended_lr = 1e-2

    def __init__(self, widths, embedding_dim=1, hyper_hidden=16, share_hypernet=False, grid_size=5,
                 spline_order=3, grid_range=(-1.0, 1.0), base_activation="silu", init_scale=0.1, seed=0,
                 dtype=torch.float64, device=None, chunk_size=DEFAULT_CHUNK_SIZE, recompute=True,
                 base_weight="generated", base_rank=8, hyper_activation="relu", init="pde_kan"):
        super().__init__()
        embedding_dim = positive_int("embedding_dim", embedding_dim, owner="MetaKAN")
        hyper_hidden = positive_int("hyper_hidden", hyper_hidden, owner="MetaKAN")
        base_rank = positive_int("base_rank", base_rank, owner="MetaKAN")
        choice("base_weight", base_weight, BASE_WEIGHTS, owner="MetaKAN")
        if chunk_size is not None:
            chunk_size = positive_int("chunk_size", chunk_size, owner="MetaKAN")
        if not isinstance(recompute, bool):
            raise TypeError(f"MetaKAN: recompute must be True or False, got {recompute!r}.")
        bases, grid = layer_bases(widths, grid_size, spline_order, grid_range, "MetaKAN")
        n_basis = bases[0].n_basis
        self._setup(widths, dtype, dict(grid, embedding_dim=embedding_dim, hyper_hidden=hyper_hidden,
                                        share_hypernet=bool(share_hypernet), base_activation=base_activation,
                                        init_scale=init_scale, seed=seed, chunk_size=chunk_size,
                                        recompute=recompute, base_weight=base_weight, base_rank=base_rank,
                                        hyper_activation=hyper_activation, init=init))
        g = torch.Generator().manual_seed(int(seed))
        n_out = n_basis + 1 if base_weight == "generated" else n_basis

        def hypernet():
            return HyperNet(embedding_dim, hyper_hidden, n_out, activation=hyper_activation, init=init,
                            generator=g, dtype=self.dtype, device=device)

        shared = hypernet() if share_hypernet else None
        self.layers = nn.ModuleList(
            KANLayer(i, o, basis, HyperCoefficients(
                i, o, n_basis, embedding_dim=embedding_dim, hypernet=shared or hypernet(),
                init_scale=init_scale, base_weight=base_weight, base_rank=base_rank, init=init, generator=g,
                dtype=self.dtype, device=device, chunk_size=chunk_size, recompute=recompute), base_activation)
            for i, o, basis in zip(self.widths[:-1], self.widths[1:], bases)
        )
        shared_workspace = Workspace()  # the layers run one after another: one chunk scratch space serves all
        for layer in self.layers:
            layer.source.workspace = shared_workspace

    @classmethod
    def reference(cls, widths, hyper_activation: str = "relu", **overrides: Any) -> "MetaKAN":
        """The reference implementation's MetaKAN: one ReLU (or ``"identity"``: affine) hypernet of width 32 per
        layer, scalar embeddings, generated base weights, Xavier-normal init without output scale."""
        kw = dict(embedding_dim=1, hyper_hidden=32, share_hypernet=False, base_weight="generated",
                  hyper_activation=hyper_activation, init="reference")
        return cls(widths, **{**kw, **overrides})
