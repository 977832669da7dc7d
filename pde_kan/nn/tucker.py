"""Tucker (multilinear) tensors: the one :class:`Tucker` module behind Slim KAN's coefficients and the LoTRA delta.

``T = G x1 U_out x2 U_in x3 U_basis`` of shape ``(d1, d2, d3)`` with core ``G: (r1, r2, r3)`` and factors
``U_n: (d_n, r_n)``. The modes are named after a KAN coefficient tensor ``(out, in, n_basis)``; the LoTRA delta over
MetaKAN's embeddings has ``(out, in, embedding_dim)``. Ranks are resolved in one place, :func:`resolve_ranks`.
"""
from __future__ import annotations

import math
from collections.abc import Sized
from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

from .._checks import choice, positive_int

#: Names of the three modes' ranks, in order (used in error messages).
RANK_NAMES = ("r_out", "r_in", "r_basis")
#: How :class:`Tucker` starts (see its docstring).
TUCKER_INITS = ("random", "zero_core", "hosvd")

Ranks = tuple[int, int, int]
RankSpec = Union[int, float, Sequence[int]]


def rank_spec(spec: Any, *, owner: str) -> Union[float, Ranks]:
    """Check the form of a rank specification, before any tensor shape is known.

    Returns a fraction ``f`` in (0, 1] (a float ``spec``) or a triple of integers >= 1 (an integer ``r`` means
    ``(r, r, r)``: an integer is always a rank, so ``1`` is rank 1, not full rank).
    """
    if isinstance(spec, float):
        if not (math.isfinite(spec) and 0 < spec <= 1):
            raise ValueError(f"{owner}: ranks as a fraction must lie in (0, 1], got {spec!r}; or pass an integer rank "
                             f"or a triple (r_out, r_in, r_basis).")
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        r = positive_int("ranks", spec, owner=owner)
        return (r, r, r)
    if isinstance(spec, (str, bytes, bool)) or not isinstance(spec, Sized) or len(spec) != 3:
        raise ValueError(f"{owner}: ranks must be three integers (r_out, r_in, r_basis), got {spec!r}; or pass one "
                         f"integer rank for every mode, or a fraction in (0, 1] of each dimension.")
    return tuple(positive_int(f"ranks {name}", r, owner=owner) for name, r in zip(RANK_NAMES, spec))


def resolve_ranks(spec: RankSpec, shape: Sequence[int], *, clip: Union[bool, Sequence[bool]] = False,
                  owner: str = "Tucker", where: str = "", fix: str = "lower the rank") -> Ranks:
    """Tucker ranks ``(r_out, r_in, r_basis)`` of a tensor of ``shape`` from a specification.

    Args:
        spec: a triple of integers, one integer for every mode, or a fraction ``f`` in (0, 1] of each dimension
            (``max(1, round(f * d))``); see :func:`rank_spec`.
        shape: the tensor's ``(d1, d2, d3)``.
        clip: which modes clip a rank above their dimension to the dimension: True (every mode; LoTRA without
            ``strict_ranks``), False (none: such a rank raises) or one flag per mode (Slim KAN clips the two
            width modes, so one ranks triple serves layers of every width, but not the basis mode).
        owner, where, fix: the error message's owner, the place after "dimension d" (e.g. ``" of layer
            'layers.0'"``) and its fix.
    """
    shape = tuple(int(d) for d in shape)
    spec = rank_spec(spec, owner=owner)
    if isinstance(spec, float):
        return tuple(max(1, round(spec * d)) for d in shape)
    clips = (clip,) * 3 if isinstance(clip, bool) else tuple(clip)
    ranks = []
    for name, r, d, c in zip(RANK_NAMES, spec, shape, clips):
        if r > d and not c:
            raise ValueError(f"{owner}: ranks {name}={r} must be between 1 and the tensor's dimension {d}{where} "
                             f"(tensor shape {shape}); {fix}.")
        ranks.append(min(r, d))
    return tuple(ranks)


def tucker_to_tensor(core: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``core (r1, r2, r3)`` and factors ``(d_n, r_n)`` -> full tensor ``(d1, d2, d3)``."""
    u1, u2, u3 = factors
    return torch.einsum("abc,ia,jb,kc->ijk", core, u1, u2, u3)


def unfold(t: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-n unfolding ``(d_mode, prod(other dims))``."""
    return torch.movedim(t, mode, 0).reshape(t.shape[mode], -1)


def hosvd(t: torch.Tensor, ranks: RankSpec) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Truncated higher-order SVD of a 3-way tensor: exact when ranks equal the multilinear ranks."""
    ranks = resolve_ranks(ranks, t.shape, owner="hosvd")
    factors = []
    for mode, r in enumerate(ranks):
        m = unfold(t, mode)
        # a rank above the product of the other dimensions needs the full U (zero core slices) to keep the
        # requested core shape; only then is the (small) square right factor computed
        u, _, _ = torch.linalg.svd(m, full_matrices=r > min(m.shape))
        factors.append(u[:, :r])
    core = torch.einsum("ijk,ia,jb,kc->abc", t, *factors)
    return core, factors


def _orthonormal(d: int, r: int, generator: Optional[torch.Generator], dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Q (d, r), s (r,))``: QR of a Gaussian drawn on the CPU from ``generator``, with the signs fixed so that
    R's diagonal is positive (the same Q on every LAPACK); ``s`` are the signs that fix removed from LAPACK's Q."""
    q, rr = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=dtype))
    s = torch.sign(torch.diagonal(rr))
    s = torch.where(s == 0, torch.ones_like(s), s)
    return q * s, s


