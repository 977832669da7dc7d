"""One KAN layer for every backbone; the coefficient *source* is what differs.

Edge function ``phi_ji(x) = w_ji * silu(x) + sum_m C_jim B_m(x)``; the layer output is
``y_j = sum_i phi_ji(x_i)``. A coefficient source supplies ``C: (out, in, n_basis)`` and ``w: (out, in)``:

* :class:`DenseCoefficients` — both are parameters (KAN).
* :class:`HyperCoefficients` — a hypernetwork maps one small embedding per edge to the edge's
  ``n_basis + 1`` numbers (MetaKAN, arXiv 2506.07549).
* :class:`TuckerCoefficients` — ``C = G x1 U_out x2 U_in x3 U_basis`` (Slim KAN, arXiv 2502.06153).

Sources that wrap other sources (LoTRA adapters) only need to implement :meth:`CoefficientSource.coefficients`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .._checks import positive_int
from .activations import get_activation
from .splines import BSplineBasis
from .tucker import check_ranks, tucker_to_tensor


def _normal(shape, std, generator, dtype, device) -> torch.Tensor:
    t = torch.randn(shape, generator=generator, dtype=dtype)
    return (t * std).to(device)


def dense_contract(features: torch.Tensor, c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``features (N, in, m + 1)`` = [act, B] against ``c (out, in, m)``, ``w (out, in)`` -> ``(N, out)``.

    One GEMM over ``in * (m + 1)`` needs the weights in the features' interleaved order, i.e. a copy of
    ``out * in * (m + 1)`` numbers (and of their gradient in backward); the alternative copies the basis part of
    the features instead (``N * in * m``) and accumulates two GEMMs into one output. The smaller copy wins:
    weights for PINN-sized layers (``out < N``), features for wide layers on small batches (``out > N``).
    """
    n = features.shape[0]
    o = c.shape[0]
    if o > n:
        basis = features[..., 1:].reshape(n, -1)
        return torch.addmm(features[..., 0] @ w.T, basis, c.reshape(o, -1).T)
    weight = torch.cat([w.unsqueeze(-1), c], dim=-1).reshape(o, -1)
    return features.reshape(n, -1) @ weight.T


