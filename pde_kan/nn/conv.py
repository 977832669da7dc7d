"""Convolutional KAN and MetaKAN layers and networks.

A convolutional KAN layer makes every output channel a KAN over the input patch: the patch of ``C * kh * kw``
values around each output position is one input vector, and output channel ``o`` at that position is
``sum_i phi_oi(patch_i)``. It is an ``unfold`` (patches), one :class:`~pde_kan.nn.KANLayer` over
``C * kh * kw`` inputs applied to every patch, and a reshape back to ``(N, out, H', W')``; the coefficient
source decides the variant exactly as for fully connected backbones (dense = KAN, hypernetwork = MetaKAN).

Each (output channel, input channel, kernel offset) triple is one edge with ``n_basis + 1`` numbers, so a
3x3 conv KAN layer has ``9 * in * out`` edges. MetaKAN gives every edge an embedding and generates its numbers
with a hypernetwork; the hypernetworks are shared by all layers (``n_hypernets=1``) or clustered by layer
fan-in (``n_hypernets=k``: layers whose patch widths are close share one hypernet).

Presets (``CONV4``, ``CONV8``) follow the reference convolutional MetaKAN networks: 3x3 kernels with
padding 1, each conv layer followed by batch normalisation, then global average pooling and a linear head.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import choice, positive_int, resolve_dtype
from .backbone import group_parameters, n_parameters
from .hyper import HyperCoefficients, HyperNet
from .layer import CoefficientSource, DenseCoefficients, KANLayer
from .splines import BSplineBasis

CONV_KINDS = ("kan", "metakan")


def _pair(name: str, v, owner: str) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        if len(v) != 2:
            raise ValueError(f"{owner}: {name} must be an int or a pair (h, w), got {v!r}.")
        return (positive_int(name, v[0], minimum=0, owner=owner), positive_int(name, v[1], minimum=0, owner=owner))
    v = positive_int(name, v, minimum=0, owner=owner)
    return (v, v)


class KANConv2d(nn.Module):
    """2-D convolution whose kernel is a KAN layer over each input patch.

    ``x: (N, C_in, H, W)`` -> ``(N, C_out, H', W')`` with the usual convolution output size.

    Args:
        in_channels, out_channels: channel counts.
        kernel_size, stride, padding, dilation: as :class:`torch.nn.Conv2d` (zero padding).
        basis: the B-spline basis of the edge functions.
        source: a coefficient source of shape ``(out_channels, in_channels * kh * kw, n_basis)``; build
            one with :func:`kan_conv2d` / :func:`metakan_conv2d` rather than by hand.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, basis: BSplineBasis,
                 source: CoefficientSource, stride=1, padding=0, dilation=1, base_activation: str = "silu"):
        super().__init__()
        own = "KANConv2d"
        self.in_channels = positive_int("in_channels", in_channels, owner=own)
        self.out_channels = positive_int("out_channels", out_channels, owner=own)
        self.kernel_size = _pair("kernel_size", kernel_size, own)
        if min(self.kernel_size) < 1:
            raise ValueError(f"{own}: kernel_size must be >= 1, got {kernel_size!r}.")
        self.stride = _pair("stride", stride, own)
        if min(self.stride) < 1:
            raise ValueError(f"{own}: stride must be >= 1, got {stride!r}.")
        self.padding = _pair("padding", padding, own)
        self.dilation = _pair("dilation", dilation, own)
        if min(self.dilation) < 1:
            raise ValueError(f"{own}: dilation must be >= 1, got {dilation!r}.")
        self.patch_features = self.in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.kan = KANLayer(self.patch_features, self.out_channels, basis, source, base_activation)

    @property
    def source(self) -> CoefficientSource:
        return self.kan.source

    def output_size(self, h: int, w: int) -> tuple[int, int]:
        out = []
        for size, k, s, p, d in zip((h, w), self.kernel_size, self.stride, self.padding, self.dilation):
            out.append((size + 2 * p - d * (k - 1) - 1) // s + 1)
        return out[0], out[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"KANConv2d: x must have shape (N, {self.in_channels}, H, W), got {shape}.")
        n, _, h, w = x.shape
        ho, wo = self.output_size(h, w)
        if ho < 1 or wo < 1:
            raise ValueError(f"KANConv2d: input of spatial size {(h, w)} is smaller than the kernel "
                             f"{self.kernel_size} (dilation {self.dilation}, padding {self.padding}).")
        patches = F.unfold(x, self.kernel_size, dilation=self.dilation, padding=self.padding, stride=self.stride)
        z = self.kan(patches.transpose(1, 2).reshape(n * ho * wo, self.patch_features))
        return z.reshape(n, ho * wo, self.out_channels).transpose(1, 2).reshape(n, self.out_channels, ho, wo)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}, source={type(self.source).__name__}")


