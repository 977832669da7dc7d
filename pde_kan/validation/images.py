"""Image classification: data readers, fully connected and convolutional classifiers, presets, the suite.

Data never downloads. ``"digits"`` (scikit-learn's bundled 8x8 handwritten digits, 1797 images) is the
embedded default; MNIST, Fashion-MNIST and KMNIST are read from the standard IDX files and CIFAR-10 from its
python pickle batches in a directory the user gives:

============================  ==============================================================================
dataset                       files expected in ``data_dir`` (or its ``raw/`` / ``cifar-10-batches-py/``)
============================  ==============================================================================
``mnist``, ``fashion-mnist``, ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``kmnist``                    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each plain or ``.gz``)
``cifar10``                   ``data_batch_1`` .. ``data_batch_5``, ``test_batch``
============================  ==============================================================================

A missing, truncated, corrupt or mislabeled file raises :class:`DataFileError` naming the path and the files
expected. Images come back as float32 ``(N, C, H, W)`` in [0, 1] and labels as int64 ``(N,)``.

Classifiers map the pixel range onto the spline grid range before the first layer (inputs outside the grid
would only see the base branch). :data:`REFERENCE` reproduces the reference MetaKAN image settings.

Example::

    from pde_kan.validation.images import run_images
    report = run_images("digits", backbones=("kan", "metakan"), epochs=5)
    print(report.to_text())
"""
from __future__ import annotations

import dataclasses
import gzip
import io
import logging
import math
import pickle
import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from torch import nn

from .._checks import choice, lookup, positive_float, positive_int, resolve_dtype
from ..nn import get_backbone, n_parameters
from ..nn.hyper import BASE_WEIGHTS
from .conv import CONV_PRESETS, ConvKANNet
from .report import Report

log = logging.getLogger("pde_kan")


class DataFileError(ValueError):
    """A data file is missing, truncated, corrupt or holds something other than its name says."""


