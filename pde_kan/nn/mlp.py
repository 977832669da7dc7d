"""MLP baseline."""
from __future__ import annotations

import math

import torch
from torch import nn

from .activations import Activation, get_activation
from .backbone import Backbone


class MLP(Backbone):
    """Fully connected network ``Linear -> act -> ... -> Linear``; Glorot-normal weights, zero biases.

    ``x: (N, widths[0]) -> (N, widths[-1])``. Parameters: ``sum_l (in_l + 1) * out_l``.
    """

    name = "mlp"
    recommended_lr = 3e-2

    def __init__(self, widths, activation="tanh", seed=0, dtype=torch.float64, device=None):
        super().__init__()
        get_activation(activation)
        self._setup(widths, dtype, dict(activation=activation, seed=seed))
        g = torch.Generator().manual_seed(int(seed))
        layers = []
        pairs = list(zip(self.widths[:-1], self.widths[1:]))
        for n, (i, o) in enumerate(pairs):
            # skip_init: nn.Linear's own init would draw from (and advance) the global RNG
            dev = torch.get_default_device() if device is None else device
            lin = nn.utils.skip_init(nn.Linear, i, o, dtype=self.dtype, device=dev)
            with torch.no_grad():
                std = math.sqrt(2.0 / (i + o))
                lin.weight.copy_(torch.randn(o, i, generator=g, dtype=self.dtype) * std)
                lin.bias.zero_()
            layers.append(lin)
            if n < len(pairs) - 1:
                layers.append(Activation(activation))
        self.layers = nn.ModuleList(layers)
