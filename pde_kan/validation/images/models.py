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
from ...nn.hyper import BASE_WEIGHTS, HYPER_ACTIVATIONS, HYPER_INITS
from ...solvers.config import SCHEDULES
from ..suite import build_backbone


#: how the fully connected classifiers normalise pixel values (see :class:`ImagePreset`)
INPUT_NORMS = ("standardize", "grid")


@dataclass(frozen=True)
class ImagePreset:
    """Model and optimisation settings of an image-classification run.

    The defaults (:data:`REFERENCE`) are the reference MetaKAN code's fully connected recipe (its README command
    for ``image_classification/train_meta.py`` and that script's defaults; docs/metakan.md): B-splines G=5, k=3 on
    [-1, 1]; hidden width 32; MetaKAN with scalar embeddings, an affine hypernet of width 32 (``MetaNet``: two
    linear layers, no activation) and the reference initialisation (Xavier-normal embeddings and hypernet, zero
    biases, no output scale); pixels standardised with the training set's mean and standard deviation
    (``transforms.Normalize``); AdamW on the hypernet (lr 1e-4, weight decay 1e-4) and on the embeddings (lr 1e-3,
    weight decay 5e-4); the hypernet's rate on in odd epochs and 0 in even ones (the reference's ``"cos"`` schedule);
    batch 128; 50 epochs.

    Attributes:
        hidden: hidden widths of the fully connected classifiers.
        grid_size, spline_order, grid_range: B-spline basis.
        embedding_dim, hyper_hidden, share_hypernet, metakan_base_weight: MetaKAN (``base_weight``: see
            docs/metakan.md).
        hyper_activation, metakan_init: MetaKAN's hypernet activation (``"identity"``: affine, as the reference
            image code; ``"relu"``) and initialisation (``"reference"`` or ``"pde_kan"``; see
            :class:`~pde_kan.nn.MetaKAN`).
        input_norm: how the fully connected classifiers see pixel values in [0, 1]: ``"standardize"`` (minus the
            training set's per-channel mean, divided by its standard deviation, as the reference code) or
            ``"grid"`` (mapped linearly onto ``grid_range``). The convolutional backbones take the pixels as
            they are.
        slim_ranks: Slim KAN Tucker ranks ``(r_out, r_in, r_basis)`` (clipped per layer).
        mlp_activation: MLP activation.
        batch_size, epochs: an epoch is ``ceil(n_train / batch_size)`` steps of batches drawn from the run's
            generator.
        optimizer: ``"adam"`` or ``"adamw"``.
        lr, weight_decay: learning rate and weight decay of every group not named below.
        hypernet_lr, embedding_lr, hypernet_weight_decay, embedding_weight_decay: MetaKAN's two groups.
        schedule: learning-rate schedule (``"constant"``, ``"cosine"``, ``"exponential"``).
        hypernet_schedule: MetaKAN's hypernet schedule when it differs from ``schedule`` (None: the same).
            ``"alternating"`` is the reference script's: its default ``"cos"`` is ``CosineAnnealingLR(T_max=-1)``
            on the hypernet optimiser, stepped once per epoch, which trains the hypernet at its full rate in the
            1st, 3rd, 5th, ... epoch and at 0 in the others (embeddings: constant).
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
    hyper_activation: str = "identity"
    metakan_init: str = "reference"
    input_norm: str = "standardize"
    slim_ranks: tuple[int, int, int] = (16, 32, 4)
    mlp_activation: str = "silu"
    batch_size: int = 128
    epochs: int = 50
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    hypernet_lr: float = 1e-4
    embedding_lr: float = 1e-3
    hypernet_weight_decay: float = 1e-4
    embedding_weight_decay: float = 5e-4
    schedule: str = "constant"
    hypernet_schedule: Optional[str] = "alternating"
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
        choice("hyper_activation", self.hyper_activation, HYPER_ACTIVATIONS, owner=own)
        choice("metakan_init", self.metakan_init, HYPER_INITS, owner=own)
        choice("input_norm", self.input_norm, INPUT_NORMS, owner=own)
        choice("optimizer", self.optimizer, ("adam", "adamw"), owner=own)
        choice("schedule", self.schedule, SCHEDULES, owner=own)
        if self.hypernet_schedule is not None:
            choice("hypernet_schedule", self.hypernet_schedule, SCHEDULES, owner=own)
        for n in ("weight_decay", "hypernet_weight_decay", "embedding_weight_decay"):
            positive_float(n, getattr(self, n), owner=own, allow_zero=True)

    def backbone_settings(self, backbone: str = "metakan") -> dict:
        """The model settings of ``backbone`` as one flat mapping of backbone keywords (see
        :func:`~pde_kan.validation.suite.backbone_kwargs`). ``metakan_init`` is MetaKAN's alone: the other
        backbones keep their own default initialisation (KAN and MLP have reference options of their own, for the
        reference's PDE scripts)."""
        return dict(grid_size=self.grid_size, spline_order=self.spline_order, grid_range=self.grid_range,
                    embedding_dim=self.embedding_dim, hyper_hidden=self.hyper_hidden,
                    share_hypernet=self.share_hypernet, base_weight=self.metakan_base_weight,
                    hyper_activation=self.hyper_activation, ranks=self.slim_ranks, activation=self.mlp_activation,
                    **({"init": self.metakan_init} if backbone == "metakan" else {}))

    def replace(self, **changes) -> "ImagePreset":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


#: the reference MetaKAN image-classification settings (docs/metakan.md, "Reproducing the reference runs")
REFERENCE = ImagePreset()
#: settings that reach >= 97% test accuracy on the bundled digits on a CPU in seconds (see benchmarks/images.py);
#: pde_kan's MetaKAN (ReLU hypernet, variance-matched init), pixels mapped onto the grid, Adam without decay
DIGITS = ImagePreset(hidden=(64,), epochs=60, batch_size=64, lr=3e-3, hypernet_lr=1e-3, embedding_lr=1e-2,
                     schedule="cosine", slim_ranks=(16, 16, 4), hyper_activation="relu", metakan_init="pde_kan",
                     input_norm="grid", optimizer="adam", hypernet_weight_decay=0.0, embedding_weight_decay=0.0,
                     hypernet_schedule=None)
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
    """Flatten ``(N, C, H, W)`` (or take ``(N, C*H*W)``), normalise the pixel values, then a fully connected
    backbone -> logits ``(N, n_classes)``.

    Normalisation: with ``input_stats=(mean, std)`` (per channel, or one number each) every pixel becomes
    ``(x - mean_c) / std_c`` (the reference code's ``transforms.Normalize``; ``image_shape`` gives the channel
    layout of the flattened input); without, values are mapped linearly from ``input_range`` onto
    ``grid_range``.

    The backbone interface (parameter groups such as MetaKAN's ``"hypernet"`` / ``"embeddings"``, so a
    :class:`~pde_kan.solvers.TrainConfig` can give them their own learning rates; the parameter count; ...) is
    forwarded to the backbone by :class:`~pde_kan.nn.BackboneWrapper`.
    """

    def __init__(self, backbone: Backbone, input_range=(0.0, 1.0), grid_range=(-1.0, 1.0), input_stats=None,
                 image_shape: Optional[Sequence[int]] = None):
        super().__init__()
        if not isinstance(backbone, Backbone):
            raise TypeError(f"ImageClassifier: backbone must be a pde_kan.nn.Backbone (e.g. from get_backbone), got "
                            f"{type(backbone).__name__}.")
        self.backbone = backbone
        dtype = backbone.dtype
        if input_stats is None:
            lo, hi = (float(v) for v in input_range)
            a, b = (float(v) for v in grid_range)
            scale = torch.tensor((b - a) / (hi - lo), dtype=dtype)
            shift = torch.tensor(a - lo * (b - a) / (hi - lo), dtype=dtype)
        else:
            mean, std = (torch.as_tensor(v, dtype=dtype).reshape(-1) for v in input_stats)
            if mean.shape != std.shape or not bool((std > 0).all()):
                raise ValueError(f"ImageClassifier: input_stats must be (mean, std) with one positive std per mean, "
                                 f"got {input_stats!r}.")
            scale, shift = 1.0 / std, -mean / std
            if scale.numel() > 1:
                if image_shape is None or int(image_shape[0]) != scale.numel():
                    raise ValueError(f"ImageClassifier: {scale.numel()} per-channel input_stats need image_shape "
                                     f"(C, H, W) with C = {scale.numel()}, got {image_shape!r}.")
                per_channel = int(image_shape[1]) * int(image_shape[2])
                scale, shift = scale.repeat_interleave(per_channel), shift.repeat_interleave(per_channel)
            else:
                scale, shift = scale.reshape(()), shift.reshape(())
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)

    @property
    def config(self) -> dict:
        return {"model": "fc", "backbone": self.backbone.config}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.backbone(x * self.scale + self.shift)


