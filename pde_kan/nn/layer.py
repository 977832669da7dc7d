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
from typing import Optional

import torch
from torch import nn

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
        base = features[..., 0].contiguous()  # a view would keep the whole features tensor alive for backward
        return torch.addmm(base @ w.T, basis, c.reshape(o, -1).T)
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

    def packed_columns(self, index: torch.Tensor) -> torch.Tensor:
        """``(out, K, n_basis + 1)`` = ``packed()[:, index]`` for ``index (K,)`` input columns, built (by every
        source here) without forming the whole packed tensor."""
        return self.packed()[:, index]

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

    def packed_columns(self, index):
        return torch.cat([self.base_weight[:, index].unsqueeze(-1), self.weight[:, index]], dim=-1)


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


def piecewise_tables(w1, b1, w2, b2):
    """A one-input hypernet ``e -> w2 relu(w1 e + b1) + b2`` as the piecewise-linear function it is.

    With a scalar embedding the hidden unit j switches at ``s_j = -b1_j / w1_j``; between consecutive sorted
    breakpoints the set of active units is fixed, so the output is ``A[t] e + B[t]`` on segment t (t = number of
    breakpoints below e). ``A = (act * w1) @ w2^T``, ``B = (act * b1) @ w2^T + b2`` are differentiable in the
    hypernet's parameters; only the activity pattern (piecewise constant, as relu's derivative) is not.

    Args:
        w1: ``(H, 1)``, b1: ``(H,)``, w2: ``(n_out, H)``, b2: ``(n_out,)``.

    Returns:
        ``(s (H,) sorted breakpoints, A (H+1, n_out), B (H+1, n_out))``.
    """
    a, c = w1[:, 0], b1
    hidden = a.shape[0]
    with torch.no_grad():
        s = torch.where(a != 0, -c / torch.where(a != 0, a, torch.ones_like(a)), torch.full_like(c, math.inf))
        s_sorted, order = torch.sort(s)
        pos = torch.empty_like(order)
        pos[order] = torch.arange(hidden, device=a.device)
        t = torch.arange(hidden + 1, device=a.device).unsqueeze(1)
        # a > 0: active above its breakpoint; a < 0: below it; a == 0: constant relu(b1)
        active = torch.where(a > 0, pos < t, torch.where(a < 0, pos >= t, c > 0)).to(a.dtype)
    return s_sorted, (active * a) @ w2.T, torch.addmm(b2, active * c, w2.T)


def _piecewise_rows(emb, s, A, B):
    """``emb (rows, in, 1)`` through :func:`piecewise_tables` output -> ``(rows, in * n_out)``."""
    e = emb.reshape(-1, 1)
    seg = torch.bucketize(e.detach().reshape(-1), s)
    return torch.addcmul(B.index_select(0, seg), A.index_select(0, seg), e).view(emb.shape[0], -1)


def _segments(emb, s):
    """Segment numbers of the embeddings: ``(E,)`` int64, and a compact copy to save for backward."""
    seg = torch.bucketize(emb, s)
    return seg, (seg.to(torch.uint8) if s.shape[0] < 256 else seg)


def _pw_weights(emb, seg, a, b):
    """``W (E, n_out) = A[seg] * e + B[seg]``."""
    return torch.addcmul(b.index_select(0, seg), a.index_select(0, seg), emb.unsqueeze(1))


def _pw_grads(gw, emb, seg, a, need_e, need_a, need_b):
    """Gradients of ``sum(gw * W)`` with respect to the embeddings and the tables; ``gw (E, n_out)``.

    Per-segment sums for the tables (``index_add``); with autograd recording (``create_graph``) the same
    formulas are built out of differentiable operations. ``gw`` may be overwritten.
    """
    if torch.is_grad_enabled():
        zeros = a.new_zeros(a.shape)
        return ((gw * a.index_select(0, seg)).sum(1) if need_e else None,
                zeros.index_add(0, seg, gw * emb.unsqueeze(1)) if need_a else None,
                zeros.index_add(0, seg, gw) if need_b else None)
    g_e = (gw * a.index_select(0, seg)).sum(1) if need_e else None
    g_b = a.new_zeros(a.shape).index_add_(0, seg, gw) if need_b else None
    g_a = a.new_zeros(a.shape).index_add_(0, seg, gw.mul_(emb.unsqueeze(1))) if need_a else None
    return g_e, g_a, g_b