class CoefficientSource(nn.Module):
    """Supplies a KAN layer's spline coefficients ``C (out, in, n_basis)`` and base weights ``w (out, in)``."""

    out_features: int
    in_features: int
    n_basis: int

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(C, w)`` with shapes ``(out, in, n_basis)`` and ``(out, in)``."""
        raise NotImplementedError

    def packed(self) -> torch.Tensor:
        """``(out, in, n_basis + 1)`` = ``[w, C]``: the weights in the order of the layer's features."""
        c, w = self.coefficients()
        return torch.cat([w.unsqueeze(-1), c], dim=-1)

    def contract(self, features: torch.Tensor) -> torch.Tensor:
        """``features (N, in, n_basis + 1)`` = [silu(x), B(x)] -> ``(N, out)``: GEMM over in * (n_basis + 1)."""
        c, w = self.coefficients()
        return dense_contract(features, c, w)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Named parameter groups (a trainer may give each its own learning rate)."""
        return {"default": [p for p in self.parameters() if p.requires_grad]}

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.out_features, self.in_features, self.n_basis)


class DenseCoefficients(CoefficientSource):
    """KAN: ``C`` and ``w`` are parameters. Parameters: ``out * in * (n_basis + 1)``.

    Init: ``w ~ N(0, 1/in)``, ``C ~ N(0, init_scale^2 / in)``.
    """

    def __init__(self, in_features, out_features, n_basis, *, init_scale=0.1, generator=None,
                 dtype=torch.float64, device=None):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        std = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(_normal((out_features, in_features, n_basis), init_scale * std, generator, dtype, device))
        self.base_weight = nn.Parameter(_normal((out_features, in_features), std, generator, dtype, device))

    def coefficients(self):
        return self.weight, self.base_weight


class HyperNet(nn.Module):
    """``embedding_dim -> hidden -> ReLU -> n_basis + 1``: one edge's spline coefficients and base weight.

    Parameters: ``(e + 1) * hidden + (hidden + 1) * (n_basis + 1)``.
    """

    def __init__(self, embedding_dim, hidden, n_basis, *, generator=None, dtype=torch.float64, device=None):
        super().__init__()
        self.embedding_dim, self.hidden, self.n_basis = embedding_dim, hidden, n_basis
        # skip_init: nn.Linear's own init would draw from (and advance) the global RNG
        dev = torch.get_default_device() if device is None else device
        self.fc1 = nn.utils.skip_init(nn.Linear, embedding_dim, hidden, dtype=dtype, device=dev)
        self.fc2 = nn.utils.skip_init(nn.Linear, hidden, n_basis + 1, dtype=dtype, device=dev)
        with torch.no_grad():  # He init for the ReLU layer, unit-variance output per unit-variance embedding
            self.fc1.weight.copy_(_normal(self.fc1.weight.shape, math.sqrt(2.0 / embedding_dim), generator, dtype, device))
            self.fc1.bias.zero_()
            self.fc2.weight.copy_(_normal(self.fc2.weight.shape, math.sqrt(1.0 / hidden), generator, dtype, device))
            self.fc2.bias.zero_()

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        """``e (E, embedding_dim)`` -> ``(E, n_basis + 1)``."""
        return self.fc2(torch.relu(self.fc1(e)))


def _hyper_rows(emb, w1, b1, w2, b2):
    """Hypernet on ``emb (rows, in, e)`` with a (permuted, scaled) output layer -> ``(rows, in * n_out)``."""
    h = torch.relu(torch.addmm(b1, emb.reshape(-1, emb.shape[-1]), w1.T))
    return torch.addmm(b2, h, w2.T).view(emb.shape[0], -1)


def _hyper_rows_matmul(features, emb, w1, b1, w2, b2):
    """``features (N, in * n_out) @ hypernet(emb).T`` -> ``(N, rows)``."""
    return features @ _hyper_rows(emb, w1, b1, w2, b2).T


#: Default number of edges whose coefficients a MetaKAN layer generates at once (see HyperCoefficients).
DEFAULT_CHUNK_SIZE = 65536


class HyperCoefficients(CoefficientSource):
    """MetaKAN: ``[C_ji, w_ji] = scale * H(e_ji)`` with one learnable embedding ``e_ji`` per edge.

    The output is scaled by ``1/sqrt(in)`` (a fixed buffer) so that a layer's output variance does not grow
    with its fan-in, as for a dense init. Parameters: ``out * in * embedding_dim`` plus the hypernet's (which
    may be shared between layers and is then counted once by the backbone).

    Memory: the coefficients are generated once per forward pass (not per sample). Kept naively, the hypernet's
    activations for every edge (``2 * out * in * hyper_hidden`` numbers) and the generated ``C`` would cost more
    than a KAN's dense parameters. With ``recompute`` the layer generates its coefficients in chunks of whole
    output rows, at most ``chunk_size`` edges each, multiplies each chunk into the output at once, and frees it;
    backward regenerates one chunk at a time (activation checkpointing), so peak memory holds one chunk of
    hypernet activations and coefficients instead of the whole layer's, at the price of a second hypernet
    forward pass.

    Args:
        hypernet: the :class:`HyperNet` to use (shared between layers) or None for a private one.
        init_scale: extra factor on the spline part, matching :class:`DenseCoefficients`.
        chunk_size: maximum number of edges generated at once (rounded down to whole output rows, at least
            one row); None generates the whole layer at once.
        recompute: free the hypernet activations after the forward pass and regenerate them in backward.
    """

    def __init__(self, in_features, out_features, n_basis, *, embedding_dim=1, hyper_hidden=16,
                 hypernet: Optional[HyperNet] = None, init_scale=0.1, generator=None,
                 dtype=torch.float64, device=None, chunk_size: Optional[int] = DEFAULT_CHUNK_SIZE,
                 recompute: bool = True):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        self.embedding_dim = embedding_dim
        self.chunk_size = None if chunk_size is None else positive_int("chunk_size", chunk_size,
                                                                       owner="HyperCoefficients")
        if not isinstance(recompute, bool):
            raise TypeError(f"HyperCoefficients: recompute must be True or False, got {recompute!r}.")
        self.recompute = recompute
        self.embeddings = nn.Parameter(_normal((out_features, in_features, embedding_dim), 1.0, generator, dtype, device))
        if hypernet is None:
            hypernet = HyperNet(embedding_dim, hyper_hidden, n_basis, generator=generator, dtype=dtype, device=device)
        if hypernet.n_basis != n_basis or hypernet.embedding_dim != embedding_dim:
            raise ValueError(
                f"HyperCoefficients: shared hypernet emits {hypernet.n_basis} basis coefficients for embedding_dim "
                f"{hypernet.embedding_dim}, layer needs n_basis={n_basis}, embedding_dim={embedding_dim}; share a "
                f"hypernet only between layers with the same grid and embedding size."
            )
        self.hypernet = hypernet
        scale = torch.full((n_basis + 1,), init_scale / math.sqrt(in_features), dtype=dtype, device=device)
        scale[-1] = 1.0 / math.sqrt(in_features)
        self.register_buffer("scale", scale, persistent=False)
        # hypernet outputs are [C, w]; the layer's features are [act, B], so the packed order is [w, C]
        self.register_buffer("_order", torch.tensor([n_basis] + list(range(n_basis)), device=device),
                             persistent=False)

    def generate(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``embeddings (out, in, e)`` -> ``(out, in, n_basis + 1)`` = [C, w] (scaled hypernet output)."""
        flat = embeddings.reshape(-1, self.embedding_dim)
        return (self.hypernet(flat) * self.scale).reshape(self.out_features, self.in_features, self.n_basis + 1)

    def _hyper_params(self):
        """fc1 as is; fc2 with the scale folded in and its outputs reordered to [w, C] (tiny tensors)."""
        fc1, fc2 = self.hypernet.fc1, self.hypernet.fc2
        w2 = (fc2.weight * self.scale.unsqueeze(-1)).index_select(0, self._order)
        b2 = (fc2.bias * self.scale).index_select(0, self._order)
        return fc1.weight, fc1.bias, w2, b2

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

    def packed(self):
        params = self._hyper_params()
        shape = (self.out_features, self.in_features, self.n_basis + 1)
        if not self._checkpointing():
            return _hyper_rows(self.embeddings, *params).view(shape)
        parts = [checkpoint(_hyper_rows, self.embeddings[a:b], *params, use_reentrant=False, preserve_rng_state=False)
                 for a, b in self._chunks()]
        return torch.cat(parts, 0).view(shape)

    def coefficients(self):
        cw = self.packed()
        return cw[..., 1:], cw[..., 0]

    def contract(self, features):
        n = features.shape[0]
        f2 = features.reshape(n, -1)
        params = self._hyper_params()
        chunks = self._chunks()
        if self._checkpointing():
            ys = [checkpoint(_hyper_rows_matmul, f2, self.embeddings[a:b], *params, use_reentrant=False,
                             preserve_rng_state=False) for a, b in chunks]
        elif torch.is_grad_enabled():  # every chunk's activations would be kept anyway: one chunk
            ys = [_hyper_rows_matmul(f2, self.embeddings, *params)]
        else:
            ys = [_hyper_rows_matmul(f2, self.embeddings[a:b], *params) for a, b in chunks]
        return ys[0] if len(ys) == 1 else torch.cat(ys, 1)

    def param_groups(self):
        return {"hypernet": list(self.hypernet.parameters()), "embeddings": [self.embeddings]}

    def extra_repr(self) -> str:
        return f"chunk_size={self.chunk_size}, recompute={self.recompute}"


