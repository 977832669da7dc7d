"""Backbone registry: ``get_backbone(name, **kw)``, ``available_backbones()``, ``backbone_from_config``."""
from __future__ import annotations

from typing import Any

from .._checks import lookup
from .backbone import Backbone
from .heads import MixedHeads
from .kan import KAN
from .metakan import MetaKAN
from .mlp import MLP
from .slimkan import SlimKAN

BACKBONES: dict[str, type[Backbone]] = {"kan": KAN, "metakan": MetaKAN, "slimkan": SlimKAN, "mlp": MLP}
#: models built around another backbone (not from widths): rebuilt from a config only
COMPOSITES: dict[str, type[Backbone]] = {"heads": MixedHeads}


def available_backbones() -> list[str]:
    return sorted(BACKBONES)


def get_backbone(name: str, widths, **kwargs: Any) -> Backbone:
    """Build a backbone by name, e.g. ``get_backbone("metakan", [10, 64, 1], hyper_hidden=16)``."""
    return lookup(BACKBONES, "backbone", name)(widths, **kwargs)


def backbone_from_config(config: dict[str, Any], device=None) -> Backbone:
    """Rebuild a backbone from its ``config`` (a dict with a ``"backbone"`` key)."""
    if not isinstance(config, dict) or "backbone" not in config:
        raise ValueError(f"backbone config must be a dict with a 'backbone' key, got {config!r}.")
    return lookup({**BACKBONES, **COMPOSITES}, "backbone", config["backbone"]).from_config(config, device=device)