class _PiecewiseGenerate(torch.autograd.Function):
    """Scalar embeddings ``emb (E,)`` through :func:`piecewise_tables` ``(s, A, B)`` -> ``W (E, n_out)``.

    Saves one byte per edge (its segment) instead of the gathered table rows autograd would keep.
    """

    @staticmethod
    def forward(ctx, emb, s, a, b):
        seg, small = _segments(emb, s)
        ctx.save_for_backward(emb, a, small)
        return _pw_weights(emb, seg, a, b)

    @staticmethod
    def backward(ctx, gw):
        emb, a, seg = ctx.saved_tensors
        need_e, _, need_a, need_b = ctx.needs_input_grad
        gw = gw if torch.is_grad_enabled() else gw.clone()
        g_e, g_a, g_b = _pw_grads(gw, emb, seg.long(), a, need_e, need_a, need_b)
        return g_e, None, g_a, g_b


class _PiecewiseLinear(torch.autograd.Function):
    """``features (N, in * n_out) @ W.T`` with ``W (rows, in * n_out)`` generated from scalar embeddings on the fly.

    ``emb (rows * in,)`` are the chunk's embeddings, ``(s, A, B)`` the :func:`piecewise_tables`:
    ``W[edge] = A[seg] * e + B[seg]``, two row lookups and one multiply-add per edge. Forward saves only the
    segment numbers (one byte per edge) unless ``keep``; backward regenerates ``W`` and forms the table
    gradients as per-segment sums (``index_add``). Under ``create_graph`` the backward runs the same formulas
    with autograd recording them, so higher derivatives are exact.
    """

    @staticmethod
    def forward(ctx, features, emb, s, a, b, rows, keep):
        seg, small = _segments(emb, s)
        w = _pw_weights(emb, seg, a, b)
        ctx.rows = rows
        ctx.save_for_backward(features, emb, a, b, small, w if keep else None)
        return features @ w.view(rows, -1).T

    @staticmethod
    def backward(ctx, gy):
        features, emb, a, b, seg, w = ctx.saved_tensors
        rows = ctx.rows
        seg = seg.long()
        need_f, need_e, _, need_a, need_b, _, _ = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph: the same formulas, differentiable
            w = _pw_weights(emb, seg, a, b)
            gw = (gy.T @ features).view(w.shape)
            g_f = gy @ w.view(rows, -1) if need_f else None
        else:
            if w is None:
                w = _pw_weights(emb, seg, a, b)
            g_f = gy @ w.view(rows, -1) if need_f else None
            gw = torch.mm(gy.T, features, out=w.view(rows, -1)).view(w.shape)  # W's buffer is free now
        g_e, g_a, g_b = _pw_grads(gw, emb, seg, a, need_e, need_a, need_b)
        return g_f, g_e, None, g_a, g_b, None, None


def _regenerate_backward(generate, saved, need, grad_w):
    """Backward of a generator whose activations were not kept: regenerate ``w = generate(*saved)`` and
    backpropagate ``grad_w`` through it to the inputs flagged in ``need``.

    Returns ``(w, grads)``: ``w`` (detached unless autograd is recording, i.e. under ``create_graph``, where the
    regeneration stays on the graph so higher derivatives are exact) and one gradient or None per input.
    """
    create = torch.is_grad_enabled()
    inputs = saved if create else [t.detach().requires_grad_(n) for t, n in zip(saved, need)]
    with torch.enable_grad():
        w = generate(*inputs)
    wanted = [t for t, n in zip(inputs, need) if n]
    grads = iter(torch.autograd.grad(w, wanted, grad_w, create_graph=create) if wanted else ())
    return (w if create else w.detach()), tuple(next(grads) if n else None for n in need)


class _GeneratedLinear(torch.autograd.Function):
    """``features (N, K) @ generate(emb, *params).T`` -> ``(N, rows)``, the generated weights never stored.

    Backward regenerates them with autograd on (activation checkpointing of the generator only, not of the
    GEMM) and backpropagates ``grad_W = gy^T features`` through the generator. Under ``create_graph`` the
    regeneration stays on the graph, so higher derivatives are exact.
    """

    @staticmethod
    def forward(ctx, generate, features, emb, *params):
        ctx.generate = generate
        ctx.save_for_backward(features, emb, *params)
        return features @ generate(emb, *params).T

    @staticmethod
    def backward(ctx, gy):
        features, *saved = ctx.saved_tensors
        w, grads = _regenerate_backward(ctx.generate, saved, ctx.needs_input_grad[2:], gy.T @ features)
        g_feat = gy @ w if ctx.needs_input_grad[1] else None
        return (None, g_feat) + grads


