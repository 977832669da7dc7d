"""Image data: :class:`ImageData`, the embedded digits, the IDX (MNIST-format) and CIFAR-10 readers, and
:func:`load_dataset` by name. Nothing downloads (see :mod:`pde_kan.validation.images`)."""
from __future__ import annotations

import dataclasses
import gzip
import io
import pickle
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from ..._checks import lookup, positive_float, positive_int


class DataFileError(ValueError):
    """A data file is missing, truncated, corrupt or holds something other than its name says."""


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
