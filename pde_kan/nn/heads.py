"""``MixedHeads``: a multi-output backbone read through a linear mix of its outputs, ``(N, d) -> (N, 1)``.

A base pretrained on ``H`` coefficient sets of a PDE family at once has one output ("head") per set
(:func:`pde_kan.transfer.pretrain_family`). For a new set, a weighted sum of the heads is the starting point
(:func:`pde_kan.transfer.mix_heads` fits the ``H`` weights on the new problem's residual); LoTRA or any other
transfer method then adapts the mixed model like any backbone. The mix is the last entry of ``layers`` (an
``nn.Linear(H, 1, bias=False)``), so forward jets, LoTRA targets (the KAN layers before it) and results files work
unchanged.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Union

import torch
from torch import nn

from .._checks import dtype_name, resolve_dtype
from .backbone import Backbone


class MixedHeads(Backbone):
    """``x: (N, d) -> backbone(x) @ mix: (N, 1)`` for a backbone with ``H = out_features`` heads.

    The layers are the backbone's own modules (shared, not copied) plus the mix; the model has the backbone's
    ``recommended_lr`` and per-group rates. ``MixedHeads(base, mix=[0, 1, 0])`` reads head 1 alone.

    Args:
        backbone: a :class:`Backbone` with ``out_features >= 1``, or its ``config`` (rebuilt with fresh weights).
        mix: ``H`` weights (default: equal weights ``1/H``).
        device: where a backbone rebuilt from a config is put.
    """

    name = "heads"

    def __init__(self, backbone: Union[Backbone, dict], mix: Optional[Sequence[float]] = None, device=None):
        super().__init__()
        if isinstance(backbone, dict):
            from .registry import backbone_from_config  # the registry imports this module

            backbone = backbone_from_config(backbone, device=device)
        if not isinstance(backbone, Backbone) or isinstance(backbone, MixedHeads):
            raise TypeError(f"MixedHeads: backbone must be a pde_kan backbone with one output per head (not a "
                            f"MixedHeads), got {type(backbone).__name__}.")
        n_heads = backbone.out_features
        weights = torch.full((n_heads,), 1.0 / n_heads, dtype=torch.float64) if mix is None else \
            torch.as_tensor(mix, dtype=torch.float64).reshape(-1)
        if weights.numel() != n_heads or not bool(torch.isfinite(weights).all()):
            raise ValueError(f"MixedHeads: mix must be {n_heads} finite numbers (one per output of the backbone), "
                             f"got {list(weights.tolist())}.")
        self._setup([*backbone.widths, 1], backbone.dtype, {"heads": backbone.config})
        p = next(backbone.parameters(), None)
        head = nn.Linear(n_heads, 1, bias=False, dtype=backbone.dtype, device=None if p is None else p.device)
        with torch.no_grad():
            head.weight.copy_(weights.reshape(1, -1))
        self.layers = nn.ModuleList([*backbone.layers, head])
        self.recommended_lr = backbone.recommended_lr
        self._backbone_group_lr = backbone.group_lr

    @property
    def n_heads(self) -> int:
        return self.widths[-2]

    @property
    def mix(self) -> torch.Tensor:
        """The ``H`` mixing weights (a view of the last layer's weight)."""
        return self.layers[-1].weight[0]

    @property
    def config(self) -> dict[str, Any]:
        inner = dict(self._config["heads"], dtype=dtype_name(self.dtype))
        return {"backbone": self.name, "widths": list(self.widths), "heads": inner, "dtype": dtype_name(self.dtype)}

    @classmethod
    def from_config(cls, config: dict[str, Any], device=None) -> "MixedHeads":
        inner = dict(config["heads"])
        if "dtype" in config:
            inner["dtype"] = dtype_name(resolve_dtype(config["dtype"]))
        return cls(inner, device=device)

    def group_lr(self, lr: float) -> dict[str, float]:
        """The backbone's per-group rates (the mix trains in ``"default"`` at ``lr``)."""
        return self._backbone_group_lr(lr)