def kan_conv2d(in_channels: int, out_channels: int, kernel_size=3, *, stride=1, padding=0, dilation=1,
               grid_size: int = 5, spline_order: int = 3, grid_range=(-1.0, 1.0), init_scale: float = 0.1,
               generator: Optional[torch.Generator] = None, dtype=torch.float32, device=None) -> KANConv2d:
    """A convolutional KAN layer with dense coefficients: ``9 * in * out * (n_basis + 1)`` parameters (3x3)."""
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    kh, kw = _pair("kernel_size", kernel_size, "kan_conv2d")
    fan_in = positive_int("in_channels", in_channels, owner="kan_conv2d") * kh * kw
    src = DenseCoefficients(fan_in, out_channels, basis.n_basis, init_scale=init_scale, generator=generator,
                            dtype=resolve_dtype(dtype), device=device)
    return KANConv2d(in_channels, out_channels, (kh, kw), basis, src, stride, padding, dilation)


def metakan_conv2d(in_channels: int, out_channels: int, kernel_size=3, *, stride=1, padding=0, dilation=1,
                   grid_size: int = 5, spline_order: int = 3, grid_range=(-1.0, 1.0), embedding_dim: int = 1,
                   hyper_hidden: int = 16, hypernet: Optional[HyperNet] = None, init_scale: float = 0.1,
                   generator: Optional[torch.Generator] = None, dtype=torch.float32, device=None) -> KANConv2d:
    """A convolutional MetaKAN layer: one embedding per edge, coefficients from ``hypernet`` (shared if given)."""
    basis = BSplineBasis(grid_size, spline_order, grid_range)
    kh, kw = _pair("kernel_size", kernel_size, "metakan_conv2d")
    fan_in = positive_int("in_channels", in_channels, owner="metakan_conv2d") * kh * kw
    src = HyperCoefficients(fan_in, out_channels, basis.n_basis, embedding_dim=embedding_dim,
                            hyper_hidden=hyper_hidden, hypernet=hypernet, init_scale=init_scale,
                            generator=generator, dtype=resolve_dtype(dtype), device=device)
    return KANConv2d(in_channels, out_channels, (kh, kw), basis, src, stride, padding, dilation)


def cluster_by_width(widths: Sequence[int], n_clusters: int) -> list[int]:
    """Group layers by fan-in: the partition of the sorted ``log(width)`` values into ``n_clusters`` contiguous
    groups with the least within-group variance (exact 1-D k-means by dynamic programming).

    Returns the cluster index of each layer, in layer order; clusters are numbered by increasing width. With
    ``n_clusters >= len(widths)`` each layer is its own cluster; with 1 all share.
    """
    n_clusters = positive_int("n_clusters", n_clusters, owner="cluster_by_width")
    widths = [positive_int(f"widths[{i}]", w, owner="cluster_by_width") for i, w in enumerate(widths)]
    n = len(widths)
    k = min(n_clusters, n)
    order = sorted(range(n), key=lambda i: (widths[i], i))
    v = [math.log(widths[i]) for i in order]

    def cost(a: int, b: int) -> float:  # variance cost of sorted values a..b-1
        seg = v[a:b]
        m = sum(seg) / len(seg)
        return sum((t - m) ** 2 for t in seg)

    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(k + 1)]
    cut = [[0] * (n + 1) for _ in range(k + 1)]
    best[0][0] = 0.0
    for c in range(1, k + 1):
        for b in range(c, n + 1):
            for a in range(c - 1, b):
                val = best[c - 1][a] + cost(a, b)
                if val < best[c][b] - 1e-15:
                    best[c][b], cut[c][b] = val, a
    labels = [0] * n
    b = n
    for c in range(k, 0, -1):
        a = cut[c][b]
        for j in range(a, b):
            labels[order[j]] = c - 1
        b = a
    return labels