# --------------------------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImageData:
    """A classification data set.

    Attributes:
        name: data set name.
        x_train, x_test: float32 images ``(N, C, H, W)`` with values in [0, 1].
        y_train, y_test: int64 labels ``(N,)`` in ``0 .. n_classes - 1``.
        n_classes: number of classes.
        source: where it was read from (a directory, or ``"sklearn.datasets.load_digits"``).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    source: str = ""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.image_shape))

    def subset(self, max_train: Optional[int] = None, max_test: Optional[int] = None) -> "ImageData":
        """The first ``max_train`` / ``max_test`` examples (None keeps all)."""
        tr = slice(None) if max_train is None else slice(positive_int("max_train", max_train, owner="subset"))
        te = slice(None) if max_test is None else slice(positive_int("max_test", max_test, owner="subset"))
        return dataclasses.replace(self, x_train=self.x_train[tr], y_train=self.y_train[tr],
                                   x_test=self.x_test[te], y_test=self.y_test[te])


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """scikit-learn's bundled 8x8 digits (1797 images, 10 classes; no download), split at random.

    Pixel values 0..16 are divided by 16. The split is a permutation from a private generator seeded with
    ``seed``: ``round(test_fraction * 1797)`` test images (359 for 0.2), the rest for training.
    """
    from sklearn.datasets import load_digits as _sk_digits

    f = positive_float("test_fraction", test_fraction, owner="load_digits")
    if not f < 1:
        raise ValueError(f"load_digits: test_fraction must lie in (0, 1), got {test_fraction!r}.")
    d = _sk_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0, owner="load_digits"))
    perm = torch.randperm(x.shape[0], generator=g)
    n_test = int(round(f * x.shape[0]))
    te, tr = perm[:n_test], perm[n_test:]
    return ImageData("digits", x[tr], y[tr], x[te], y[te], 10, "sklearn.datasets.load_digits")


IDX_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
CIFAR10_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)


def _read_bytes(path: Path) -> bytes:
    """File contents, decompressed when the file is gzip (detected by its magic bytes, not its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found.") from None
    except OSError as e:
        raise DataFileError(f"{path}: cannot read ({e.strerror or e}).") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise DataFileError(f"{path}: truncated or corrupt gzip file ({e}); download it again.") from None
    return raw


def read_idx(path) -> np.ndarray:
    """Read one IDX file (plain or gzip) into an array of its declared type and shape.

    The header is two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B short, 0x0C int, 0x0D float,
    0x0E double), the number of dimensions and one big-endian uint32 per dimension; the body must hold exactly
    ``prod(dims)`` items. Anything else raises :class:`DataFileError` naming ``path``.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or raw[3] == 0:
        raise DataFileError(f"{path}: not an IDX file (magic bytes {raw[:4].hex() or 'missing'}; expected "
                            f"00 00 <type> <ndim>, e.g. 00000803 for images, 00000801 for labels).")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated IDX file: the header needs {header} bytes, the file has {len(raw)}.")
    dims = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = IDX_TYPES[raw[2]]
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        what = "truncated" if len(raw) < expected else "corrupt (trailing bytes)"
        raise DataFileError(f"{path}: {what} IDX file: the header declares shape {tuple(dims)} "
                            f"({expected} bytes) but the file has {len(raw)} bytes.")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find(directory: Path, names: Sequence[str], subdirs: Sequence[str], suffixes=("", ".gz")) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in names:
        for sub in ("",) + tuple(subdirs):
            for suf in suffixes:
                p = directory / sub / (name + suf) if sub else directory / (name + suf)
                if p.is_file():
                    found[name] = p
                    break
            if name in found:
                break
    return found


def _check_dir(data_dir, dataset: str, expected: str) -> Path:
    if data_dir is None:
        raise DataFileError(f"dataset {dataset!r} is read from local files and nothing is downloaded; pass "
                            f"data_dir=<directory holding {expected}>.")
    d = Path(data_dir)
    if not d.is_dir():
        raise DataFileError(f"{d}: not a directory; dataset {dataset!r} expects a directory holding {expected}.")
    return d


def load_idx_dataset(data_dir, name: str = "mnist", n_classes: int = 10) -> ImageData:
    """MNIST-format data (MNIST, Fashion-MNIST, KMNIST) from the four standard IDX files in ``data_dir``
    (or ``data_dir/raw``), each plain or ``.gz``.

    Raises:
        DataFileError: a file is missing, truncated or corrupt; an images file does not hold a 3-D ubyte array
            or a labels file a 1-D ubyte array (e.g. swapped names); image and label counts differ; a label is
            outside ``0 .. n_classes - 1``. The message names the path and the files expected.
    """
    expected = ", ".join(f"{n}[.gz]" for n in IDX_FILES.values())
    d = _check_dir(data_dir, name, expected)
    found = _find(d, list(IDX_FILES.values()), ("raw",))
    missing = [n for n in IDX_FILES.values() if n not in found]
    if missing:
        raise DataFileError(f"{d}: missing {', '.join(missing)} (plain or .gz); dataset {name!r} expects "
                            f"{expected} in this directory or its raw/ subdirectory.")

    def fail(path, msg):
        raise DataFileError(f"{path}: {msg}; dataset {name!r} expects {expected}.")

    arrays = {}
    for role, fname in IDX_FILES.items():
        path = found[fname]
        try:
            a = read_idx(path)
        except DataFileError as e:
            raise DataFileError(f"{e} Dataset {name!r} expects {expected}.") from None
        want_ndim = 3 if role.endswith("images") else 1
        if a.ndim != want_ndim or a.dtype != np.uint8:
            kind = "images (N, rows, cols)" if want_ndim == 3 else "labels (N,)"
            fail(path, f"mislabeled file: holds a {a.ndim}-D {a.dtype} array of shape {a.shape}, but {fname} must "
                       f"hold ubyte {kind} (are the file names swapped?)")
        arrays[role] = (a, path)
    out = {}
    for split in ("train", "test"):
        (xi, pi), (yl, pl) = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if xi.shape[0] != yl.shape[0]:
            fail(pl, f"mislabeled file: {yl.shape[0]} labels for the {xi.shape[0]} images of {pi}")
        if yl.size and int(yl.max()) >= n_classes:
            fail(pl, f"label {int(yl.max())} outside 0..{n_classes - 1}")
        out[split] = (torch.from_numpy(xi.astype(np.float32) / 255.0).unsqueeze(1),
                      torch.from_numpy(yl.astype(np.int64)))
    return ImageData(name, out["train"][0], out["train"][1], out["test"][0], out["test"][1], n_classes, str(d))


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a data file cannot run code on load."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name} (only numpy arrays are allowed)")


def _read_cifar_batch(path: Path, expected: str) -> tuple[np.ndarray, np.ndarray]:
    raw = _read_bytes(path)
    try:
        obj = _ArrayUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as e:  # noqa: BLE001 -- any unpickling failure means a corrupt file
        raise DataFileError(f"{path}: truncated or corrupt CIFAR-10 batch ({type(e).__name__}: {e}); expected a "
                            f"python pickle of {{'data': uint8 (N, 3072), 'labels': [N ints]}}; the directory "
                            f"must hold {expected}.") from None
    if not isinstance(obj, dict):
        raise DataFileError(f"{path}: a CIFAR-10 batch must unpickle to a dict, got {type(obj).__name__}; the "
                            f"directory must hold {expected}.")
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}
    if "data" not in d or "labels" not in d:
        raise DataFileError(f"{path}: a CIFAR-10 batch needs keys 'data' and 'labels', found "
                            f"{sorted(map(str, d))} (a CIFAR-100 file has 'fine_labels'); the directory must hold "
                            f"{expected}.")
    data = np.asarray(d["data"])
    labels = np.asarray(d["labels"])
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise DataFileError(f"{path}: 'data' must be a uint8 array (N, 3072) of 32x32 RGB images, got "
                            f"{data.dtype} {data.shape}; the directory must hold {expected}.")
    if labels.ndim != 1 or labels.shape[0] != data.shape[0]:
        raise DataFileError(f"{path}: mislabeled batch: {labels.shape[0] if labels.ndim == 1 else labels.shape} "
                            f"labels for {data.shape[0]} images; the directory must hold {expected}.")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) > 9):
        raise DataFileError(f"{path}: label values must lie in 0..9, found {int(labels.min())}..{int(labels.max())}; "
                            f"the directory must hold {expected}.")
    return data, labels.astype(np.int64)


def load_cifar10(data_dir) -> ImageData:
    """CIFAR-10 from its python batches ``data_batch_1`` .. ``data_batch_5`` and ``test_batch`` in ``data_dir``
    or ``data_dir/cifar-10-batches-py``. Pickles are loaded with an unpickler that admits numpy arrays only."""
    expected = ", ".join(CIFAR10_FILES)
    d = _check_dir(data_dir, "cifar10", expected)
    found = _find(d, CIFAR10_FILES, ("cifar-10-batches-py",), suffixes=("",))
    missing = [n for n in CIFAR10_FILES if n not in found]
    if missing:
        raise DataFileError(f"{d}: missing {', '.join(missing)}; dataset 'cifar10' expects {expected} (the python "
                            f"version) in this directory or its cifar-10-batches-py/ subdirectory.")
    parts = {n: _read_cifar_batch(found[n], expected) for n in CIFAR10_FILES}

    def stack(names):
        x = np.concatenate([parts[n][0] for n in names]).reshape(-1, 3, 32, 32)
        y = np.concatenate([parts[n][1] for n in names])
        return torch.from_numpy(x.astype(np.float32) / 255.0), torch.from_numpy(y)

    x_tr, y_tr = stack(CIFAR10_FILES[:5])
    x_te, y_te = stack(CIFAR10_FILES[5:])
    return ImageData("cifar10", x_tr, y_tr, x_te, y_te, 10, str(d))


DATASETS: dict[str, Callable[..., ImageData]] = {
    "digits": lambda data_dir=None, seed=0: load_digits(seed=seed),
    "mnist": lambda data_dir=None, seed=0: load_idx_dataset(data_dir, "mnist"),
    "fashion-mnist": lambda data_dir=None, seed=0: load_idx_dataset(data_dir, "fashion-mnist"),
    "kmnist": lambda data_dir=None, seed=0: load_idx_dataset(data_dir, "kmnist"),
    "cifar10": lambda data_dir=None, seed=0: load_cifar10(data_dir),
}


def available_datasets() -> list[str]:
    return list(DATASETS)


def load_dataset(name: str, data_dir=None, seed: int = 0, max_train: Optional[int] = None,
                 max_test: Optional[int] = None) -> ImageData:
    """Load a data set by name (``available_datasets()``); ``data_dir`` for all but ``"digits"``.

    ``max_train`` / ``max_test`` keep the first examples only (CPU-sized runs of the large sets).
    """
    data = lookup(DATASETS, "dataset", name)(data_dir=data_dir, seed=seed)
    return data.subset(max_train, max_test)


# --------------------------------------------------------------------------------------------------------------
# classifiers and presets
# --------------------------------------------------------------------------------------------------------------
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


class ImageClassifier(nn.Module):
    """Flatten ``(N, C, H, W)`` (or take ``(N, D)``), map pixel values from ``input_range`` onto the grid range,
    then a fully connected backbone -> logits ``(N, n_classes)``.

    The backbone's parameter groups (MetaKAN's ``"hypernet"`` / ``"embeddings"``) are exposed unchanged so a
    :class:`~pde_kan.solvers.TrainConfig` can give them their own learning rates.
    """

    def __init__(self, backbone: nn.Module, input_range=(0.0, 1.0), grid_range=(-1.0, 1.0)):
        super().__init__()
        self.backbone = backbone
        lo, hi = (float(v) for v in input_range)
        a, b = (float(v) for v in grid_range)
        dtype = getattr(backbone, "dtype", torch.float32)
        self.register_buffer("scale", torch.tensor((b - a) / (hi - lo), dtype=dtype), persistent=False)
        self.register_buffer("shift", torch.tensor(a - lo * (b - a) / (hi - lo), dtype=dtype), persistent=False)

    @property
    def config(self) -> dict:
        return {"model": "fc", "backbone": getattr(self.backbone, "config", None)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        return self.backbone(x * self.scale + self.shift)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        if hasattr(self.backbone, "param_groups"):
            return self.backbone.param_groups()
        return {"default": [p for p in self.parameters() if p.requires_grad]}

    def n_parameters(self, trainable_only: bool = True) -> int:
        return n_parameters(self, trainable_only)


FC_BACKBONES = ("kan", "metakan", "slimkan", "mlp")
CONV_BACKBONES = ("conv_kan", "conv_metakan")
IMAGE_BACKBONES = FC_BACKBONES + CONV_BACKBONES


def make_classifier(backbone: str, image_shape: Sequence[int], n_classes: int, preset: ImagePreset = REFERENCE,
                    seed: int = 0, dtype=torch.float32, device=None) -> nn.Module:
    """A classifier for images of ``image_shape = (C, H, W)``.

    ``backbone``: ``"kan"``, ``"metakan"``, ``"slimkan"``, ``"mlp"`` (fully connected on the flattened image,
    widths ``[C*H*W, *preset.hidden, n_classes]``) or ``"conv_kan"`` / ``"conv_metakan"``
    (:class:`~pde_kan.validation.conv.ConvKANNet` with ``preset.conv``).
    """
    choice("backbone", backbone, IMAGE_BACKBONES, owner="make_classifier")
    dtype = resolve_dtype(dtype)
    c, h, w = (int(v) for v in image_shape)
    p = preset
    if backbone in CONV_BACKBONES:
        conv = CONV_PRESETS[p.conv].replace(grid_size=p.grid_size, spline_order=p.spline_order,
                                            grid_range=p.grid_range, embedding_dim=p.embedding_dim)
        return ConvKANNet(backbone.split("_", 1)[1], c, n_classes, conv, seed=seed, dtype=dtype, device=device)
    widths = [c * h * w, *p.hidden, n_classes]
    spline = dict(grid_size=p.grid_size, spline_order=p.spline_order, grid_range=p.grid_range)
    kwargs: dict[str, Any] = {
        "kan": spline,
        "metakan": dict(spline, embedding_dim=p.embedding_dim, hyper_hidden=p.hyper_hidden,
                        share_hypernet=p.share_hypernet, base_weight=p.metakan_base_weight),
        "slimkan": dict(spline, ranks=p.slim_ranks),
        "mlp": dict(activation=p.mlp_activation),
    }[backbone]
    net = get_backbone(backbone, widths, seed=seed, dtype=dtype, device=device, **kwargs)
    return ImageClassifier(net, (0.0, 1.0), p.grid_range)


def train_config(preset: ImagePreset, n_train: int, backbone: str = "kan", seed: int = 0, dtype: str = "float32",
                 device: str = "auto", epochs: Optional[int] = None):
    """The :class:`~pde_kan.solvers.TrainConfig` of ``preset``: Adam, ``epochs * ceil(n_train / batch)`` steps,
    MetaKAN's hypernet / embedding learning rates as parameter groups."""
    from ..solvers import TrainConfig

    epochs = preset.epochs if epochs is None else positive_int("epochs", epochs, owner="train_config")
    per_epoch = math.ceil(positive_int("n_train", n_train, owner="train_config") / preset.batch_size)
    group_lr = {}
    if backbone in ("metakan", "conv_metakan"):
        group_lr = {"hypernet": preset.hypernet_lr, "embeddings": preset.embedding_lr}
    return TrainConfig(steps=epochs * per_epoch, optimizer="adam", lr=preset.lr, group_lr=group_lr,
                       schedule=preset.schedule, eval_every=preset.eval_every_epochs * per_epoch, seed=seed,
                       dtype=dtype, device=device)


