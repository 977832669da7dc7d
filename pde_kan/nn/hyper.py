"""MetaKAN's coefficient source: a hypernetwork generates every edge's coefficients (arXiv 2506.07549).

:class:`HyperNet` maps one small embedding per edge to the edge's numbers; :class:`HyperCoefficients` is the
:class:`~pde_kan.nn.layer.CoefficientSource` that owns the embeddings and generates ``[w, C]`` on the fly, in
chunks, through the autograd functions of :mod:`pde_kan.nn._metakan_autograd`, which regenerate them in backward
instead of storing them.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .._checks import choice, positive_int
from ._metakan_autograd import (GeneratedLinear, PiecewiseGenerate, PiecewiseLinear, Regenerate, Workspace,
                               affine_rows, hyper_rows, piecewise_rows, piecewise_tables, rows_matmul)
from .layer import CoefficientSource, normal_init

#: Hidden activations of the hypernet: the paper's ReLU, or none (an affine map, as in some reference scripts).
HYPER_ACTIVATIONS = ("relu", "identity")
#: Where an edge's base-branch weight ``w_ji`` comes from (see :class:`HyperCoefficients`).
BASE_WEIGHTS = ("generated", "free", "lowrank")
#: Initialisations: pde_kan's variance-matched one, or the reference code's (Xavier-normal everywhere, no scale).
HYPER_INITS = ("pde_kan", "reference")


def _xavier_std(fan_in: int, fan_out: int) -> float:
    return math.sqrt(2.0 / (fan_in + fan_out))


class HyperNet(nn.Module):
    """``embedding_dim -> hidden -> activation -> n_out``: the numbers of one edge from its embedding.

    Parameters: ``(e + 1) * hidden + (hidden + 1) * n_out``.

    Args:
        n_out: numbers per edge (``n_basis + 1`` when the base weight is generated too, else ``n_basis``).
        activation: one of :data:`HYPER_ACTIVATIONS`.
        init: ``"pde_kan"`` (He init for the ReLU layer, ``1/sqrt(hidden)`` for the output layer: unit-variance
            outputs per unit-variance embedding) or ``"reference"`` (Xavier-normal weights); biases zero.
    """

    def __init__(self, embedding_dim, hidden, n_out, *, activation="relu", init="pde_kan", generator=None,
                 dtype=torch.float64, device=None):
        super().__init__()
        self.embedding_dim, self.hidden, self.n_out = embedding_dim, hidden, n_out
        self.activation = choice("activation", activation, HYPER_ACTIVATIONS, owner="HyperNet")
        init = choice("init", init, HYPER_INITS, owner="HyperNet")
        # skip_init: nn.Linear's own init would draw from (and advance) the global RNG
        dev = torch.get_default_device() if device is None else device
        self.fc1 = nn.utils.skip_init(nn.Linear, embedding_dim, hidden, dtype=dtype, device=dev)
        self.fc2 = nn.utils.skip_init(nn.Linear, hidden, n_out, dtype=dtype, device=dev)
        if init == "reference":
            stds = (_xavier_std(embedding_dim, hidden), _xavier_std(hidden, n_out))
        else:
            stds = (math.sqrt((2.0 if activation == "relu" else 1.0) / embedding_dim), math.sqrt(1.0 / hidden))
        with torch.no_grad():
            for fc, std in zip((self.fc1, self.fc2), stds):
                fc.weight.copy_(normal_init(fc.weight.shape, std, generator, dtype, device))
                fc.bias.zero_()

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """``e (E, embedding_dim)`` -> ``(E, n_out)``."""
        h = self.fc1(e)
        return self.fc2(torch.relu(h) if self.activation == "relu" else h)


#: Default number of edges whose coefficients a MetaKAN layer generates at once (see HyperCoefficients).
DEFAULT_CHUNK_SIZE = 262144


class HyperCoefficients(CoefficientSource):
    """MetaKAN: ``C_ji = scale * H(e_ji)`` with one learnable embedding ``e_ji`` per edge.

    The base-branch weight ``w_ji`` comes from one of :data:`BASE_WEIGHTS`:

    * ``"generated"`` — the hypernet emits it as its last number, as in the paper (``n_basis + 1`` outputs);
    * ``"free"`` — a dense ``(out, in)`` parameter next to the embeddings (the SiLU branch is then a plain
      linear layer; ``out * in`` more parameters);
    * ``"lowrank"`` — ``w = U V^T`` with ``U (out, r)``, ``V (in, r)`` (``(out + in) * r`` more parameters).

    With ``init="pde_kan"`` the output is scaled by ``init_scale / sqrt(in)`` (spline part) and ``1/sqrt(in)``
    (generated base weight), fixed buffers, so that a layer's output variance does not grow with its fan-in,
    as for a dense init. ``init="reference"`` reproduces the reference code: Xavier-normal embeddings
    (``std = sqrt(2 / (e + out * in))``) and hypernet, no output scale. Parameters: ``out * in *
    embedding_dim`` plus the hypernet's (which may be shared between layers and is then counted once by the
    backbone) plus the base weight's.

    Memory: the coefficients are generated once per forward pass (not per sample). Kept naively, the hypernet's
    activations for every edge (``2 * out * in * hyper_hidden`` numbers) and the generated ``C`` would cost more
    than a KAN's dense parameters. With ``recompute`` the layer generates its coefficients in chunks of whole
    output rows, at most ``chunk_size`` edges each, multiplies each chunk into the output at once, and frees it;
    backward regenerates one chunk at a time (activation checkpointing), so peak memory holds one chunk of
    hypernet activations and coefficients instead of the whole layer's, at the price of a second hypernet
    forward pass. A scalar embedding (``embedding_dim=1``, the default) makes the hypernet a piecewise-linear
    function of it, evaluated from small tables (:func:`~pde_kan.nn._metakan_autograd.piecewise_tables`): no ``hyper_hidden``-wide activations
    at all, and backward regenerates a chunk from one saved byte per edge. The defaults (``recompute=True``,
    262144 edges per chunk) come from benchmarks/memory.py (docs/benchmarks.md).

    Args:
        hypernet: the :class:`HyperNet` to use (shared between layers) or None for a private one.
        init_scale: extra factor on the spline part, matching :class:`DenseCoefficients` (``init="pde_kan"``).
        base_weight: one of :data:`BASE_WEIGHTS`; ``base_rank`` is ``r`` for ``"lowrank"``.
        hyper_activation, init: see :class:`HyperNet` and above.
        chunk_size: maximum number of edges generated at once (rounded down to whole output rows, at least
            one row); None generates the whole layer at once.
        recompute: free the hypernet activations after the forward pass and regenerate them in backward.
    """

    def __init__(self, in_features, out_features, n_basis, *, embedding_dim=1, hyper_hidden=16,
                 hypernet: Optional[HyperNet] = None, init_scale=0.1, base_weight="generated", base_rank=8,
                 hyper_activation="relu", init="pde_kan", generator=None, dtype=torch.float64, device=None,
                 chunk_size: Optional[int] = DEFAULT_CHUNK_SIZE, recompute: bool = True):
        super().__init__()
        own = "HyperCoefficients"
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        self.embedding_dim = embedding_dim
        self.base_mode = choice("base_weight", base_weight, BASE_WEIGHTS, owner=own)
        init = choice("init", init, HYPER_INITS, owner=own)
        self.chunk_size = None if chunk_size is None else positive_int("chunk_size", chunk_size, owner=own)
        if not isinstance(recompute, bool):
            raise TypeError(f"{own}: recompute must be True or False, got {recompute!r}.")
        self.recompute = recompute
        #: chunk scratch space; MetaKAN gives all its layers one (see :class:`~pde_kan.nn._metakan_autograd.Workspace`)
        self.workspace = Workspace()
        emb_std = _xavier_std(embedding_dim, out_features * in_features) if init == "reference" else 1.0
        self.embeddings = nn.Parameter(normal_init((out_features, in_features, embedding_dim), emb_std, generator,
                                               dtype, device))
        n_out = n_basis + 1 if self.base_mode == "generated" else n_basis
        if hypernet is None:
            hypernet = HyperNet(embedding_dim, hyper_hidden, n_out, activation=hyper_activation, init=init,
                                generator=generator, dtype=dtype, device=device)
        if hypernet.n_out != n_out or hypernet.embedding_dim != embedding_dim:
            raise ValueError(
                f"{own}: shared hypernet emits {hypernet.n_out} numbers per edge for embedding_dim "
                f"{hypernet.embedding_dim}, this layer needs {n_out} (n_basis={n_basis}, base_weight="
                f"{self.base_mode!r}) for embedding_dim={embedding_dim}; share a hypernet only between layers with "
                f"the same grid, embedding size and base_weight.")
        self.hypernet = hypernet
        std = 1.0 / math.sqrt(in_features)
        if self.base_mode == "free":
            self.base_weight = nn.Parameter(normal_init((out_features, in_features), std, generator, dtype, device))
        elif self.base_mode == "lowrank":
            r = positive_int("base_rank", base_rank, owner=own)
            # Var(w) = r * (1/r) * (1/in): the dense init's variance
            self.base_u = nn.Parameter(normal_init((out_features, r), math.sqrt(1.0 / r), generator, dtype, device))
            self.base_v = nn.Parameter(normal_init((in_features, r), std, generator, dtype, device))
        scale = torch.full((n_out,), 1.0 if init == "reference" else init_scale * std, dtype=dtype, device=device)
        if self.base_mode == "generated" and init != "reference":
            scale[-1] = std
        self.register_buffer("scale", scale, persistent=False)
        # hypernet outputs are [C, w]; the layer's features are [act, B], so the packed order is [w, C]
        order = [n_basis] + list(range(n_basis)) if self.base_mode == "generated" else list(range(n_basis))
        self.register_buffer("_order", torch.tensor(order, device=device), persistent=False)

    def generate(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``embeddings (out, in, e)`` -> ``(out, in, n_out)`` = ``[C, w]`` or ``C`` (scaled hypernet output)."""
        flat = embeddings.reshape(-1, self.embedding_dim)
        return (self.hypernet(flat) * self.scale).reshape(self.out_features, self.in_features, -1)

    def base(self) -> Optional[torch.Tensor]:
        """The base weight ``(out, in)`` when it is not generated (None when it is)."""
        if self.base_mode == "free":
            return self.base_weight
        if self.base_mode == "lowrank":
            return self.base_u @ self.base_v.T
        return None

    def _generator(self):
        """``(fn, params)`` with ``fn(embeddings[rows], *params) -> (rows, in * n_out)``, in the packed order.

        fc2 gets the scale folded in and its outputs reordered to ``[w, C]`` (tiny tensors). A scalar embedding
        goes through :func:`piecewise_tables` (one segment when the hypernet is affine): one segment lookup and
        one multiply-add per edge instead of ``hyper_hidden``-wide activations.
        """
        fc1, fc2 = self.hypernet.fc1, self.hypernet.fc2
        w2 = (fc2.weight * self.scale.unsqueeze(-1)).index_select(0, self._order)
        b2 = (fc2.bias * self.scale).index_select(0, self._order)
        if self.hypernet.activation == "identity":
            w, b = w2 @ fc1.weight, torch.addmv(b2, w2, fc1.bias)
            if self.embedding_dim == 1:
                return piecewise_rows, (w.new_empty(0), w.T, b.unsqueeze(0))
            return affine_rows, (w, b)
        if self.embedding_dim == 1:
            return piecewise_rows, piecewise_tables(fc1.weight, fc1.bias, w2, b2)
        return hyper_rows, (fc1.weight, fc1.bias, w2, b2)

    def rows_per_chunk(self) -> int:
        """Output rows generated at once (all of them when ``chunk_size`` is None)."""
        if self.chunk_size is None:
            return self.out_features
        return max(1, min(self.out_features, self.chunk_size // self.in_features))

    def _chunks(self):
        step = self.rows_per_chunk()
        return [(o, min(o + step, self.out_features)) for o in range(0, self.out_features, step)]

    def _checkpointing(self) -> bool:
        return self.recompute and torch.is_grad_enabled()

    def _with_base(self, generated: torch.Tensor, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``generated (out, K, n_out)`` in the packed order -> ``(out, K, n_basis + 1)`` = ``[w, C]``."""
        if self.base_mode == "generated":
            return generated
        if self.base_mode == "free":
            w = self.base_weight if index is None else self.base_weight[:, index]
        else:
            w = self.base_u @ (self.base_v if index is None else self.base_v[index]).T
        return torch.cat([w.unsqueeze(-1), generated], dim=-1)

    def packed(self):
        fn, params = self._generator()
        shape = (self.out_features, self.in_features, -1)
        if fn is piecewise_rows:  # keeps one byte per edge for backward: nothing to recompute
            gen = PiecewiseGenerate.apply(self.embeddings.reshape(-1), *params).view(shape)
        elif not self._checkpointing():
            gen = fn(self.embeddings, *params).view(shape)
        else:
            parts = [Regenerate.apply(fn, self.embeddings[a:b], *params) for a, b in self._chunks()]
            gen = torch.cat(parts, 0).view(shape)
        return self._with_base(gen)

    def packed_columns(self, index):
        fn, params = self._generator()
        emb = self.embeddings[:, index]
        shape = (self.out_features, index.shape[0], -1)
        if fn is piecewise_rows:
            gen = PiecewiseGenerate.apply(emb.reshape(-1), *params).view(shape)
        else:
            gen = fn(emb, *params).view(shape)
        return self._with_base(gen, index)

    def coefficients(self):
        cw = self.packed()
        return cw[..., 1:], cw[..., 0]

    def _generated_contract(self, f2: torch.Tensor) -> torch.Tensor:
        """``f2 (N, in * n_out)`` (features in the generated numbers' order) -> ``(N, out)``, chunk by chunk."""
        fn, params = self._generator()
        train = torch.is_grad_enabled()
        chunks = self._chunks() if (self.recompute or not train) else [(0, self.out_features)]
        if fn is piecewise_rows:
            emb = self.embeddings.reshape(-1)
            n_in = self.in_features
            ys = [PiecewiseLinear.apply(f2, emb[lo * n_in:hi * n_in], *params, hi - lo, not self.recompute,
                                         self.workspace) for lo, hi in chunks]
        elif self.recompute and train:
            ys = [GeneratedLinear.apply(fn, f2, self.embeddings[lo:hi], *params) for lo, hi in chunks]
        else:
            ys = [rows_matmul(fn, f2, self.embeddings[lo:hi], *params) for lo, hi in chunks]
        return ys[0] if len(ys) == 1 else torch.cat(ys, 1)

    def contract(self, features):
        n = features.shape[0]
        if self.base_mode == "generated":
            return self._generated_contract(features.reshape(n, -1))
        y = self._generated_contract(features[..., 1:].reshape(n, -1))
        act = features[..., 0]
        if self.base_mode == "free":
            return torch.addmm(y, act, self.base_weight.T)
        return torch.addmm(y, act @ self.base_v, self.base_u.T)

    def param_groups(self):
        groups = {"hypernet": list(self.hypernet.parameters()), "embeddings": [self.embeddings]}
        if self.base_mode != "generated":
            groups["base"] = [p for n, p in self.named_parameters(recurse=False) if n.startswith("base")]
        return groups

    def extra_repr(self) -> str:
        return f"base_weight={self.base_mode!r}, chunk_size={self.chunk_size}, recompute={self.recompute}"