class Tucker(nn.Module):
    """``T = G x1 U_out x2 U_in x3 U_basis``: a ``(d1, d2, d3)`` tensor kept in Tucker form.

    Parameters, registered in this order: ``u_out (d1, r1)``, ``u_in (d2, r2)``, ``u_basis (d3, r3)``, ``core
    (r1, r2, r3)``; ``r1 r2 r3 + d1 r1 + d2 r2 + d3 r3`` numbers.

    Args:
        shape: ``(d1, d2, d3)``.
        ranks: anything :func:`resolve_ranks` accepts (no clipping: a rank above its dimension raises).
        init: ``"random"``: orthonormal factors (QR of a Gaussian, signs fixed; drawn in the order out, in,
            basis), then a core ``N(0, core_std^2)`` (Slim KAN); the core's slices carry the signs the fix took
            from LAPACK's Q, so the tensor is ``G x_n Q_n`` with LAPACK's own ``Q_n`` (Slim KAN's initial
            coefficients from before its QR init and LoTRA's were merged, bit for bit). ``"zero_core"``: the
            same factors and a zero core, so ``T = 0`` at the start (the LoTRA delta). ``"hosvd"``: the
            truncated HOSVD of ``tensor`` (no random draws).
        core_std: the random core's standard deviation.
        tensor: the ``(d1, d2, d3)`` tensor to factor (``init="hosvd"`` only).
        generator: the random draws' ``torch.Generator`` (on the CPU; the results are moved to ``device``).
        dtype, device: of the parameters.
        init_dtype: dtype the random factors and core are drawn and orthonormalised in (default ``dtype``; the
            LoTRA delta draws in float64 whatever the model's dtype).
        owner: name used in error messages.
    """

    def __init__(self, shape: Sequence[int], ranks: RankSpec, *, init: str = "random", core_std: float = 1.0,
                 tensor: Optional[torch.Tensor] = None, generator: Optional[torch.Generator] = None,
                 dtype=torch.float64, device=None, init_dtype=None, owner: str = "Tucker"):
        super().__init__()
        shape = tuple(int(d) for d in shape)
        init = choice("init", init, TUCKER_INITS, owner=owner)
        self.ranks = resolve_ranks(ranks, shape, owner=owner)
        if (init == "hosvd") != (tensor is not None):
            raise ValueError(f"{owner}: pass tensor= exactly when init='hosvd', got init={init!r} and "
                             f"tensor={'None' if tensor is None else 'a tensor'}.")
        if init == "hosvd":
            if tuple(tensor.shape) != shape:
                raise ValueError(f"{owner}: tensor must have shape {shape}, got {tuple(tensor.shape)}.")
            core, factors = hosvd(tensor.detach(), self.ranks)
        else:
            draw = dtype if init_dtype is None else init_dtype
            factors, signs = zip(*(_orthonormal(d, r, generator, draw) for d, r in zip(shape, self.ranks)))
            if init == "random":
                core = torch.randn(self.ranks, generator=generator, dtype=draw) * core_std
                s1, s2, s3 = signs  # multiplying by +-1 is exact: the tensor is unchanged by the sign fix
                core = core * s1[:, None, None] * s2[None, :, None] * s3[None, None, :]
            else:
                core = torch.zeros(self.ranks, dtype=dtype)
        # contiguous: QR returns column-major factors, and L-BFGS views parameters flat
        self.u_out, self.u_in, self.u_basis = (nn.Parameter(u.contiguous().to(dtype=dtype, device=device))
                                               for u in factors)
        self.core = nn.Parameter(core.contiguous().to(dtype=dtype, device=device))

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(d1, d2, d3)``."""
        return (self.u_out.shape[0], self.u_in.shape[0], self.u_basis.shape[0])

    def factors(self) -> list[torch.Tensor]:
        """``[U_out, U_in, U_basis]``."""
        return [self.u_out, self.u_in, self.u_basis]

    def to_tensor(self, index: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The full tensor ``(d1, d2, d3)``; with ``index (K,)`` only those entries of the second mode:
        ``(d1, K, d3)``, built from the selected rows of ``U_in`` without forming the rest."""
        u_in = self.u_in if index is None else self.u_in[index]
        return tucker_to_tensor(self.core, [self.u_out, u_in, self.u_basis])

    def forward(self, feats: torch.Tensor, *, skip: int = 0, add: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``feats (N, d2, skip + d3)`` -> ``(N, d1) = sum_{i,m} T[:, i, m] feats[:, i, skip + m] (+ add)``,
        through the factors, never forming ``T``.

        ``skip`` leading entries of ``feats``' last mode are ignored (a KAN layer's features start with the base
        activation, the spline tensor sees the basis values after it): zero rows in front of ``U_basis`` let one
        GEMM read the features as they are. ``add (N, d1)`` is added in the last GEMM.
        """
        n, d2, k = feats.shape
        r1, r2, r3 = self.ranks
        u_basis = self.u_basis if skip == 0 else torch.cat([self.u_basis.new_zeros(skip, r3), self.u_basis])
        z = (feats.reshape(n * d2, k) @ u_basis).view(n, d2, r3)
        z = torch.matmul(z.transpose(1, 2), self.u_in)  # (N, r3, r2), batched over points, no copies
        z = z.reshape(n, r3 * r2) @ self.core.permute(0, 2, 1).reshape(r1, r3 * r2).T
        return z @ self.u_out.T if add is None else torch.addmm(add, z, self.u_out.T)

    def extra_repr(self) -> str:
        return f"shape={self.shape}, ranks={self.ranks}"