FC_BACKBONES = ("kan", "metakan", "slimkan", "mlp")
CONV_BACKBONES = ("conv_kan", "conv_metakan")
IMAGE_BACKBONES = FC_BACKBONES + CONV_BACKBONES


def input_stats(x_train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of training images ``(N, C, H, W)`` (the constants the reference
    code's ``transforms.Normalize`` uses for each data set), as two ``(C,)`` tensors."""
    flat = x_train.transpose(0, 1).reshape(x_train.shape[1], -1)
    return flat.mean(dim=1), flat.std(dim=1)


def make_classifier(backbone: str, image_shape: Sequence[int], n_classes: int, preset: ImagePreset = REFERENCE,
                    seed: int = 0, dtype=torch.float32, device=None, stats=None) -> nn.Module:
    """A classifier for images of ``image_shape = (C, H, W)``.

    ``backbone``: ``"kan"``, ``"metakan"``, ``"slimkan"``, ``"mlp"`` (fully connected on the flattened image,
    widths ``[C*H*W, *preset.hidden, n_classes]``) or ``"conv_kan"`` / ``"conv_metakan"``
    (:class:`~pde_kan.nn.ConvKANNet` with ``preset.conv``).

    ``stats``: the training images' ``(mean, std)`` per channel (:func:`input_stats`), which the fully connected
    classifiers need when ``preset.input_norm == "standardize"``.
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
                         dict(p.backbone_settings(backbone), seed=seed, dtype=dtype, device=device))
    if p.input_norm == "standardize":
        if stats is None:
            raise ValueError("make_classifier: preset.input_norm='standardize' needs stats=(mean, std) of the "
                             "training images (input_stats(x_train)).")
        return ImageClassifier(net, input_stats=stats, image_shape=(c, h, w))
    return ImageClassifier(net, (0.0, 1.0), p.grid_range)


def train_config(preset: ImagePreset, n_train: int, backbone: str = "kan", seed: int = 0, dtype: str = "float32",
                 device: str = "auto", epochs: Optional[int] = None):
    """The :class:`~pde_kan.solvers.TrainConfig` of ``preset``: its optimiser (Adam or AdamW), ``epochs *
    ceil(n_train / batch)`` steps, MetaKAN's hypernet / embedding learning rates and weight decays as parameter
    groups."""
    from ...solvers import TrainConfig

    epochs = preset.epochs if epochs is None else positive_int("epochs", epochs, owner="train_config")
    per_epoch = math.ceil(positive_int("n_train", n_train, owner="train_config") / preset.batch_size)
    group_lr, group_wd, group_schedule = {}, {}, {}
    if backbone in ("metakan", "conv_metakan"):
        group_lr = {"hypernet": preset.hypernet_lr, "embeddings": preset.embedding_lr}
        group_wd = {"hypernet": preset.hypernet_weight_decay, "embeddings": preset.embedding_weight_decay}
        if preset.hypernet_schedule is not None:
            group_schedule = {"hypernet": preset.hypernet_schedule}
    return TrainConfig(steps=epochs * per_epoch, optimizer=preset.optimizer, lr=preset.lr, group_lr=group_lr,
                       weight_decay=preset.weight_decay, group_weight_decay=group_wd, schedule=preset.schedule,
                       group_schedule=group_schedule, schedule_period=per_epoch,
                       eval_every=preset.eval_every_epochs * per_epoch, seed=seed, dtype=dtype, device=device)
