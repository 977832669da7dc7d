"""MetaKAN's memory saving: autograd functions that generate a layer's coefficients chunk by chunk and regenerate
them in backward instead of storing them (private to :mod:`pde_kan.nn.hyper`).

A generator ``fn(embeddings[rows], *params) -> (rows, in * n_out)`` maps a chunk of edges' embeddings to their
numbers in the layer's packed order: :func:`hyper_rows` (ReLU hypernet), :func:`affine_rows` (identity hypernet)
or :func:`piecewise_rows` (a scalar embedding through :func:`piecewise_tables`). The autograd functions multiply a
chunk into the output (:class:`GeneratedLinear`, :class:`PiecewiseLinear`) or return it (:class:`Regenerate`,
:class:`PiecewiseGenerate`) without keeping the generator's activations; under ``create_graph`` their backward
passes record the same formulas, so higher derivatives are exact.

On the CPU (float32 / float64, fewer than 256 segments) the piecewise generation and its backward run in the fused
C kernels of ``_pwkernel.c`` (one pass over the edges each instead of a bucketize, gathers, multiply-adds and
``index_add`` s); where that module was not built, or on other devices, the same formulas run as torch operations.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

try:  # built by `pip install` from _pwkernel.c; optional (the torch operations below are the fallback)
    from . import _pwkernel as _KERNEL
except ImportError:  # pragma: no cover - depends on the install
    _KERNEL = None


def hyper_rows(emb, w1, b1, w2, b2):
    """ReLU hypernet on ``emb (rows, in, e)`` with a (permuted, scaled) output layer -> ``(rows, in * n_out)``."""
    h = torch.relu(torch.addmm(b1, emb.reshape(-1, emb.shape[-1]), w1.T))
    return torch.addmm(b2, h, w2.T).view(emb.shape[0], -1)


def affine_rows(emb, w, b):
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


def piecewise_rows(emb, s, A, B):
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


def fused_kernels_available() -> bool:
    """Whether MetaKAN's fused C kernels were built at install (``pde_kan.nn._pwkernel``). Without them MetaKAN
    computes the same numbers with torch operations, slower on the CPU (docs/metakan.md, "Memory and speed")."""
    return _KERNEL is not None


def _fused(s, emb, *tables) -> bool:
    """Whether the C kernels can serve these tensors: built, not recording (``create_graph``), all on the CPU in
    one float dtype, fewer than 256 segments (they are saved as bytes), ``emb`` contiguous (the small tables are
    made contiguous by the callers). ``s`` None: the segments are given, no search."""
    if _KERNEL is None or torch.is_grad_enabled() or (s is not None and s.shape[0] >= 256):
        return False
    tensors = (emb, *tables) if s is None else (emb, s, *tables)
    return emb.dtype in (torch.float32, torch.float64) and emb.is_contiguous() and all(
        t.device.type == "cpu" and t.dtype == emb.dtype for t in tensors)


def _fused_weights(emb, s, a, b, w, seg=None):
    """``w (E, n_out) <- A[seg] * e + B[seg]`` in one pass; ``seg`` (uint8) is searched in ``s`` and returned when
    not given. ``emb (E,)``, ``w`` contiguous; ``a``, ``b`` ``(n_seg, n_out)``."""
    a, b = a.contiguous(), b.contiguous()
    given = seg is not None
    if not given:
        seg = torch.empty(emb.shape[0], dtype=torch.uint8)
    _KERNEL.generate(emb.dtype == torch.float64, emb.data_ptr(), emb.shape[0],
                     0 if given else s.data_ptr(), 0 if given else s.shape[0], a.data_ptr(), b.data_ptr(),
                     a.shape[1], w.data_ptr(), 0 if given else seg.data_ptr(), seg.data_ptr() if given else 0)
    return seg


def _fused_grads(gw, emb, seg, a, need_e, need_a, need_b):
    """:func:`_pw_grads` in one pass (per-segment sums accumulated in double); ``seg`` uint8."""
    a = a.contiguous()
    g_e = emb.new_empty(emb.shape) if need_e else None
    g_a = a.new_empty(a.shape) if need_a else None
    g_b = a.new_empty(a.shape) if need_b else None
    _KERNEL.grads(emb.dtype == torch.float64, gw.data_ptr(), emb.data_ptr(), seg.data_ptr(), emb.shape[0],
                  a.data_ptr(), a.shape[0], a.shape[1], *(0 if t is None else t.data_ptr() for t in (g_e, g_a, g_b)))
    return g_e, g_a, g_b


class Workspace:
    """Two scratch matrices for generating one chunk of coefficients, reused by every chunk of every layer that
    shares the workspace (a network's layers run one after another), so that a training step allocates no
    chunk-sized temporaries: with glibc's default allocator, freeing and reallocating them is what grows the
    process's resident memory well beyond the live tensors (benchmarks/memory.py). Grows to the largest chunk
    it has served; not part of the model's state (a deep copy starts empty).
    """

    def __init__(self):
        self._buf: Optional[torch.Tensor] = None

    def get(self, rows: int, cols: int, like: torch.Tensor, count: int = 2) -> tuple[torch.Tensor, ...]:
        """``count`` contiguous ``(rows, cols)`` matrices of ``like``'s dtype and device (contents undefined): two
        for the torch operations (the weights and the gathered table rows), one for the fused kernels."""
        n = rows * cols
        buf = self._buf
        if buf is None or buf.numel() < count * n or buf.dtype != like.dtype or buf.device != like.device:
            self._buf = buf = None  # let the old buffer go before the new one is allocated
            self._buf = buf = like.new_empty(count * n)
        return tuple(buf[i * n:(i + 1) * n].view(rows, cols) for i in range(count))

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


class PiecewiseGenerate(torch.autograd.Function):
    """Scalar embeddings ``emb (E,)`` through :func:`piecewise_tables` ``(s, A, B)`` -> ``W (E, n_out)``.

    Saves one byte per edge (its segment) instead of the gathered table rows autograd would keep.
    """

    @staticmethod
    def forward(ctx, emb, s, a, b):
        if _fused(s, emb, a, b):
            w = a.new_empty(emb.shape[0], a.shape[1])
            small = _fused_weights(emb, s, a, b, w)
        else:
            seg, small = _segments(emb, s)
            w = _pw_weights(emb, seg, a, b)
        ctx.save_for_backward(emb, a, small)
        return w

    @staticmethod
    def backward(ctx, gw):
        emb, a, seg = ctx.saved_tensors
        need_e, _, need_a, need_b = ctx.needs_input_grad
        if seg.dtype == torch.uint8 and _fused(None, emb, a):
            g_e, g_a, g_b = _fused_grads(gw.contiguous(), emb, seg, a, need_e, need_a, need_b)
        else:
            gw = gw if torch.is_grad_enabled() else gw.clone()
            g_e, g_a, g_b = _pw_grads(gw, emb, seg.long(), a, need_e, need_a, need_b)
        return g_e, None, g_a, g_b


class PiecewiseLinear(torch.autograd.Function):
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
        if _fused(s, emb, a, b):
            w = a.new_empty(emb.shape[0], a.shape[1]) if keep else ws.get(emb.shape[0], a.shape[1], a, 1)[0]
            small = _fused_weights(emb, s, a, b, w)
        else:
            seg, small = _segments(emb, s)
            w = _pw_weights(emb, seg, a, b) if keep else _pw_weights_into(ws, emb, seg, a, b)[0]
        ctx.rows, ctx.ws = rows, ws
        ctx.save_for_backward(features, emb, a, b, small, w if keep else None)
        return features @ w.view(rows, -1).T

    @staticmethod
    def backward(ctx, gy):
        features, emb, a, b, small, kept = ctx.saved_tensors
        rows = ctx.rows
        need_f, need_e, _, need_a, need_b, _, _, _ = ctx.needs_input_grad
        if torch.is_grad_enabled():  # create_graph: the same formulas, differentiable
            seg = small.long()
            w = _pw_weights(emb, seg, a, b)
            gw = (gy.T @ features).view(w.shape)
            g_f = gy @ w.view(rows, -1) if need_f else None
            g_e, g_a, g_b = _pw_grads(gw, emb, seg, a, need_e, need_a, need_b)
            return g_f, g_e, None, g_a, g_b, None, None, None
        fused = small.dtype == torch.uint8 and _fused(None, emb, a, b)
        seg = None if fused else small.long()
        scratch = None
        if kept is not None:
            w = kept
        elif fused:
            w = ctx.ws.get(emb.shape[0], a.shape[1], a, 1)[0]
            _fused_weights(emb, None, a, b, w, small)
        else:
            w, scratch = _pw_weights_into(ctx.ws, emb, seg, a, b)
        g_f = gy @ w.view(rows, -1) if need_f else None
        # W's buffer is free now, unless W was kept (a second backward with retain_graph reads it again)
        gw = (gy.T @ features if kept is not None else torch.mm(gy.T, features, out=w.view(rows, -1))).view(w.shape)
        if fused:
            g_e, g_a, g_b = _fused_grads(gw, emb, small, a, need_e, need_a, need_b)
        else:
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


class GeneratedLinear(torch.autograd.Function):
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


class Regenerate(torch.autograd.Function):
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


def rows_matmul(generate, features, emb, *params):
    """``features (N, in * n_out) @ generate(emb, *params).T`` -> ``(N, rows)``."""
    return features @ generate(emb, *params).T