class _Regenerate(torch.autograd.Function):
    """``generate(emb, *params)`` whose intermediate activations are not kept: backward regenerates them.

    (Activation checkpointing of the generator without ``torch.utils.checkpoint``.) Under ``create_graph`` the
    regeneration stays on the graph, so higher derivatives are exact.
    """

    @staticmethod
    def forward(ctx, generate, emb, *params):
        ctx.generate = generate
        ctx.save_for_backward(emb, *params)
        return generate(emb, *params)

    @staticmethod
    def backward(ctx, gw):
        _, grads = _regenerate_backward(ctx.generate, list(ctx.saved_tensors), ctx.needs_input_grad[1:], gw)
        return (None,) + grads


def _rows_matmul(generate, features, emb, *params):
    """``features (N, in * n_out) @ generate(emb, *params).T`` -> ``(N, rows)``."""
    return features @ generate(emb, *params).T


#: Cost-model constants of :meth:`TuckerCoefficients.contraction_costs`, measured on the project's CPUs:
#: multiply-adds per element moved at memory speed (tensors of CACHE_ELEMENTS and more) or from cache
#: (interpolated in between), and per kernel launch.
MAC_PER_ELEMENT = 32
MAC_PER_ELEMENT_CACHED = 4
CACHE_ELEMENTS = 262144
MAC_PER_OP = 125_000

