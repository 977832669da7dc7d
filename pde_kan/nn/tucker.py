"""Tucker (multilinear) tensors for 3-way coefficient tensors ``(out, in, n_basis)``.

``T = G x1 U1 x2 U2 x3 U3`` with core ``G: (r1, r2, r3)`` and factors ``U_n: (dim_n, r_n)``.
"""
from __future__ import annotations

from typing import Sequence

import torch


def check_ranks(ranks: Sequence[int], shape: Sequence[int], owner: str) -> tuple[int, int, int]:
    """Validate Tucker ranks against a tensor shape; each rank must lie in ``[1, dim]``."""
    try:
        ranks = tuple(int(r) for r in ranks)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: ranks must be three integers (r_out, r_in, r_basis), got {ranks!r}.") from None
    if len(ranks) != 3:
        raise ValueError(f"{owner}: ranks must be three integers (r_out, r_in, r_basis), got {ranks!r}.")
    names = ("r_out", "r_in", "r_basis")
    for name, r, dim in zip(names, ranks, shape):
        if not 1 <= r <= dim:
            raise ValueError(
                f"{owner}: ranks {name}={r} must be between 1 and the tensor's dimension {dim} "
                f"(tensor shape {tuple(shape)}); lower the rank."
            )
    return ranks


def tucker_to_tensor(core: torch.Tensor, factors: Sequence[torch.Tensor]) -> torch.Tensor:
    """``core (r1, r2, r3)`` and factors ``(d_n, r_n)`` -> full tensor ``(d1, d2, d3)``."""
    u1, u2, u3 = factors
    return torch.einsum("abc,ia,jb,kc->ijk", core, u1, u2, u3)


def unfold(t: torch.Tensor, mode: int) -> torch.Tensor:
    """Mode-n unfolding ``(d_mode, prod(other dims))``."""
    return torch.movedim(t, mode, 0).reshape(t.shape[mode], -1)


def hosvd(t: torch.Tensor, ranks: Sequence[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Truncated higher-order SVD of a 3-way tensor: exact when ranks equal the multilinear ranks."""
    ranks = check_ranks(ranks, t.shape, "hosvd")
    factors = []
    for mode, r in enumerate(ranks):
        m = unfold(t, mode)
        # a rank above the product of the other dimensions needs the full U (zero core slices) to keep the
        # requested core shape; only then is the (small) square right factor computed
        u, _, _ = torch.linalg.svd(m, full_matrices=r > min(m.shape))
        factors.append(u[:, :r])
    core = torch.einsum("ijk,ia,jb,kc->abc", t, *factors)
    return core, factors
