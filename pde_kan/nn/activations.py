"""Elementwise activations with closed-form first and second derivatives (used by forward jets)."""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch

from .._checks import lookup


class ActivationDerivs(NamedTuple):
    """``f(z)``, ``f'(z)``, ``f''(z)``; each a function of a tensor."""

    f: Callable[[torch.Tensor], torch.Tensor]
    d1: Callable[[torch.Tensor], torch.Tensor]
    d2: Callable[[torch.Tensor], torch.Tensor]


def _silu_d1(z):
    s = torch.sigmoid(z)
    return s * (1 + z * (1 - s))


def _silu_d2(z):
    s = torch.sigmoid(z)
    return s * (1 - s) * (2 + z * (1 - 2 * s))


def _tanh_d1(z):
    t = torch.tanh(z)
    return 1 - t * t


def _tanh_d2(z):
    t = torch.tanh(z)
    return -2 * t * (1 - t * t)


def _sigmoid_d1(z):
    s = torch.sigmoid(z)
    return s * (1 - s)


def _sigmoid_d2(z):
    s = torch.sigmoid(z)
    return s * (1 - s) * (1 - 2 * s)


ACTIVATIONS: dict[str, ActivationDerivs] = {
    "silu": ActivationDerivs(torch.nn.functional.silu, _silu_d1, _silu_d2),
    "tanh": ActivationDerivs(torch.tanh, _tanh_d1, _tanh_d2),
    "sin": ActivationDerivs(torch.sin, torch.cos, lambda z: -torch.sin(z)),
    "sigmoid": ActivationDerivs(torch.sigmoid, _sigmoid_d1, _sigmoid_d2),
    "identity": ActivationDerivs(lambda z: z, torch.ones_like, torch.zeros_like),
}


def get_activation(name: str) -> ActivationDerivs:
    """Activation by name; unknown names raise ValueError listing the valid ones."""
    return lookup(ACTIVATIONS, "activation", name)


class Activation(torch.nn.Module):
    """An elementwise activation module whose derivatives a jet can use."""

    def __init__(self, name: str):
        super().__init__()
        self.name = name
        self.fns = get_activation(name)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fns.f(z)

    def extra_repr(self) -> str:
        return self.name
