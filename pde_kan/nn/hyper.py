"""MetaKAN's coefficient source: a hypernetwork generates every edge's coefficients (arXiv 2506.07549).

:class:`HyperNet` maps one small embedding per edge to the edge's numbers; :class:`HyperCoefficients` is the
:class:`~pde_kan.nn.layer.CoefficientSource` that owns the embeddings and generates ``[w, C]`` on the fly, in
chunks, with the autograd functions below regenerating them in backward instead of storing them. (Over 400
lines because those functions are the memory saving and live next to the source that calls them.)
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from .._checks import choice, positive_int
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


def _hyper_rows(emb, w1, b1, w2, b2):
    """ReLU hypernet on ``emb (rows, in, e)`` with a (permuted, scaled) output layer -> ``(rows, in * n_out)``."""
    h = torch.relu(torch.addmm(b1, emb.reshape(-1, emb.shape[-1]), w1.T))
    return torch.addmm(b2, h, w2.T).view(emb.shape[0], -1)


def _affine_rows(emb, w, b):
    """Affine hypernet ``e -> w e + b`` (fc2 fc1 folded) on ``emb (rows, in, e)`` -> ``(rows, in * n_out)``."""
    return torch.addmm(b, emb.reshape(-1, emb.shape[-1]), w.T).view(emb.shape[0], -1)


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
    """``W (E, n_out) = A[seg] * e + B[seg]`` (outside autograd: in place on the gathered ``B`` rows, one
    chunk-sized temporary fewer)."""
    if torch.is_grad_enabled():
        return torch.addcmul(b.index_select(0, seg), a.index_select(0, seg), emb.unsqueeze(1))
    return b.index_select(0, seg).addcmul_(a.index_select(0, seg), emb.unsqueeze(1))


class Workspace:
    """Two scratch matrices for generating one chunk of coefficients, reused by every chunk of every layer that
    shares the workspace (a network's layers run one after another), so that a training step allocates no
    chunk-sized temporaries: with glibc's default allocator, freeing and reallocating them is what grows the
    process's resident memory well beyond the live tensors (benchmarks/memory.py). Grows to the largest chunk
    it has served; not part of the model's state (a deep copy starts empty).
    """

    def __init__(self):
        self._buf: Optional[torch.Tensor] = None

    def get(self, rows: int, cols: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two contiguous ``(rows, cols)`` matrices of ``like``'s dtype and device (contents undefined)."""
        n = rows * cols
        buf = self._buf
        if buf is None or buf.numel() < 2 * n or buf.dtype != like.dtype or buf.device != like.device:
            self._buf = buf = None  # let the old buffer go before the new one is allocated
            self._buf = buf = like.new_empty(2 * n)
        return buf[:n].view(rows, cols), buf[n:2 * n].view(rows, cols)

    def __deepcopy__(self, memo):
        return Workspace()


def _pw_weights_into(ws: Workspace, emb, seg, a, b) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`_pw_weights` written into the workspace: ``(W, scratch)``, both ``(E, n_out)`` views of it."""
    w, t = ws.get(seg.shape[0], a.shape[1], a)
    torch.index_select(b, 0, seg, out=w)
    torch.index_select(a, 0, seg, out=t)
    return w.add_(t.mul_(emb.unsqueeze(1))), t


def _pw_grads(gw, emb, seg, a, need_e, need_a, need_b, scratch=None):
    """Gradients of ``sum(gw * W)`` with respect to the embeddings and the tables; ``gw (E, n_out)``.

    Per-segment sums for the tables (``index_add``); with autograd recording (``create_graph``) the same
    formulas are built out of differentiable operations. ``gw`` may be overwritten, and so may ``scratch`` (an
    ``(E, n_out)`` buffer for the gathered table rows) when given.
    """
    if torch.is_grad_enabled():
        zeros = a.new_zeros(a.shape)
        return ((gw * a.index_select(0, seg)).sum(1) if need_e else None,
                zeros.index_add(0, seg, gw * emb.unsqueeze(1)) if need_a else None,
                zeros.index_add(0, seg, gw) if need_b else None)
    if need_e:
        rows_a = a.index_select(0, seg) if scratch is None else torch.index_select(a, 0, seg, out=scratch)
        g_e = rows_a.mul_(gw).sum(1)
    else:
        g_e = None
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
    gradients as per-segment sums (``index_add``). Without ``keep``, ``W`` and the gathered table rows live in
    the :class:`Workspace` ``ws``, in forward and in backward. Under ``create_graph`` the backward runs the same
    formulas with autograd recording them, so higher derivatives are exact.
    """

    @staticmethod
    def forward(ctx, features, emb, s, a, b, rows, keep, ws):
        seg, small = _segments(emb, s)
        w = _pw_weights(emb, seg, a, b) if keep else _pw_weights_into(ws, emb, seg, a, b)[0]
        ctx.rows, ctx.ws = rows, ws
        ctx.save_for_backward(features, emb, a, b, small, w if keep else None)
        return features @ w.view(rows, -1).T

    @staticmethod
    def backward(ctx, gy):
        features, emb, a, b, seg, w = ctx.saved_tensors
        rows = ctx.rows
        seg = seg.long()
        need_f, need_e, _, need_a, need_b, _, _, _ = ctx.needs_input_grad
        scratch = None
        if torch.is_grad_enabled():  # create_graph: the same formulas, differentiable
            w = _pw_weights(emb, seg, a, b)
            gw = (gy.T @ features).view(w.shape)
            g_f = gy @ w.view(rows, -1) if need_f else None
        else:
            if w is None:
                w, scratch = _pw_weights_into(ctx.ws, emb, seg, a, b)
            g_f = gy @ w.view(rows, -1) if need_f else None
            gw = torch.mm(gy.T, features, out=w.view(rows, -1)).view(w.shape)  # W's buffer is free now
        g_e, g_a, g_b = _pw_grads(gw, emb, seg, a, need_e, need_a, need_b, scratch)
        return g_f, g_e, None, g_a, g_b, None, None, None


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
    function of it, evaluated from small tables (:func:`piecewise_tables`): no ``hyper_hidden``-wide activations
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
        #: chunk scratch space; MetaKAN gives all its layers one (see :class:`Workspace`)
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
                return _piecewise_rows, (w.new_empty(0), w.T, b.unsqueeze(0))
            return _affine_rows, (w, b)
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
        if fn is _piecewise_rows:  # keeps one byte per edge for backward: nothing to recompute
            gen = _PiecewiseGenerate.apply(self.embeddings.reshape(-1), *params).view(shape)
        elif not self._checkpointing():
            gen = fn(self.embeddings, *params).view(shape)
        else:
            parts = [_Regenerate.apply(fn, self.embeddings[a:b], *params) for a, b in self._chunks()]
            gen = torch.cat(parts, 0).view(shape)
        return self._with_base(gen)

    def packed_columns(self, index):
        fn, params = self._generator()
        emb = self.embeddings[:, index]
        shape = (self.out_features, index.shape[0], -1)
        if fn is _piecewise_rows:
            gen = _PiecewiseGenerate.apply(emb.reshape(-1), *params).view(shape)
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
        if fn is _piecewise_rows:
            emb = self.embeddings.reshape(-1)
            n_in = self.in_features
            ys = [_PiecewiseLinear.apply(f2, emb[lo * n_in:hi * n_in], *params, hi - lo, not self.recompute,
                                         self.workspace) for lo, hi in chunks]
        elif self.recompute and train:
            ys = [_GeneratedLinear.apply(fn, f2, self.embeddings[lo:hi], *params) for lo, hi in chunks]
        else:
            ys = [_rows_matmul(fn, f2, self.embeddings[lo:hi], *params) for lo, hi in chunks]
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