#: Default number of edges whose coefficients a MetaKAN layer generates at once (see HyperCoefficients).
DEFAULT_CHUNK_SIZE = 262144


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
    forward pass. A scalar embedding (``embedding_dim=1``, the default) makes the hypernet a piecewise-linear
    function of it, evaluated from small tables (:func:`piecewise_tables`): no ``hyper_hidden``-wide activations
    at all, and backward regenerates a chunk from one saved byte per edge. The defaults (``recompute=True``,
    262144 edges per chunk) come from benchmarks/memory.py (docs/benchmarks.md): on a [784, 1024, 1024, 10]
    network, batch 128, they keep the peak at about a quarter of a KAN's; 65536-edge chunks get it to about a
    sixth. Two runs put both at 1.25-1.55x KAN's step time, in opposite orders (the machine was shared), so the
    default takes the fewer, larger GEMMs.

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

    def _generator(self):
        """``(fn, params)`` with ``fn(embeddings[rows], *params) -> (rows, in * (n_basis + 1))`` = scaled ``[w, C]``.

        fc2 gets the scale folded in and its outputs reordered to ``[w, C]`` (tiny tensors). A scalar embedding
        goes through :func:`piecewise_tables`: one segment lookup and one multiply-add per edge instead of
        ``hyper_hidden``-wide activations.
        """
        fc1, fc2 = self.hypernet.fc1, self.hypernet.fc2
        w2 = (fc2.weight * self.scale.unsqueeze(-1)).index_select(0, self._order)
        b2 = (fc2.bias * self.scale).index_select(0, self._order)
        if self.embedding_dim == 1:
            return _piecewise_rows, piecewise_tables(fc1.weight, fc1.bias, w2, b2)
        return _hyper_rows, (fc1.weight, fc1.bias, w2, b2)

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
        fn, params = self._generator()
        shape = (self.out_features, self.in_features, self.n_basis + 1)
        if fn is _piecewise_rows:  # keeps one byte per edge for backward: nothing to recompute
            return _PiecewiseGenerate.apply(self.embeddings.reshape(-1), *params).view(shape)
        if not self._checkpointing():
            return fn(self.embeddings, *params).view(shape)
        parts = [_Regenerate.apply(fn, self.embeddings[a:b], *params) for a, b in self._chunks()]
        return torch.cat(parts, 0).view(shape)

    def packed_columns(self, index):
        fn, params = self._generator()
        emb = self.embeddings[:, index]
        shape = (self.out_features, index.shape[0], self.n_basis + 1)
        if fn is _piecewise_rows:
            return _PiecewiseGenerate.apply(emb.reshape(-1), *params).view(shape)
        return fn(emb, *params).view(shape)

    def coefficients(self):
        cw = self.packed()
        return cw[..., 1:], cw[..., 0]

    def contract(self, features):
        n = features.shape[0]
        fn, params = self._generator()
        train = torch.is_grad_enabled()
        chunks = self._chunks() if (self.recompute or not train) else [(0, self.out_features)]
        if fn is _piecewise_rows:
            f2 = features.reshape(n, -1)
            emb = self.embeddings.reshape(-1)
            n_in = self.in_features
            ys = [_PiecewiseLinear.apply(f2, emb[lo * n_in:hi * n_in], *params, hi - lo, not self.recompute)
                  for lo, hi in chunks]
        else:
            f2 = features.reshape(n, -1)
            if self.recompute and train:
                ys = [_GeneratedLinear.apply(fn, f2, self.embeddings[lo:hi], *params) for lo, hi in chunks]
            else:
                ys = [_rows_matmul(fn, f2, self.embeddings[lo:hi], *params) for lo, hi in chunks]
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
            factors.append(nn.Parameter(q.contiguous().to(device)))  # QR returns column-major; L-BFGS views flat
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

    def packed_columns(self, index):
        c = tucker_to_tensor(self.core, [self.u_out, self.u_in[index], self.u_basis])
        return torch.cat([self.base_weight[:, index].unsqueeze(-1), c], dim=-1)

    def contraction_costs(self, n: int) -> tuple[float, float]:
        """Estimated cost of one forward+backward of the ``(factored, materialised)`` paths for a batch of ``n``.

        Units are multiply-adds. Both paths are dominated by different things: the materialised one by its
        GEMM over ``in * (n_basis + 1)`` (and by writing ``C`` and its gradient), the factored one by passes over
        its ``(N, in, rank)`` intermediates, which run at memory speed, not GEMM speed: each element moved
        costs :data:`MAC_PER_ELEMENT` multiply-adds (:data:`MAC_PER_ELEMENT_CACHED` while a tensor fits in
        cache), and each kernel launch :data:`MAC_PER_OP`. The constants were measured on the project's CPUs
        (``benchmarks/layer_speed.py --tucker-paths``; docs/benchmarks.md compares the model's pick with the
        measured winner per layer shape); a GPU shifts them but not which path wins at the extremes.
        """
        o, i, m = self.shape
        ro, ri, rb = self.ranks

        def per_element(size):  # tensors that stay in cache are moved far more cheaply
            return MAC_PER_ELEMENT_CACHED + (MAC_PER_ELEMENT - MAC_PER_ELEMENT_CACHED) * min(1.0, size / CACHE_ELEMENTS)

        gemm = 3 * n * i * (m + 1) * o
        build = o * ro * ri * rb + o * ri * i * rb + o * i * rb * m  # tucker_to_tensor, left to right
        dense = gemm + 3 * build + per_element(o * i * (m + 1)) * 4 * o * i * (m + 1) + MAC_PER_OP * 6
        macs = 3 * n * (i * (m + 1) * rb + i * rb * ri + ri * rb * ro + ro * o + i * o)
        moved = 3 * n * (i * (m + 1) + 2 * i * rb + 2 * rb * ri + ro + 2 * o)
        factored = macs + per_element(n * i * (m + 1)) * moved + MAC_PER_OP * 8
        return float(factored), float(dense)

    def factored_is_cheaper(self, n: int) -> bool:
        """Whether the factored contraction is estimated cheaper than materialising ``C`` for a batch of ``n``."""
        factored, dense = self.contraction_costs(n)
        return factored < dense

    def contract(self, features):
        n = features.shape[0]
        if not self.factored_is_cheaper(n):
            return super().contract(features)
        return self.contract_factored(features)

    def contract_factored(self, features: torch.Tensor) -> torch.Tensor:
        """``features (N, in, n_basis + 1)`` -> ``(N, out)`` through the factors, never forming ``C``."""
        n = features.shape[0]
        o, i, m = self.shape
        ro, ri, rb = self.ranks
        # basis factor with a zero row for the activation column: one GEMM on the features as they are
        u_basis = torch.cat([self.u_basis.new_zeros(1, rb), self.u_basis])
        z = (features.reshape(n * i, m + 1) @ u_basis).view(n, i, rb)
        z = torch.matmul(z.transpose(1, 2), self.u_in)  # (N, rb, ri), batched over points, no copies
        z = z.reshape(n, rb * ri) @ self.core.permute(0, 2, 1).reshape(ro, rb * ri).T
        return torch.addmm(features[..., 0] @ self.base_weight.T, z, self.u_out.T)


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
