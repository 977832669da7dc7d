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

from .._checks import positive_int
from .activations import get_activation
from .splines import BSplineBasis
from .tucker import check_ranks, tucker_to_tensor


def _normal(shape, std, generator, dtype, device) -> torch.Tensor:
    t = torch.randn(shape, generator=generator, dtype=dtype)
    return (t * std).to(device)


class CoefficientSource(nn.Module):
    """Supplies a KAN layer's spline coefficients ``C (out, in, n_basis)`` and base weights ``w (out, in)``."""

    out_features: int
    in_features: int
    n_basis: int

    def coefficients(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(C, w)`` with shapes ``(out, in, n_basis)`` and ``(out, in)``."""
        raise NotImplementedError

    def contract(self, features: torch.Tensor) -> torch.Tensor:
        """``features (N, in, n_basis + 1)`` = [silu(x), B(x)] -> ``(N, out)``: one GEMM over in * (n_basis + 1)."""
        c, w = self.coefficients()
        weight = torch.cat([w.unsqueeze(-1), c], dim=-1).reshape(self.out_features, -1)
        return features.reshape(features.shape[0], -1) @ weight.T

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


class HyperCoefficients(CoefficientSource):
    """MetaKAN: ``[C_ji, w_ji] = scale * H(e_ji)`` with one learnable embedding ``e_ji`` per edge.

    The output is scaled by ``1/sqrt(in)`` (a fixed buffer) so that a layer's output variance does not grow
    with its fan-in, as for a dense init. Parameters: ``out * in * embedding_dim`` plus the hypernet's (which
    may be shared between layers and is then counted once by the backbone).

    Args:
        hypernet: the :class:`HyperNet` to use (shared between layers) or None for a private one.
        init_scale: extra factor on the spline part, matching :class:`DenseCoefficients`.
    """

    def __init__(self, in_features, out_features, n_basis, *, embedding_dim=1, hyper_hidden=16,
                 hypernet: Optional[HyperNet] = None, init_scale=0.1, generator=None,
                 dtype=torch.float64, device=None):
        super().__init__()
        self.in_features, self.out_features, self.n_basis = in_features, out_features, n_basis
        self.embedding_dim = embedding_dim
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

    def generate(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``embeddings (out, in, e)`` -> ``(out, in, n_basis + 1)`` = [C, w] (scaled hypernet output)."""
        flat = embeddings.reshape(-1, self.embedding_dim)
        return (self.hypernet(flat) * self.scale).reshape(self.out_features, self.in_features, self.n_basis + 1)

    def coefficients(self):
        cw = self.generate(self.embeddings)
        return cw[..., :-1], cw[..., -1]

    def param_groups(self):
        return {"hypernet": list(self.hypernet.parameters()), "embeddings": [self.embeddings]}


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
        return torch.cat([self.act.f(x).unsqueeze(-1), self.basis(x).value], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.coefficients.contract(self.features(x))

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, basis={self.basis!r}, base={self.base_activation}"