def run_images(dataset: str = "digits", data_dir=None, backbones: Sequence[str] = FC_BACKBONES,
               preset: Any = None, epochs: Optional[int] = None, seed: int = 0,
               max_train: Optional[int] = None, max_test: Optional[int] = None, device: str = "auto",
               out=None, progress: bool = False,
               callbacks: Optional[Callable[[str], Sequence[Any]]] = None) -> Report:
    """Train each backbone on one data set with the one training loop and report accuracy and size.

    Args:
        dataset: a name from :func:`available_datasets`; ``data_dir`` holds its files (not for ``"digits"``).
        backbones: names from ``IMAGE_BACKBONES``.
        preset: an :class:`ImagePreset` or a name from ``PRESETS`` (``"reference"``, ``"digits"``); None takes
            ``"digits"`` for the digits and ``"reference"`` for every other data set.
        epochs: overrides ``preset.epochs``.
        max_train, max_test: keep only the first examples (CPU-sized runs of the large sets).
        out: directory to save the report in (CSV, HDF5, text, figure); nothing is written without it.
        progress: a tqdm bar per run.
        callbacks: ``name -> callbacks`` for each backbone's run.

    Returns:
        A :class:`Report` titled ``images/<dataset>`` with one row per backbone: ``test_accuracy``,
        ``train_accuracy``, ``params`` (trainable), ``params_ratio`` (to KAN's, when KAN is run), ``seconds``.
    """
    from ..solvers import SupervisedTask, fit

    if preset is None:
        preset = "digits" if dataset == "digits" else "reference"
    if isinstance(preset, str):
        preset = lookup(PRESETS, "image preset", preset)
    data = load_dataset(dataset, data_dir, seed=seed, max_train=max_train, max_test=max_test)
    for b in backbones:
        choice("backbone", b, IMAGE_BACKBONES, owner="run_images")
    report = Report(f"images/{dataset}", metadata={
        "dataset": dataset, "source": data.source, "n_train": int(data.x_train.shape[0]),
        "n_test": int(data.x_test.shape[0]), "preset": preset.to_dict(), "epochs": epochs or preset.epochs,
        "seed": seed, "reference_results": REFERENCE_RESULTS})
    for name in backbones:
        model = make_classifier(name, data.image_shape, data.n_classes, preset, seed=seed, dtype=torch.float32)
        config = train_config(preset, data.x_train.shape[0], name, seed=seed, device=device, epochs=epochs)
        conv = name in CONV_BACKBONES
        shape = (lambda t: t) if conv else (lambda t: t.reshape(t.shape[0], -1))
        task = SupervisedTask(shape(data.x_train), data.y_train, shape(data.x_test), data.y_test,
                              loss="cross_entropy", batch_size=preset.batch_size)
        start = time.perf_counter()
        cbs = list(callbacks(name)) if callbacks is not None else []
        if progress:
            from ..solvers import ProgressBar

            cbs.append(ProgressBar(desc=f"{dataset} {name}", metric="test_accuracy", leave=False))
        sol = fit(model, task, config, callbacks=cbs)
        seconds = time.perf_counter() - start
        report.add({"dataset": dataset, "backbone": name, "test_accuracy": sol.metrics["test_accuracy"],
                    "train_accuracy": sol.metrics["train_accuracy"], "params": model.n_parameters(),
                    "epochs": epochs or preset.epochs, "steps": int(sol.metrics["steps"]), "seconds": seconds})
        log.info("images/%s %s: test accuracy %.4f, %d parameters, %.1f s", dataset, name,
                 sol.metrics["test_accuracy"], model.n_parameters(), seconds)
    base = {conv: next((r["params"] for r in report.rows if r["backbone"] == ("conv_kan" if conv else "kan")), None)
            for conv in (False, True)}
    for r in report.rows:
        b = base[r["backbone"] in CONV_BACKBONES]
        if b:
            r["params_ratio"] = r["params"] / b
    if out is not None:
        report.save(out, x="params", y="test_accuracy")
    return report
