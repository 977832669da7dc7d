"""LoTRA adapters on disk: :func:`save_adapter` writes the adapter alone (tensors + config + a hash of the base
weights), :func:`load_adapter` puts it back on the same base; and the results-file loader that lets
:func:`pde_kan.solvers.load_solution` rebuild LoTRA-adapted runs (registered when ``pde_kan.transfer`` is
imported).

An adapter directory holds ``adapter.pt`` (the tensors packed into one, :func:`pack_tensors`) and
``adapter_config.json`` (format, :class:`LoTRAConfig`, base config, base-weights hash, tensors hash, ranks).
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_write
from ..nn import backbone_from_config
from ..solvers.results import register_model_loader
from .config import LoTRAConfig

ADAPTER_FORMAT = "pde_kan.lotra_adapter"
ADAPTER_VERSION = 2  # 2: the tensors flattened into one (small adapters were mostly per-tensor file overhead)
CONFIG_FILE = "adapter_config.json"
TENSORS_FILE = "adapter.pt"


def weights_hash(model: nn.Module) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of ``model.state_dict()`` (device independent)."""
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        v = v.detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def pack_tensors(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """``{"layout": [[name, shape], ...], "flat": 1-D tensor}``: one tensor in the file instead of one per entry
    (``torch.save`` spends about half a kilobyte per tensor, which dominates an adapter of a small model)."""
    layout = [[name, list(t.shape)] for name, t in state.items()]
    dtypes = {t.dtype for t in state.values()}
    if len(dtypes) > 1:
        raise ValueError(f"pack_tensors: adapter tensors must share one dtype, got {sorted(map(str, dtypes))}.")
    flat = torch.cat([t.reshape(-1) for t in state.values()]) if state else torch.zeros(0)
    return {"layout": layout, "flat": flat}


def unpack_tensors(packed: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Inverse of :func:`pack_tensors`."""
    out, offset = {}, 0
    for name, shape in packed["layout"]:
        size = math.prod(shape)
        out[name] = packed["flat"][offset:offset + size].reshape(shape).clone()
        offset += size
    return out


def save_adapter(model, path) -> Path:
    """Write ``model``'s adapter (a :class:`~pde_kan.transfer.LoTRAModel`) alone into directory ``path``,
    each file atomically. Returns ``path``."""
    path = Path(path)
    state = model.adapter_state()
    tensors = path / TENSORS_FILE
    packed = pack_tensors(state)
    atomic_write(tensors, lambda tmp: torch.save(packed, tmp))
    meta = {"format": ADAPTER_FORMAT, "format_version": ADAPTER_VERSION, "lotra": model.lotra_config.to_dict(),
            "base_config": model.base_model.config, "base_hash": model.base_hash,
            "tensors_sha256": hashlib.sha256(tensors.read_bytes()).hexdigest(),
            "layers": {n: list(r) for n, r in model.layer_ranks.items()}}
    atomic_write(path / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
    return path


def read_adapter(path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(meta, tensors)`` of an adapter directory; missing, foreign or altered files raise naming the path."""
    path = Path(path)
    cfg, tensors = path / CONFIG_FILE, path / TENSORS_FILE
    for f in (cfg, tensors):
        if not f.is_file():
            raise FileNotFoundError(f"LoTRA adapter {str(path)!r}: {f.name} is missing; pass a directory written by "
                                    f"LoTRAModel.save_adapter.")
    try:
        meta = json.loads(cfg.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"LoTRA adapter {str(path)!r}: {CONFIG_FILE} is not valid JSON ({e}).") from None
    if not isinstance(meta, dict) or meta.get("format") != ADAPTER_FORMAT:
        raise ValueError(f"LoTRA adapter {str(path)!r}: {CONFIG_FILE} is not a pde_kan LoTRA adapter (format "
                         f"{meta.get('format') if isinstance(meta, dict) else None!r}, expected {ADAPTER_FORMAT!r}).")
    if hashlib.sha256(tensors.read_bytes()).hexdigest() != meta.get("tensors_sha256"):
        raise ValueError(f"LoTRA adapter {str(path)!r}: {TENSORS_FILE} does not match the hash in {CONFIG_FILE} "
                         f"(altered or from another save); save the adapter again.")
    state = torch.load(tensors, map_location="cpu", weights_only=True)
    return meta, unpack_tensors(state) if meta.get("format_version", 1) >= 2 else state


def load_adapter(model: nn.Module, path):
    """Put a saved adapter back on its base model.

    Args:
        model: the base backbone the adapter was trained on (it is adapted in place), or a
            :class:`~pde_kan.transfer.LoTRAModel` injected on it with the same config.
        path: directory written by :meth:`LoTRAModel.save_adapter`.

    Returns:
        The :class:`~pde_kan.transfer.LoTRAModel` carrying the adapter.

    Raises:
        ValueError: the base weights differ from the ones the adapter was trained on (hash mismatch), or the
            adapter does not fit the model.
    """
    from .model import LoTRAModel, inject_lotra

    meta, state = read_adapter(path)
    if isinstance(model, LoTRAModel):
        found, adapted = model.base_hash, model
    else:
        found, adapted = weights_hash(model), None
    if found != meta["base_hash"]:
        raise ValueError(f"load_adapter: the adapter in {str(path)!r} was trained on different base weights (base "
                         f"hash {meta['base_hash'][:12]}..., this model {found[:12]}...); load it onto the base "
                         f"model it was saved from (same checkpoint, dtype and architecture).")
    if adapted is None:
        adapted = inject_lotra(model, LoTRAConfig.from_dict(meta["lotra"]))
    adapted.load_adapter_state(state)
    return adapted


def _build_lotra_model(model_config: dict, device=None) -> nn.Module:
    """The empty LoTRA-adapted model a results file describes: its base backbone rebuilt from the stored config,
    the adapter injected with the stored :class:`LoTRAConfig` (the file's weights are loaded afterwards)."""
    from .model import inject_lotra

    base = backbone_from_config(model_config["base"], device=device)
    return inject_lotra(base, LoTRAConfig.from_dict(model_config["lotra"]))


register_model_loader("lotra", _build_lotra_model)
