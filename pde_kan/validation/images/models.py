"""Image classifiers and their settings: :class:`ImagePreset` (:data:`REFERENCE`, :data:`DIGITS`), the fully
connected :class:`ImageClassifier`, :func:`make_classifier` (fully connected or convolutional) and
:func:`train_config`."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import torch
from torch import nn

from ..._checks import choice, positive_float, positive_int, resolve_dtype
from ...nn import Backbone, BackboneWrapper
from ...nn.conv import CONV_PRESETS, ConvKANNet
from ...nn.hyper import BASE_WEIGHTS
from ..suite import build_backbone


@dataclass(frozen=True)
class ImagePreset:
    """Model and optimisation settings of an image-classification run.

    The defaults (:data:`REFERENCE`) are the reference MetaKAN settings: B-splines G=5, k=3; hidden width 32;
    MetaKAN embedding size 1 with two learning rates (hypernetwork 1e-4, embeddings 1e-3); batch 128; 50 epochs
    of Adam.

    Attributes:
        hidden: hidden widths of the fully connected classifiers.
        grid_size, spline_order, grid_range: B-spline basis.
        embedding_dim, hyper_hidden, share_hypernet, metakan_base_weight: MetaKAN (``base_weight``: see
            docs/metakan.md).
        slim_ranks: Slim KAN Tucker ranks ``(r_out, r_in, r_basis)`` (clipped per layer).
        mlp_activation: MLP activation.
        batch_size, epochs: an epoch is ``ceil(n_train / batch_size)`` steps of batches drawn from the run's
            generator.
        lr: Adam learning rate of every group not named below.
        hypernet_lr, embedding_lr: MetaKAN's two groups.
        schedule: learning-rate schedule (``"constant"``, ``"cosine"``, ``"exponential"``).
        eval_every_epochs: evaluate every this many epochs (0: only at the end).
        conv: conv preset for the ``conv_kan`` / ``conv_metakan`` backbones (``"conv4"``, ``"conv8"``).
    """

    hidden: tuple[int, ...] = (32,)
    grid_size: int = 5
    spline_order: int = 3
    grid_range: tuple[float, float] = (-1.0, 1.0)
    embedding_dim: int = 1
    hyper_hidden: int = 32
    share_hypernet: bool = False
    metakan_base_weight: str = "generated"
    slim_ranks: tuple[int, int, int] = (16, 32, 4)
    mlp_activation: str = "silu"
    batch_size: int = 128
    epochs: int = 50
    lr: float = 1e-3
    hypernet_lr: float = 1e-4
    embedding_lr: float = 1e-3
    schedule: str = "constant"
    eval_every_epochs: int = 0
    conv: str = "conv4"

    def __post_init__(self):
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "grid_range", tuple(float(v) for v in self.grid_range))
        object.__setattr__(self, "slim_ranks", tuple(int(r) for r in self.slim_ranks))
        own = "ImagePreset"
        positive_int("batch_size", self.batch_size, owner=own)
        positive_int("epochs", self.epochs, owner=own)
        for n in ("lr", "hypernet_lr", "embedding_lr"):
            positive_float(n, getattr(self, n), owner=own)
        choice("conv", self.conv, CONV_PRESETS, owner=own)
        choice("metakan_base_weight", self.metakan_base_weight, BASE_WEIGHTS, owner=own)

    def backbone_settings(self) -> dict:
        """The model settings as one flat mapping of backbone keywords (see
        :func:`~pde_kan.validation.suite.backbone_kwargs`)."""
        return dict(grid_size=self.grid_size, spline_order=self.spline_order, grid_range=self.grid_range,
                    embedding_dim=self.embedding_dim, hyper_hidden=self.hyper_hidden,
                    share_hypernet=self.share_hypernet, base_weight=self.metakan_base_weight, ranks=self.slim_ranks,
                    activation=self.mlp_activation)

    def replace(self, **changes) -> "ImagePreset":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: the reference MetaKAN image-classification settings
REFERENCE = ImagePreset()
#: settings that reach >= 97% test accuracy on the bundled digits on a CPU in seconds (see benchmarks/images.py)
DIGITS = ImagePreset(hidden=(64,), epochs=60, batch_size=64, lr=3e-3, hypernet_lr=1e-3, embedding_lr=1e-2,
                     schedule="cosine", slim_ranks=(16, 16, 4))
PRESETS = {"reference": REFERENCE, "digits": DIGITS}

#: published numbers from the reference MetaKAN logs, quoted in reports for comparison
REFERENCE_RESULTS = {
    "fashion-mnist (hidden 32, 10 epochs)": {"kan": {"accuracy": 0.8706, "params": 254080},
                                             "metakan": {"accuracy": "0.8599-0.8665", "params": "~26k"}},
    "kmnist": {"kan": {"accuracy": 0.7957}, "metakan": {"accuracy": 0.8202}},
    "cifar10 conv4": {"metakan": {"accuracy": 0.4586}},
    "cifar10 conv8 parameters": {"kan": "40.70M", "metakan": "4.53M"},
}


class ImageClassifier(BackboneWrapper, nn.Module):
    """Flatten ``(N, C, H, W)`` (or take ``(N, D)``), map pixel values from ``input_range`` onto the grid range,
    then a fully connected backbone -> logits ``(N, n_classes)``.

    The backbone interface (parameter groups such as MetaKAN's ``"hypernet"`` / ``"embeddings"``, so a
    :class:`~pde_kan.solvers.TrainConfig` can give them their own learning rates; the parameter count; ...) is
    forwarded to the backbone by :class:`~pde_kan.nn.BackboneWrapper`.
    """

    def __init__(self, backbone: Backbone, input_range=(0.0, 1.0), grid_range=(-1.0, 1.0)):
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(f"ImageClassifier: backbone must be a pde_kan.nn.Backbone (e.g. from get_backbone), got "
                            f"{type(backbone).__name__}.")
        self.backbone = backbone
        lo, hi = (float(v) for v in input_range)
        a, b = (float(v) for v in grid_range)
        dtype = backbone.dtype
        self.register_buffer("scale", torch.tensor((b - a) / (hi - lo), dtype=dtype), persistent=False)
        self.register_buffer("shift", torch.tensor(a - lo * (b - a) / (hi - lo), dtype=dtype), persistent=False)

    @property
    def config(self) -> dict:
        return {"model": "fc", "backbone": self.backbone.config}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.backbone(x * self.scale + self.shift)


FC_BACKBONES = ("kan", "metakan", "slimkan", "mlp")
CONV_BACKBONES = ("conv_kan", "conv_metakan")
IMAGE_BACKBONES = FC_BACKBONES + CONV_BACKBONES


def make_classifier(backbone: str, image_shape: Sequence[int], n_classes: int, preset: ImagePreset = REFERENCE,
                    seed: int = 0, dtype=torch.float32, device=None) -> nn.Module:
    """A classifier for images of ``image_shape = (C, H, W)``.

    ``backbone``: ``"kan"``, ``"metakan"``, ``"slimkan"``, ``"mlp"`` (fully connected on the flattened image,
    widths ``[C*H*W, *preset.hidden, n_classes]``) or ``"conv_kan"`` / ``"conv_metakan"``
    (:class:`~pde_kan.nn.ConvKANNet` with ``preset.conv``).
    """
    choice("backbone", backbone, IMAGE_BACKBONES, owner="make_classifier")
    dtype = resolve_dtype(dtype)
    c, h, w = (int(v) for v in image_shape)
    p = preset
    if backbone in CONV_BACKBONES:
        conv = CONV_PRESETS[p.conv].replace(grid_size=p.grid_size, spline_order=p.spline_order,
                                            grid_range=p.grid_range, embedding_dim=p.embedding_dim)
        return ConvKANNet(backbone.split("_", 1)[1], c, n_classes, conv, seed=seed, dtype=dtype, device=device)
    net = build_backbone(backbone, [c * h * w, *p.hidden, n_classes],
                         dict(p.backbone_settings(), seed=seed, dtype=dtype, device=device))
    return ImageClassifier(net, (0.0, 1.0), p.grid_range)


def train_config(preset: ImagePreset, n_train: int, backbone: str = "kan", seed: int = 0, dtype: str = "float32",
                 device: str = "auto", epochs: Optional[int] = None):
    """The :class:`~pde_kan.solvers.TrainConfig` of ``preset``: Adam, ``epochs * ceil(n_train / batch)`` steps,
    MetaKAN's hypernet / embedding learning rates as parameter groups."""
    from ...solvers import TrainConfig

    epochs = preset.epochs if epochs is None else positive_int("epochs", epochs, owner="train_config")
    per_epoch = math.ceil(positive_int("n_train", n_train, owner="train_config") / preset.batch_size)
    group_lr = {}
    if backbone in ("metakan", "conv_metakan"):
        group_lr = {"hypernet": preset.hypernet_lr, "embeddings": preset.embedding_lr}
    return TrainConfig(steps=epochs * per_epoch, optimizer="adam", lr=preset.lr, group_lr=group_lr,
                       schedule=preset.schedule, eval_every=preset.eval_every_epochs * per_epoch, seed=seed,
                       dtype=dtype, device=device)