class TuckerCoefficients(CoefficientSource):
    """Slim KAN: ``C = G x1 U_out x2 U_in x3 U_basis``; ``w`` dense.

    Parameters: ``r_out r_in r_basis + out r_out + in r_in + n_basis r_basis + out in``.
    Init: factors with orthonormal columns and a Gaussian core scaled so that ``Var(C)`` equals the dense
    init's ``init_scale^2 / in``. The forward pass contracts the basis features through the factors without
    materialising ``C`` when that costs fewer multiply-adds.
    """

    def __init__(self, in_features, out_features, n_basis, *, ranks, init_scale=0.1, generator=None,
                 dtype=torch.float64, device=None):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        self.ranks = check_ranks(ranks, (out_features, in_features, n_basis), "SlimKAN")
        dims = (out_features, in_features, n_basis)
        factors = []
        for d, r in zip(dims, self.ranks):
            q, _ = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=dtype))
            factors.append(nn.Parameter(q.to(device)))
        self.u_out, self.u_in, self.u_basis = factors
        var = init_scale**2 / in_features
        core_std = math.sqrt(var * math.prod(dims) / math.prod(self.ranks))
        self.core = nn.Parameter(_normal(self.ranks, core_std, generator, dtype, device))
        self.base_weight = nn.Parameter(_normal((out_features, in_features), 1.0 / math.sqrt(in_features),
                                                generator, dtype, device))

    def factors(self) -> list[torch.Tensor]:
        return [self.u_out, self.u_in, self.u_basis]

    def coefficients(self):
        return tucker_to_tensor(self.core, self.factors()), self.base_weight

    def factored_is_cheaper(self, n: int) -> bool:
        """Multiply-add counts of the factored vs the materialised contraction for a batch of ``n``."""
        o, i, m = self.shape
        ro, ri, rb = self.ranks
        factored = n * (i * m * rb + i * rb * ri + ri * rb * ro + ro * o)
        dense = n * i * m * o + ro * ri * rb * (i + m) + o * ro * i * m
        return factored < dense

    def contract(self, features):
        n = features.shape[0]
        if not self.factored_is_cheaper(n):
            return super().contract(features)
        base, basis = features[..., 0], features[..., 1:]
        z = torch.einsum("nim,mc->nic", basis, self.u_basis)
        z = torch.einsum("nic,ib->nbc", z, self.u_in)
        z = torch.einsum("nbc,abc->na", z, self.core)
        return z @ self.u_out.T + base @ self.base_weight.T