@dataclass(frozen=True)
class ConvPreset:
    """Architecture of a convolutional KAN classifier.

    Attributes:
        channels: output channels of each conv layer.
        strides: stride of each conv layer (same length as ``channels``).
        kernel_size, padding: of every conv layer (3 and 1: spatial size kept at stride 1).
        grid_size, spline_order, grid_range: B-spline basis of every edge.
        embedding_dim, hyper_hidden, n_hypernets: MetaKAN settings.
        norm: batch normalisation after each conv layer (keeps activations inside the grid range).
        dropout: dropout before the linear head.
    """

    channels: tuple[int, ...]
    strides: tuple[int, ...]
    kernel_size: int = 3
    padding: int = 1
    grid_size: int = 5
    spline_order: int = 3
    grid_range: tuple[float, float] = (-1.0, 1.0)
    embedding_dim: int = 1
    hyper_hidden: int = 16
    n_hypernets: int = 1
    norm: bool = True
    dropout: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        if len(self.channels) != len(self.strides) or not self.channels:
            raise ValueError(f"ConvPreset: channels and strides must be non-empty and of equal length, got "
                             f"{len(self.channels)} channels and {len(self.strides)} strides.")

    def replace(self, **changes) -> "ConvPreset":
        import dataclasses

        return dataclasses.replace(self, **changes)


#: the reference 4-layer network (CIFAR-10 MetaKAN 45.86% in its logs)
CONV4 = ConvPreset(channels=(32, 64, 128, 256), strides=(1, 2, 2, 1))
#: the reference 8-layer network (40.70M parameters as KAN, 4.53M as MetaKAN on CIFAR-10)
CONV8 = ConvPreset(channels=(16, 32, 64, 128, 256, 256, 512, 512), strides=(1, 2, 2, 1, 1, 2, 1, 1))
CONV_PRESETS = {"conv4": CONV4, "conv8": CONV8}


