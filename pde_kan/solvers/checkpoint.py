"""Checkpoints: written atomically (:func:`pde_kan._io.atomic_write`), they hold only tensors and plain
containers, so ``torch.load(path, weights_only=True)`` reads them."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .._io import atomic_write

CHECKPOINT_VERSION = 1


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