class KANLayer(nn.Module):
    """``y_j = sum_i w_ji silu(x_i) + sum_i sum_m C_jim B_m(x_i)`` for ``x: (N, in)`` -> ``y: (N, out)``.

    Args:
        in_features, out_features: layer widths.
        basis: the :class:`BSplineBasis` shared by all edges of the layer.
        coefficients: a :class:`CoefficientSource` of shape ``(out, in, basis.n_basis)``.
        base_activation: name of the base branch activation (``"silu"``).
    """

    def __init__(self, in_features: int, out_features: int, basis: BSplineBasis, coefficients: CoefficientSource,
                 base_activation: str = "silu"):
        super().__init__()
        self.in_features = positive_int("in_features", in_features, owner="KANLayer")
        self.out_features = positive_int("out_features", out_features, owner="KANLayer")
        expected = (out_features, in_features, basis.n_basis)
        if tuple(coefficients.shape) != expected:
            raise ValueError(f"KANLayer: coefficients must have shape {expected}, got {tuple(coefficients.shape)}.")
        self.basis = basis
        self.coefficients = coefficients
        self.base_activation = base_activation
        self.act = get_activation(base_activation)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``x (N, in)`` -> ``(N, in, n_basis + 1)``: base activation followed by the basis values."""
        return self.basis.features(x, (self.act.f(x),))[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.coefficients.contract(self.features(x))

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, basis={self.basis!r}, base={self.base_activation}"