class ConvKANNet(nn.Module):
    """Conv KAN / MetaKAN layers -> (batch norm) -> global average pool -> dropout -> linear head.

    ``x: (N, C, H, W)`` with pixel values in ``input_range`` -> logits ``(N, n_classes)``. Inputs are mapped
    affinely from ``input_range`` onto the grid range first.

    Args:
        kind: ``"kan"`` (dense coefficients) or ``"metakan"`` (hypernetwork-generated).
        in_channels, n_classes: data shape.
        preset: a :class:`ConvPreset` (``CONV4``, ``CONV8``) or its name.
        input_range: range of the raw pixel values (``(0, 1)`` for the readers of :mod:`pde_kan.validation.images`).
        seed, dtype, device: initialisation seed (private generator), parameter dtype and device.
    """

    def __init__(self, kind: str, in_channels: int, n_classes: int, preset="conv4", input_range=(0.0, 1.0),
                 seed: int = 0, dtype=torch.float32, device=None):
        super().__init__()
        self.kind = choice("kind", kind, CONV_KINDS, owner="ConvKANNet")
        if isinstance(preset, str):
            preset = CONV_PRESETS[choice("preset", preset, CONV_PRESETS, owner="ConvKANNet")]
        self.preset = preset
        self.in_channels = positive_int("in_channels", in_channels, owner="ConvKANNet")
        self.n_classes = positive_int("n_classes", n_classes, owner="ConvKANNet")
        self.dtype = resolve_dtype(dtype)
        g = torch.Generator().manual_seed(int(seed))
        p = preset
        lo, hi = (float(v) for v in input_range)
        a, b = p.grid_range
        self.register_buffer("in_scale", torch.tensor((b - a) / (hi - lo), dtype=self.dtype), persistent=False)
        self.register_buffer("in_shift", torch.tensor(a - lo * (b - a) / (hi - lo), dtype=self.dtype),
                             persistent=False)
        ins = (self.in_channels,) + p.channels[:-1]
        fan_ins = [c * p.kernel_size * p.kernel_size for c in ins]
        common = dict(kernel_size=p.kernel_size, padding=p.padding, grid_size=p.grid_size,
                      spline_order=p.spline_order, grid_range=p.grid_range, generator=g, dtype=self.dtype,
                      device=device)
        self.hypernets = nn.ModuleList()
        self.hypernet_of_layer: list[int] = []
        if self.kind == "metakan":
            n_basis = p.grid_size + p.spline_order
            self.hypernet_of_layer = cluster_by_width(fan_ins, p.n_hypernets)
            for _ in range(max(self.hypernet_of_layer) + 1):
                self.hypernets.append(HyperNet(p.embedding_dim, p.hyper_hidden, n_basis + 1, generator=g,
                                               dtype=self.dtype, device=device))
        convs, norms = [], []
        for i, (cin, cout, s) in enumerate(zip(ins, p.channels, p.strides)):
            if self.kind == "kan":
                layer = kan_conv2d(cin, cout, stride=s, **common)
            else:
                layer = metakan_conv2d(cin, cout, stride=s, embedding_dim=p.embedding_dim,
                                       hypernet=self.hypernets[self.hypernet_of_layer[i]], **common)
            convs.append(layer)
            norms.append(nn.BatchNorm2d(cout, dtype=self.dtype, device=device) if p.norm else nn.Identity())
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.dropout = nn.Dropout(p.dropout)
        # skip_init: nn.Linear's own init would draw from the global RNG; the head is drawn from g below
        self.head = nn.utils.skip_init(nn.Linear, p.channels[-1], self.n_classes, dtype=self.dtype,
                                       device=torch.get_default_device() if device is None else device)
        with torch.no_grad():
            std = 1.0 / math.sqrt(p.channels[-1])
            self.head.weight.copy_(torch.randn(self.head.weight.shape, generator=g, dtype=self.dtype).to(device) * std)
            self.head.bias.zero_()

    @property
    def config(self) -> dict:
        import dataclasses

        return {"model": "conv_" + self.kind, "in_channels": self.in_channels, "n_classes": self.n_classes,
                "preset": dataclasses.asdict(self.preset), "dtype": str(self.dtype).replace("torch.", "")}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"ConvKANNet: x must have shape (N, {self.in_channels}, H, W), got {shape}.")
        x = x * self.in_scale + self.in_shift
        for conv, norm in zip(self.convs, self.norms):
            x = norm(conv(x))
        x = x.mean(dim=(2, 3))
        return self.head(self.dropout(x))

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """``"hypernet"`` and ``"embeddings"`` (MetaKAN) and ``"default"`` (dense coefficients, norms, head)."""
        return group_parameters(self)

    def n_parameters(self, trainable_only: bool = True) -> int:
        return n_parameters(self, trainable_only)

    def n_edges(self) -> int:
        """Edges (output channel, input channel, kernel offset) over all conv layers."""
        return sum(c.patch_features * c.out_channels for c in self.convs)


def conv_parameter_count(kind: str, in_channels: int, n_classes: int, preset="conv8") -> int:
    """Trainable parameters of ``ConvKANNet(kind, in_channels, n_classes, preset)`` in closed form (no
    allocation): edges ``E = sum_l 9 in_l out_l``; KAN ``E (n_basis + 1)``, MetaKAN ``E e + n_h P_H``; plus
    batch norms ``2 sum out_l`` and the head ``(C_last + 1) n_classes``."""
    kind = choice("kind", kind, CONV_KINDS, owner="conv_parameter_count")
    p = CONV_PRESETS[preset] if isinstance(preset, str) else preset
    ins = (in_channels,) + p.channels[:-1]
    fan_ins = [c * p.kernel_size ** 2 for c in ins]
    edges = sum(f * o for f, o in zip(fan_ins, p.channels))
    n_basis = p.grid_size + p.spline_order
    if kind == "kan":
        body = edges * (n_basis + 1)
    else:
        n_h = max(cluster_by_width(fan_ins, p.n_hypernets)) + 1
        hyper = (p.embedding_dim + 1) * p.hyper_hidden + (p.hyper_hidden + 1) * (n_basis + 1)
        body = edges * p.embedding_dim + n_h * hyper
    norms = 2 * sum(p.channels) if p.norm else 0
    return body + norms + (p.channels[-1] + 1) * n_classes
