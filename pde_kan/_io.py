"""Atomic file writes (private): every file pde_kan writes goes through :func:`atomic_write`.

A temporary file in the target directory, flushed and fsync'ed, then ``os.replace``: a crash mid-write leaves
the previous file intact and no partial file under the final name.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator


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
