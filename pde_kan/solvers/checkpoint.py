"""Checkpoints and atomic writes.

Every file pde_kan writes goes through :func:`atomic_write`: a temporary file in the target directory,
flushed and fsync'ed, then ``os.replace`` — a crash mid-write leaves the previous file intact and no partial
file under the final name. Checkpoints hold only tensors and plain containers, so
``torch.load(path, weights_only=True)`` reads them.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

CHECKPOINT_VERSION = 1


def _writable_dir(path: Path) -> Path:
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(f"cannot create directory {str(parent)!r} for {str(path)!r}: {e.strerror}; "
                      f"choose a writable path.") from None
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"directory {str(parent)!r} is not writable; choose a writable path for "
                              f"{str(path)!r}.")
    return parent


def _umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it is to set it; put it back at once
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it onto ``path``."""
    path = Path(path)
    parent = _writable_dir(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    try:  # mkstemp creates the file 0600; give it the mode open() would (0666 less the umask)
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        with contextlib.suppress(OSError):  # make the rename durable
            dfd = os.open(parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write(path, write: Callable[[Path], Any]) -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def save_checkpoint(path, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists, dicts) atomically with torch.save."""
    state = {"format_version": CHECKPOINT_VERSION, **state}
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path, map_location=None) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a missing or corrupt file raises naming the path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist; pass the path of a checkpoint "
                                f"written by pde_kan (e.g. runs/x/checkpoints/last.pt).")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated / foreign files
        detail = str(e).splitlines()[0] if str(e) else ""
        if "weights only load failed" in detail.lower():  # torch's advice (weights_only=False) would run pickled code
            detail = "not a tensors-only torch file"
        raise ValueError(f"checkpoint {str(path)!r} is corrupt or not a pde_kan checkpoint ({type(e).__name__}: "
                         f"{detail}); use an intact checkpoint.") from None
    if not isinstance(state, dict) or state.get("format_version") != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint {str(path)!r} is not a pde_kan checkpoint (format_version "
                         f"{state.get('format_version') if isinstance(state, dict) else None!r}, expected "
                         f"{CHECKPOINT_VERSION}).")
    return state
