"""Probe directions for forward jets.

A jet along directions ``v_1 .. v_K`` (with optional weights ``a_k``) carries, for every feature,
first directional derivatives ``T[..., k] = ∇f · v_k`` and the weighted sum of second directional
derivatives ``S = sum_k a_k v_k^T (∇²f) v_k``. ``scale * S`` is the Laplacian (exact) or an unbiased
estimate of it (stochastic):

* :class:`Coordinates` — unit vectors ``e_i`` for ``i`` in ``index``. All coordinates: exact Laplacian
  (scale 1). A random subset of K of d coordinates: SDGD, scale ``d / K``.
* :class:`Dense` — per-point vectors ``V: (N, d, K)`` with ``E[v v^T] = I`` (Rademacher or Gaussian):
  Hutchinson, scale ``1 / K``.

Weights let a problem take the Laplacian over some coordinates while still reading first derivatives of
others (e.g. the time coordinate gets weight 0: its tangent is ``u_t``, and ``u_tt`` stays out of ``S``).
"""
from __future__ import annotations

from typing import Optional

import torch


class Directions:
    """Base class; see the module docstring. ``dim`` is the input dimension, ``n_probes`` the number of
    directions (K)."""

    dim: int
    n_probes: int
    scale: float
    weights: Optional[torch.Tensor]  # (K,) or None for all ones
    index: Optional[torch.Tensor]  # (K,) coordinate indices for Coordinates, None for Dense

    def weighted_sq(self, dtype: torch.dtype) -> torch.Tensor:
        """``sum_k a_k v_ik^2`` per input coordinate: ``(d,)`` or ``(N, d)`` of ``dtype``."""
        raise NotImplementedError

    def apply(self, d1: torch.Tensor) -> torch.Tensor:
        """Push per-input derivatives ``d1 (N, out, d)`` (or ``(out, d)``) onto the directions -> ``(N, out, K)``."""
        raise NotImplementedError

    def project(self, grad: torch.Tensor) -> torch.Tensor:
        """Directional derivatives of scalar fields with gradient ``grad (N, d)`` -> ``(N, K)``."""
        return self.apply(grad.unsqueeze(1)).squeeze(1)

    def quad_diag(self, hess_diag: torch.Tensor) -> torch.Tensor:
        """``sum_k a_k v_k^T diag(h) v_k`` for a diagonal Hessian ``h (N, d)`` -> ``(N,)``."""
        return (hess_diag * self.weighted_sq(hess_diag.dtype)).sum(-1)

    def cross(self, u: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """``sum_k a_k (u · v_k)(w · v_k)`` for ``u, w (N, d)`` -> ``(N,)``.

        ``v^T (u w^T + w u^T) v = 2 (u·v)(w·v)``, so Hessians with low-rank parts (radial fields, products with
        a time factor) reduce to this plus :meth:`quad_diag`.
        """
        p = self.project(u) * self.project(w)
        return p @ self.weights.to(p.dtype) if self.weights is not None else p.sum(-1)


class Coordinates(Directions):
    """Unit directions ``e_i`` for ``i in index``; ``scale`` converts ``S`` to the Laplacian (estimate)."""

    def __init__(self, index: torch.Tensor, dim: int, scale: float = 1.0, weights: Optional[torch.Tensor] = None):
        self.index = index
        self.dim = dim
        self.n_probes = int(index.numel())
        self.scale = float(scale)
        self.weights = weights

    @classmethod
    def all(cls, dim: int, device=None, weights: Optional[torch.Tensor] = None) -> "Coordinates":
        """Every coordinate: the exact Laplacian (weights select a sub-Laplacian)."""
        return cls(torch.arange(dim, device=device), dim, 1.0, weights)

    def weighted_sq(self, dtype):
        return torch.bincount(self.index, weights=self.weights, minlength=self.dim).to(dtype)

    def apply(self, d1):
        return d1[..., self.index]


class Dense(Directions):
    """Per-point directions ``vectors: (N, d, K)``; ``scale`` converts ``S`` to the Laplacian estimate."""

    index = None

    def __init__(self, vectors: torch.Tensor, scale: float, weights: Optional[torch.Tensor] = None):
        self.vectors = vectors
        self.dim = vectors.shape[1]
        self.n_probes = vectors.shape[2]
        self.scale = float(scale)
        self.weights = weights

    def weighted_sq(self, dtype):
        sq = (self.vectors * self.vectors).to(dtype)
        return sq @ self.weights if self.weights is not None else sq.sum(-1)

    def apply(self, d1):
        if d1.ndim == 2:
            return torch.einsum("od,ndk->nok", d1, self.vectors)
        return torch.bmm(d1, self.vectors)


def sdgd(dim: int, n_probes: int, generator: torch.Generator, device=None) -> Coordinates:
    """K = ``n_probes`` distinct coordinates drawn uniformly; ``scale = d / K`` makes ``scale * S`` unbiased for
    the Laplacian."""
    index = torch.randperm(dim, generator=generator)[:n_probes].to(device)
    return Coordinates(index, dim, dim / n_probes)


def hutchinson(n: int, dim: int, n_probes: int, generator: torch.Generator, dtype=torch.float64, device=None,
               distribution: str = "rademacher") -> Dense:
    """K = ``n_probes`` independent probe vectors per point with ``E[v v^T] = I``; ``scale = 1 / K``."""
    if distribution == "rademacher":
        v = torch.randint(0, 2, (n, dim, n_probes), generator=generator).to(dtype) * 2 - 1
    elif distribution == "gaussian":
        v = torch.randn((n, dim, n_probes), generator=generator, dtype=dtype)
    else:
        raise ValueError(f"unknown distribution {distribution!r}; valid names: 'rademacher', 'gaussian'.")
    return Dense(v.to(device), 1.0 / n_probes)
