"""MLP baseline."""
from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import choice
from .activations import Activation, get_activation
from .backbone import Backbone


#: MLP initialisations (see :class:`MLP`): the names the other backbones use for theirs
MLP_INITS = ("pde_kan", "reference")


class MLP(Backbone):
    """Fully connected network ``Linear -> act -> ... -> Linear``.

    ``x: (N, widths[0]) -> (N, widths[-1])``. Parameters: ``sum_l (in_l + 1) * out_l``. ``init``: ``"pde_kan"``
    (Glorot-normal weights, zero biases) or ``"reference"`` (``nn.Linear``'s own: weights and biases
    ``U(-1/sqrt(in), 1/sqrt(in))``, as the reference MetaKAN code's MLP), drawn from the private generator.
    """

    name = "mlp"
    recommended_lr = 3e-2

    def __init__(self, widths, activation="tanh", init="pde_kan", seed=0, dtype=torch.float64, device=None):
        super().__init__()
        get_activation(activation)
        init = choice("init", init, MLP_INITS, owner="MLP")
        self._setup(widths, dtype, dict(activation=activation, init=init, seed=seed))
        g = torch.Generator().manual_seed(int(seed))
        layers = []
        pairs = list(zip(self.widths[:-1], self.widths[1:]))
        for n, (i, o) in enumerate(pairs):
            # skip_init: nn.Linear's own init would draw from (and advance) the global RNG
            dev = torch.get_default_device() if device is None else device
            lin = nn.utils.skip_init(nn.Linear, i, o, dtype=self.dtype, device=dev)
            with torch.no_grad():
                if init == "reference":
                    bound = 1.0 / math.sqrt(i)
                    lin.weight.copy_((torch.rand(o, i, generator=g, dtype=self.dtype) * 2 - 1) * bound)
                    lin.bias.copy_((torch.rand(o, generator=g, dtype=self.dtype) * 2 - 1) * bound)
                else:
                    std = math.sqrt(2.0 / (i + o))
                    lin.weight.copy_(torch.randn(o, i, generator=g, dtype=self.dtype) * std)
                    lin.bias.zero_()
            layers.append(lin)
            if n < len(pairs) - 1:
                layers.append(Activation(activation))
        self.layers = nn.ModuleList(layers)
